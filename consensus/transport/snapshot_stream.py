"""Streaming a SNAP message as chunks, and reassembling it.

A snapshot can be far larger than a frame, and sending it in one piece would
hold every heartbeat to that follower behind it (long enough to start an
election, Raft thesis 3.10 / 5.1 on keeping the leader's heartbeats flowing).
So the sender cuts the snapshot's payload into chunks and sends one chunk per
write, interleaved with the ordinary message batches to the same peer.

The payload is the snapshot's payload file when the snapshot's data is a
reference to one (the runtime's snapshots, ``consensus/storage/snapshot_payloads``;
the transport reaches them only through ``SnapshotPayloads``):
read from that file a chunk at a time and written, on the receiving member,
into a new payload file a chunk at a time, so neither side holds more than a
chunk of it in memory; the message delivered carries the reference, and its
payload file is durable before it is delivered. Otherwise (a snapshot whose
data is inline) the payload is the data itself, reassembled in memory.

Body of a ``SNAPSHOT_CHUNK`` frame (msgpack)::

    [stream_id, offset, total_size, crc32, header, data]

``header`` is the SNAP message encoded by ``codec.encode_message`` with its
snapshot data left empty, or holding the reference for a payload file (whose
size and CRC must then be ``total_size`` and ``crc32``); it is present in the
first chunk (offset 0) and nil in the others. ``crc32`` covers the whole
payload. The receiver delivers the SNAP message once the last byte has
arrived and the checksum matches. A chunk
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
from pathlib import Path
from typing import BinaryIO, Protocol

import msgpack

from consensus.raft.messages import Message, MessageType, Snapshot

from .codec import CodecError, decode_message, encode_message

DEFAULT_CHUNK_SIZE = 256 << 10
DEFAULT_MAX_SNAPSHOT = 8 << 30


class PayloadSink(Protocol):
    """A payload file being received."""

    crc: int  # CRC32 of what was written so far

    def write(self, data: bytes) -> None: ...

    def finish(self, term: int, index: int) -> object:
        """Durable under the name of snapshot (term, index); blocking."""

    def abort(self) -> None:
        """Drop what was written; idempotent, a no-op after ``finish``."""


class SnapshotPayloads(Protocol):
    """Where a member's snapshot payload files are (its durable storage)."""

    def payload_file(self, snapshot: Snapshot) -> tuple[Path, int, int] | None:
        """(path, size, CRC32) of ``snapshot``'s payload file; None if its
        data is inline."""

    def payload_reference(self, data: bytes) -> tuple[int, int] | None:
        """(size, CRC32) of the payload a snapshot's ``data`` refers to;
        None if ``data`` is not a reference."""

    def payload_writer(self) -> PayloadSink: ...


class SnapshotStreamError(ValueError):
    """Chunks that do not form a valid snapshot stream (a gap, a size or
    checksum mismatch, a malformed chunk): the connection is broken."""


def snapshot_header(message: Message, payloads: SnapshotPayloads | None = None) -> bytes:
    """The SNAP message without its payload, encoded: a payload reference
    stays (it is a few bytes), inline data is left out."""
    if message.type != MessageType.SNAP or message.snapshot is None:
        raise ValueError(f"not a snapshot message: {message.type.name}")
    if payloads is not None and payloads.payload_reference(message.snapshot.data) is not None:
        return encode_message(message)
    bare = dataclasses.replace(message, snapshot=Snapshot(message.snapshot.metadata, b""))
    return encode_message(bare)


