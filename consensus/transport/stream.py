"""A framed connection: frames in and out of an asyncio stream pair."""
from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque

from .frames import HEADER_SIZE, FrameDecoder, FrameKind, frame_header

_READ_SIZE = 256 << 10


class FramedStream:
    """Reads whole frames (limit ``max_frame``, changeable once the handshake
    is done) and writes frames. Not safe for two concurrent readers; writes
    are synchronous and may be followed by :meth:`drain` for backpressure."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, max_frame: int) -> None:
        self._reader = reader
        self._writer = writer
        self._decoder = FrameDecoder(max_frame)
        self._frames: deque[tuple[FrameKind, memoryview]] = deque()
        sock = writer.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            # Latency over throughput: a small batch goes out at once (no Nagle).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        peer = writer.get_extra_info("peername")
        self.peername = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) else str(peer)

    @property
    def max_frame(self) -> int:
        return self._decoder.max_frame

    @max_frame.setter
    def max_frame(self, value: int) -> None:
        self._decoder.max_frame = value

    async def read_frame(self) -> tuple[FrameKind, memoryview]:
        """The next frame. Raises ``ConnectionError`` at end of stream and
        ``FrameError`` for a frame breaking the framing rules."""
        while not self._frames:
            data = await self._reader.read(_READ_SIZE)
            if not data:
                raise ConnectionResetError(f"connection closed by {self.peername}")
            self._frames.extend(self._decoder.feed(data))
        return self._frames.popleft()

    def write_frame(self, kind: FrameKind, body: bytes) -> int:
        """Queue one frame for writing; returns its size on the wire."""
        self._writer.writelines((frame_header(kind, len(body), self.max_frame), body))
        return HEADER_SIZE + len(body)

    def write_raw(self, parts: list[bytes]) -> None:
        """Queue bytes already framed by the caller."""
        self._writer.writelines(parts)

    async def drain(self) -> None:
        await self._writer.drain()

    def abort(self) -> None:
        """Close now, discarding unsent bytes (the connection is being given up)."""
        self._writer.transport.abort()

    async def aclose(self) -> None:
        self._writer.close()
        with contextlib.suppress(Exception):
            await self._writer.wait_closed()
