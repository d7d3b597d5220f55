"""Streaming a SNAP message as chunks, and reassembling it.

A snapshot can be far larger than a frame, and sending it in one piece would
hold every heartbeat to that follower behind it (long enough to start an
election, Raft thesis 3.10 / 5.1 on keeping the leader's heartbeats flowing).
So the sender cuts ``snapshot.data`` into chunks and sends one chunk per write,
interleaved with the ordinary message batches to the same peer.

Body of a ``SNAPSHOT_CHUNK`` frame (msgpack)::

    [stream_id, offset, total_size, crc32, header, data]

``header`` is the SNAP message encoded by ``codec.encode_message`` with empty
snapshot data; it is present in the first chunk (offset 0) and nil in the
others. ``crc32`` covers the whole snapshot data. The receiver delivers the
SNAP message once the last byte has arrived and the checksum matches. A chunk
of a new stream, or a first chunk, discards any unfinished stream from the same
connection (the sender replaced it). Body of ``SNAPSHOT_ACK``:
``[stream_id, ok]``.

Ordering: the SNAP message is delivered after every message the sender queued
before it; messages queued after it may arrive before it (Raft does not mind:
the leader only sends heartbeats to a follower it is snapshotting).
"""
from __future__ import annotations

import dataclasses
import zlib

import msgpack

from consensus.raft.messages import Message, MessageType, Snapshot

from .codec import CodecError, decode_message, encode_message

DEFAULT_CHUNK_SIZE = 256 << 10
DEFAULT_MAX_SNAPSHOT = 8 << 30


class SnapshotStreamError(ValueError):
    """Chunks that do not form a valid snapshot stream (a gap, a size or
    checksum mismatch, a malformed chunk): the connection is broken."""


def snapshot_header(message: Message) -> bytes:
    """The SNAP message with its data left out, encoded."""
    if message.type != MessageType.SNAP or message.snapshot is None:
        raise ValueError(f"not a snapshot message: {message.type.name}")
    bare = dataclasses.replace(message, snapshot=Snapshot(message.snapshot.metadata, b""))
    return encode_message(bare)


class SnapshotSender:
    """Cuts one SNAP message into chunk bodies; :meth:`next_chunk` returns
    them in order, ``None`` after the last one. The data is not copied
    beyond one chunk at a time."""

    def __init__(self, message: Message, stream_id: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 header: bytes | None = None) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        self.message = message
        self.stream_id = stream_id
        self._header = header if header is not None else snapshot_header(message)
        assert message.snapshot is not None
        self._data = memoryview(message.snapshot.data)
        self._crc = zlib.crc32(self._data)
        self._chunk_size = chunk_size
        self._offset = 0
        self._started = False

    @property
    def total(self) -> int:
        return len(self._data)

    @property
    def done(self) -> bool:
        """True once the last chunk has been handed out."""
        return self._started and self._offset >= len(self._data)

    def next_chunk(self) -> bytes | None:
        if self.done:
            return None
        start = self._offset
        end = min(start + self._chunk_size, len(self._data))
        header = None if self._started else self._header
        self._started = True
        self._offset = end
        return msgpack.packb(
            (self.stream_id, start, len(self._data), self._crc, header, self._data[start:end]),
            use_bin_type=True,
        )


def encode_ack(stream_id: int, ok: bool) -> bytes:
    return msgpack.packb((stream_id, ok))


def decode_ack(body: bytes | memoryview) -> tuple[int, bool]:
    try:
        stream_id, ok = msgpack.unpackb(body, use_list=False)
    except Exception as exc:
        raise SnapshotStreamError(f"malformed snapshot ack: {exc}") from None
    if type(stream_id) is not int or type(ok) is not bool:
        raise SnapshotStreamError("malformed snapshot ack")
    return stream_id, ok


class SnapshotAssembler:
    """Receiver side for one connection: :meth:`feed` takes chunk bodies and
    returns ``(stream_id, message)`` when a snapshot is complete, else None.
    ``max_snapshot`` bounds the declared size of a snapshot (and so the
    memory one peer can make this side hold)."""

    def __init__(self, max_snapshot: int = DEFAULT_MAX_SNAPSHOT) -> None:
        self.max_snapshot = max_snapshot
        self._stream_id: int | None = None
        self._header: Message | None = None
        self._total = 0
        self._crc = 0
        self._data = bytearray()

    @property
    def in_progress(self) -> bool:
        return self._stream_id is not None

    def feed(self, body: bytes | memoryview) -> tuple[int, Message] | None:
        try:
            item = msgpack.unpackb(body, raw=False, use_list=False)
        except Exception as exc:
            raise SnapshotStreamError(f"malformed snapshot chunk: {exc}") from None
        if type(item) is not tuple or len(item) != 6:
            raise SnapshotStreamError("malformed snapshot chunk")
        stream_id, offset, total, crc, header, data = item
        if not all(type(v) is int and v >= 0 for v in (stream_id, offset, total, crc)) or type(data) is not bytes:
            raise SnapshotStreamError("malformed snapshot chunk")
        if offset == 0:
            self._start(stream_id, total, crc, header)
        elif stream_id != self._stream_id:
            self._reset()
            raise SnapshotStreamError(f"chunk at offset {offset} of snapshot stream {stream_id}, which never started")
        elif offset != len(self._data) or total != self._total or crc != self._crc:
            self._reset()
            raise SnapshotStreamError(f"snapshot stream {stream_id}: chunk at offset {offset} does not follow")
        elif header is not None:
            raise SnapshotStreamError("snapshot header in a chunk other than the first")
        if len(self._data) + len(data) > total:
            self._reset()
            raise SnapshotStreamError(f"snapshot stream {stream_id} overruns its declared size {total}")
        self._data += data
        if len(self._data) < total:
            return None
        return stream_id, self._finish()

    def _start(self, stream_id: int, total: int, crc: int, header: object) -> None:
        self._reset()  # a first chunk replaces any unfinished stream
        if total > self.max_snapshot:
            raise SnapshotStreamError(f"snapshot of {total} bytes exceeds the limit of {self.max_snapshot}")
        if type(header) is not bytes:
            raise SnapshotStreamError("first snapshot chunk without a header")
        try:
            message = decode_message(header)
        except CodecError as exc:
            raise SnapshotStreamError(f"bad snapshot header: {exc}") from None
        if message.type != MessageType.SNAP or message.snapshot is None or message.snapshot.data:
            raise SnapshotStreamError("snapshot header is not a SNAP message without data")
        self._stream_id, self._header, self._total, self._crc = stream_id, message, total, crc

    def _finish(self) -> Message:
        data = bytes(self._data)
        header, crc = self._header, self._crc
        self._reset()
        if zlib.crc32(data) != crc:
            raise SnapshotStreamError("snapshot checksum mismatch")
        assert header is not None and header.snapshot is not None
        return dataclasses.replace(header, snapshot=Snapshot(header.snapshot.metadata, data))

    def _reset(self) -> None:
        self._stream_id = None
        self._header = None
        self._total = 0
        self._crc = 0
        self._data = bytearray()
