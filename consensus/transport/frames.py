"""Framing of the peer byte stream.

Every frame is::

    offset  size  field
    0       4     length n of what follows, big endian (kind byte + body)
    4       1     kind (see :class:`FrameKind`)
    5       n-1   body

A receiver refuses a length above its limit as soon as it has read the four
length bytes, before allocating anything: before the handshake completes the
limit is :data:`HANDSHAKE_MAX_FRAME` (so an unauthenticated client cannot make
the listener buffer megabytes), afterwards the transport's ``max_frame_bytes``
(both sides must use the same value; the default is :data:`DEFAULT_MAX_FRAME`).

Frames carry no checksum: TCP's is what the stream has, as in etcd's rafthttp.
A snapshot stream carries a CRC32 of the whole snapshot (``snapshot_stream``).

Which frame goes which way on a connection (the dialer writes Raft traffic, the
listener only answers):

``HANDSHAKE``       both ways, only until the handshake is done (``handshake``)
``MESSAGES``        dialer -> listener: a batch of Raft messages (``codec``)
``SNAPSHOT_CHUNK``  dialer -> listener: a piece of a streamed snapshot
``SNAPSHOT_ACK``    listener -> dialer: a streamed snapshot was delivered (or not)
``PING``            dialer -> listener: ``[ping_id]``, answered at once by
``PONG``            listener -> dialer: ``[ping_id]``; gives the round-trip time
"""
from __future__ import annotations

import enum
import struct

_LENGTH = struct.Struct(">I")
LENGTH_SIZE = _LENGTH.size  # 4
HEADER = struct.Struct(">IB")
HEADER_SIZE = HEADER.size  # 5
MAX_LENGTH = 0xFFFFFFFF
DEFAULT_MAX_FRAME = 16 << 20
HANDSHAKE_MAX_FRAME = 1024


class FrameKind(enum.IntEnum):
    HANDSHAKE = 1
    MESSAGES = 2
    SNAPSHOT_CHUNK = 3
    SNAPSHOT_ACK = 4
    PING = 5
    PONG = 6


class FrameError(ValueError):
    """The byte stream does not follow the framing (length over the limit, an
    empty frame, an unknown kind, or a frame not allowed in this direction or
    state). The stream cannot be resynchronised: the connection is closed."""


def frame_header(kind: FrameKind, body_size: int, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """The five header bytes of a frame whose body is ``body_size`` bytes.
    Raises :class:`FrameError` if the frame would exceed ``max_frame``."""
    length = body_size + 1
    if length > max_frame:
        raise FrameError(f"{FrameKind(kind).name} frame of {length} bytes exceeds the limit of {max_frame}")
    return HEADER.pack(length, kind)


def encode_frame(kind: FrameKind, body: bytes, max_frame: int = DEFAULT_MAX_FRAME) -> bytes:
    """One whole frame. Raises :class:`FrameError` if it exceeds ``max_frame``."""
    return frame_header(kind, len(body), max_frame) + body


def parse_length(prefix: bytes, max_frame: int) -> int:
    """The length announced by four prefix bytes. Raises :class:`FrameError`
    if it is zero (a frame has at least its kind byte) or above ``max_frame``."""
    (length,) = _LENGTH.unpack(prefix)
    if length == 0:
        raise FrameError("empty frame (a frame holds at least its kind byte)")
    if length > max_frame:
        raise FrameError(f"frame of {length} bytes exceeds the limit of {max_frame}")
    return length


def split_frame(data: bytes) -> tuple[FrameKind, memoryview]:
    """Split the ``length`` bytes after the prefix into kind and body.
    Raises :class:`FrameError` for an unknown kind."""
    try:
        kind = FrameKind(data[0])
    except ValueError:
        raise FrameError(f"unknown frame kind {data[0]}") from None
    return kind, memoryview(data)[1:]


class FrameDecoder:
    """Incremental decoder: feed it bytes as they arrive, take whole frames.

    Sans-I/O, so the limits can be tested without sockets; ``stream.py``
    feeds it whatever each socket read returned.
    """

    def __init__(self, max_frame: int = DEFAULT_MAX_FRAME) -> None:
        self.max_frame = max_frame
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[tuple[FrameKind, memoryview]]:
        """Add ``data``; return every frame now complete, in order, as (kind,
        read-only view of the body). Raises :class:`FrameError` as soon as a
        bad length or kind is seen; the decoder is useless afterwards."""
        buffer = self._buffer
        buffer += data
        frames: list[tuple[FrameKind, memoryview]] = []
        while len(buffer) >= LENGTH_SIZE:
            length = parse_length(bytes(buffer[:LENGTH_SIZE]), self.max_frame)
            if len(buffer) < LENGTH_SIZE + length:
                break
            kind, body = split_frame(bytes(buffer[LENGTH_SIZE : LENGTH_SIZE + length]))
            frames.append((kind, body))
            del buffer[: LENGTH_SIZE + length]
        return frames

    @property
    def buffered(self) -> int:
        """Bytes received that do not yet make a whole frame."""
        return len(self._buffer)
