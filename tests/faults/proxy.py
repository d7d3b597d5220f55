"""A TCP proxy between cluster members that the test controls, for partitions.

Every member advertises a proxy port (``--advertise-peer``) instead of its
real peer listener, so every peer connection to member B passes through B's
proxy. The proxy reads the first frame of each connection, the transport's
HELLO, which names the dialer and the member it wants (``frames`` +
``handshake``), so it knows which directed link (A -> B) a connection
carries. ``block(a, b)`` cuts that link: open connections on it are closed
and new ones are closed as soon as their HELLO is read. Raft traffic flows
only from dialer to listener (the listener just acknowledges), so blocking
both A -> B and B -> A separates two members completely.

It runs on its own event loop in a background thread of the test process.
"""
from __future__ import annotations

import asyncio
import threading

import msgpack

from consensus.transport.discovery import is_discover
from consensus.transport.frames import HEADER, FrameKind


class FaultProxy:
    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fault-proxy", daemon=True)
        self._thread.start()
        self._servers: list[asyncio.base_events.Server] = []
        self._blocked: set[tuple[int, int]] = set()
        self._links: dict[tuple[int, int], set[asyncio.StreamWriter]] = {}
        self._lock = threading.Lock()

    # -- control (from the test's thread) ------------------------------------------

    def listen(self, port: int, target_port: int) -> None:
        """Forward connections on 127.0.0.1:port to 127.0.0.1:target_port."""
        future = asyncio.run_coroutine_threadsafe(self._listen(port, target_port), self._loop)
        future.result(timeout=10)

    def block(self, src: int, dst: int) -> None:
        with self._lock:
            self._blocked.add((src, dst))
        asyncio.run_coroutine_threadsafe(self._cut(src, dst), self._loop).result(timeout=10)

    def isolate(self, member: int, others: list[int]) -> None:
        for other in others:
            if other != member:
                self.block(member, other)
                self.block(other, member)

    def heal(self) -> None:
        with self._lock:
            self._blocked.clear()

    def close(self) -> None:
        async def shutdown():
            for server in self._servers:
                server.close()
            for writers in self._links.values():
                for writer in writers:
                    writer.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)

    # -- the proxy (on its loop) ---------------------------------------------------------

    def _is_blocked(self, link: tuple[int, int]) -> bool:
        with self._lock:
            return link in self._blocked

    async def _listen(self, port: int, target_port: int) -> None:
        server = await asyncio.start_server(
            lambda r, w: self._serve(r, w, target_port), "127.0.0.1", port, reuse_address=True,
        )
        self._servers.append(server)

    async def _cut(self, src: int, dst: int) -> None:
        for writer in list(self._links.get((src, dst), ())):
            writer.transport.abort()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target_port: int) -> None:
        upstream_writer = None
        link = None
        try:
            header = await reader.readexactly(HEADER.size)
            length, kind = HEADER.unpack(header)
            body = await reader.readexactly(length - 1)
            link = _link_of(kind, body)
            if link is None and _is_discovery(kind, body):
                link = (0, 0)  # a joining member asking for its ID: never blocked
            if link is None or self._is_blocked(link):
                writer.transport.abort()
                return
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", target_port)
            self._links.setdefault(link, set()).update((writer, upstream_writer))
            upstream_writer.write(header + body)
            await asyncio.gather(
                self._pipe(reader, upstream_writer, link), self._pipe(upstream_reader, writer, link),
            )
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            pass
        finally:
            for w in (writer, upstream_writer):
                if w is not None:
                    w.transport.abort()
                    if link is not None:
                        self._links.get(link, set()).discard(w)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link) -> None:
        try:
            while True:
                data = await reader.read(65536)
                if not data or self._is_blocked(link):
                    break
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


def _is_discovery(kind: int, body: bytes) -> bool:
    return kind == FrameKind.HANDSHAKE and is_discover(body)


def _link_of(kind: int, body: bytes) -> tuple[int, int] | None:
    """(dialer id, listener id) from a HELLO frame; None for anything else."""
    if kind != FrameKind.HANDSHAKE:
        return None
    try:
        item = msgpack.unpackb(body, raw=False)
    except Exception:
        return None
    if not isinstance(item, (list, tuple)) or len(item) < 5 or item[0] != "hello":
        return None
    return int(item[3]), int(item[4])