class SnapshotSender:
    """Cuts one SNAP message's payload into chunk bodies; :meth:`next_chunk`
    returns them in order, ``None`` after the last one. ``payload_file``:
    (path, size, CRC32) of the snapshot's payload file (``SnapshotPayloads``),
    opened here (so a newer snapshot pruning it cannot cut the stream) and
    read a chunk at a time; raises OSError if it cannot be opened. Without
    it the snapshot's data is the payload, not copied beyond one chunk at a
    time either. :meth:`close` when done or dropped."""

    def __init__(self, message: Message, stream_id: int, chunk_size: int = DEFAULT_CHUNK_SIZE,
                 header: bytes | None = None, payload_file: tuple[Path, int, int] | None = None) -> None:
        if chunk_size <= 0:
            raise ValueError("chunk_size must be positive")
        assert message.snapshot is not None
        self.message = message
        self.stream_id = stream_id
        self._header = header if header is not None else snapshot_header(message)
        self._file: BinaryIO | None = None
        if payload_file is not None:
            path, self.total, self._crc = payload_file
            self._file = open(path, "rb")
            self._data = memoryview(b"")
        else:
            self._data = memoryview(message.snapshot.data)
            self.total, self._crc = len(self._data), zlib.crc32(self._data)
        self._chunk_size = chunk_size
        self._offset = 0
        self._started = False

    @property
    def done(self) -> bool:
        """True once the last chunk has been handed out."""
        return self._started and self._offset >= self.total

    def next_chunk(self) -> bytes | None:
        """The next chunk body; raises OSError if the payload file cannot
        be read or is shorter than its reference says."""
        if self.done:
            return None
        start = self._offset
        end = min(start + self._chunk_size, self.total)
        if self._file is not None:
            piece: bytes | memoryview = self._file.read(end - start)
            if len(piece) != end - start:
                raise OSError(f"snapshot payload ended at {start + len(piece)} of {self.total} bytes")
        else:
            piece = self._data[start:end]
        header = None if self._started else self._header
        self._started = True
        self._offset = end
        if self.done:
            self.close()
        return msgpack.packb((self.stream_id, start, self.total, self._crc, header, piece), use_bin_type=True)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


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
    returns ``(stream_id, finish)`` when the last chunk of a snapshot has
    arrived, else None; ``finish()`` (blocking: it fsyncs a payload file,
    so call it off the event loop) checks the checksum and returns the SNAP
    message to deliver, or raises SnapshotStreamError. ``payloads`` makes
    the payload file a referenced snapshot is written into; without it
    such snapshots are refused. ``max_snapshot`` bounds the declared size
    of a snapshot (the disk, or for inline data the memory, one peer can
    make this side use). :meth:`close` drops a stream left unfinished."""

    def __init__(self, max_snapshot: int = DEFAULT_MAX_SNAPSHOT,
                 payloads: SnapshotPayloads | None = None) -> None:
        self.max_snapshot = max_snapshot
        self._payloads = payloads
        self._stream_id: int | None = None
        self._header: Message | None = None
        self._total = 0
        self._crc = 0
        self._received = 0
        self._data = bytearray()
        self._payload: PayloadSink | None = None

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
        elif offset != self._received or total != self._total or crc != self._crc:
            self._reset()
            raise SnapshotStreamError(f"snapshot stream {stream_id}: chunk at offset {offset} does not follow")
        elif header is not None:
            self._reset()
            raise SnapshotStreamError("snapshot header in a chunk other than the first")
        if self._received + len(data) > total:
            self._reset()
            raise SnapshotStreamError(f"snapshot stream {stream_id} overruns its declared size {total}")
        if self._payload is not None:
            try:
                self._payload.write(data)
            except OSError as exc:
                self._reset()
                raise SnapshotStreamError(f"cannot write the snapshot payload: {exc}") from None
        else:
            self._data += data
        self._received += len(data)
        if self._received < total:
            return None
        header, payload, crc, inline = self._header, self._payload, self._crc, bytes(self._data)
        self._stream_id, self._header, self._payload, self._data = None, None, None, bytearray()
        self._received = self._total = self._crc = 0
        assert header is not None and header.snapshot is not None
        return stream_id, lambda: _finish(header, payload, crc, inline)

    def close(self) -> None:
        self._reset()

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
        if message.type != MessageType.SNAP or message.snapshot is None:
            raise SnapshotStreamError("snapshot header is not a SNAP message")
        if message.snapshot.data:
            if self._payloads is None:
                raise SnapshotStreamError("this member takes no snapshot payload files")
            ref = self._payloads.payload_reference(message.snapshot.data)
            if ref is None:
                raise SnapshotStreamError("snapshot header holds data that is not a payload reference")
            if ref != (total, crc):
                raise SnapshotStreamError("snapshot header's payload reference does not match the stream")
            try:
                self._payload = self._payloads.payload_writer()
            except OSError as exc:
                raise SnapshotStreamError(f"cannot create a snapshot payload file: {exc}") from None
        self._stream_id, self._header, self._total, self._crc = stream_id, message, total, crc

    def _reset(self) -> None:
        if self._payload is not None:
            self._payload.abort()
        self._payload = None
        self._stream_id = None
        self._header = None
        self._total = 0
        self._crc = 0
        self._received = 0
        self._data = bytearray()


def _finish(header: Message, payload: PayloadSink | None, crc: int, inline: bytes) -> Message:
    """A complete stream's SNAP message: the payload file made durable
    under the snapshot's name (the message keeps its reference), or the
    inline data put into the message."""
    assert header.snapshot is not None
    meta = header.snapshot.metadata
    if payload is None:
        if zlib.crc32(inline) != crc:
            raise SnapshotStreamError("snapshot checksum mismatch")
        return dataclasses.replace(header, snapshot=Snapshot(meta, inline))
    if payload.crc != crc:
        payload.abort()
        raise SnapshotStreamError("snapshot checksum mismatch")
    try:
        payload.finish(meta.term, meta.index)
    except OSError as exc:
        payload.abort()
        raise SnapshotStreamError(f"cannot store the snapshot payload: {exc}") from None
    return header
