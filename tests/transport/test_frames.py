"""Framing limits and the snapshot chunk stream, without sockets."""
import dataclasses
import zlib

import msgpack
import pytest

from consensus.raft.messages import ConfState, Message, MessageType, Snapshot, SnapshotMetadata
from consensus.transport.frames import (
    HANDSHAKE_MAX_FRAME,
    FrameDecoder,
    FrameError,
    FrameKind,
    encode_frame,
    frame_header,
)
from consensus.transport.snapshot_stream import (
    SnapshotAssembler,
    SnapshotSender,
    SnapshotStreamError,
    decode_ack,
    encode_ack,
)


def test_frames_round_trip_even_byte_by_byte():
    frames = [(FrameKind.MESSAGES, b"abc"), (FrameKind.PING, b""), (FrameKind.SNAPSHOT_CHUNK, bytes(range(256)) * 40)]
    data = b"".join(encode_frame(kind, body) for kind, body in frames)
    assert data[:5] == b"\x00\x00\x00\x04\x02"  # length 4 (kind + 3 bytes), big endian, kind 2
    whole = FrameDecoder().feed(data)
    assert [(k, bytes(b)) for k, b in whole] == frames
    decoder = FrameDecoder()
    got = []
    for i in range(len(data)):
        got += decoder.feed(data[i : i + 1])
    assert [(k, bytes(b)) for k, b in got] == frames
    assert decoder.buffered == 0


def test_sender_refuses_a_frame_over_the_limit():
    assert len(encode_frame(FrameKind.MESSAGES, b"x" * 99, max_frame=100)) == 104
    with pytest.raises(FrameError, match="exceeds the limit of 100"):
        encode_frame(FrameKind.MESSAGES, b"x" * 100, max_frame=100)
    with pytest.raises(FrameError):
        frame_header(FrameKind.MESSAGES, 16 << 20)  # default limit is 16 MiB including the kind byte


def test_receiver_refuses_an_oversized_length_before_the_body_arrives():
    decoder = FrameDecoder(max_frame=HANDSHAKE_MAX_FRAME)
    with pytest.raises(FrameError, match="exceeds the limit"):
        decoder.feed((HANDSHAKE_MAX_FRAME + 1).to_bytes(4, "big"))
    with pytest.raises(FrameError, match="exceeds"):
        FrameDecoder().feed(b"\xff\xff\xff\xff")


def test_empty_frames_and_unknown_kinds_are_refused():
    with pytest.raises(FrameError, match="empty"):
        FrameDecoder().feed(b"\x00\x00\x00\x00")
    with pytest.raises(FrameError, match="unknown frame kind 99"):
        FrameDecoder().feed(b"\x00\x00\x00\x01\x63")


def _snap_message(data: bytes) -> Message:
    meta = SnapshotMetadata(index=10, term=3, conf_state=ConfState((1, 2, 3), (4,)))
    return Message(MessageType.SNAP, to=2, frm=1, term=3, snapshot=Snapshot(meta, data))


def _feed(assembler, chunk):
    """Feed one chunk; at a stream's end, finish it (as the listener does,
    in a thread) and return (stream_id, message)."""
    done = assembler.feed(chunk)
    if done is None:
        return None
    stream_id, finish = done
    return stream_id, finish()


def test_snapshot_is_cut_into_chunks_and_reassembled():
    data = bytes(range(256)) * 4000 + b"tail"  # 1,024,004 bytes
    message = _snap_message(data)
    sender = SnapshotSender(message, stream_id=7, chunk_size=100_000)
    assembler = SnapshotAssembler()
    chunks = []
    while (chunk := sender.next_chunk()) is not None:
        chunks.append(chunk)
    assert len(chunks) == 11 and sender.done
    for chunk in chunks[:-1]:
        assert _feed(assembler, chunk) is None
        assert assembler.in_progress
    stream_id, delivered = _feed(assembler, chunks[-1])
    assert stream_id == 7 and delivered == message
    assert not assembler.in_progress


def test_empty_snapshot_data_is_one_chunk():
    message = _snap_message(b"")
    sender = SnapshotSender(message, stream_id=1)
    chunk = sender.next_chunk()
    assert sender.next_chunk() is None
    assert _feed(SnapshotAssembler(), chunk) == (1, message)


def _chunks(message, **kwargs):
    sender = SnapshotSender(message, **kwargs)
    out = []
    while (chunk := sender.next_chunk()) is not None:
        out.append(chunk)
    return out


def test_gaps_corruption_and_oversize_are_refused():
    chunks = _chunks(_snap_message(b"abcdefghij" * 10), stream_id=1, chunk_size=30)
    assembler = SnapshotAssembler()
    assembler.feed(chunks[0])
    with pytest.raises(SnapshotStreamError, match="does not follow"):
        assembler.feed(chunks[2])  # chunk 1 is missing
    with pytest.raises(SnapshotStreamError, match="never started"):
        SnapshotAssembler().feed(chunks[1])
    with pytest.raises(SnapshotStreamError, match="exceeds the limit"):
        SnapshotAssembler(max_snapshot=99).feed(chunks[0])
    fields = list(msgpack.unpackb(chunks[-1]))
    fields[5] = b"X" * len(fields[5])  # corrupt the last chunk's data
    assembler = SnapshotAssembler()
    for chunk in chunks[:-1]:
        assembler.feed(chunk)
    with pytest.raises(SnapshotStreamError, match="checksum"):
        _feed(assembler, msgpack.packb(fields, use_bin_type=True))
    with pytest.raises(SnapshotStreamError, match="malformed"):
        SnapshotAssembler().feed(b"\xc1")


def test_a_new_stream_replaces_an_unfinished_one():
    old = _chunks(_snap_message(b"o" * 100), stream_id=1, chunk_size=40)
    new_message = dataclasses.replace(_snap_message(b"n" * 50), term=4)
    new = _chunks(new_message, stream_id=2, chunk_size=40)
    assembler = SnapshotAssembler()
    assembler.feed(old[0])
    assert assembler.feed(new[0]) is None
    assert _feed(assembler, new[1]) == (2, new_message)


def test_header_must_be_a_snap_without_data():
    chunk = list(msgpack.unpackb(_chunks(_snap_message(b"abc"), stream_id=1)[0]))
    heartbeat = msgpack.packb([int(MessageType.HEARTBEAT), 2, 1, 0, 0, 0, [], 0, None, False, 0, b""])
    chunk[4] = heartbeat
    chunk[3] = zlib.crc32(b"abc")
    with pytest.raises(SnapshotStreamError, match="not a SNAP"):
        SnapshotAssembler().feed(msgpack.packb(chunk, use_bin_type=True))


def test_ack_round_trip():
    assert decode_ack(encode_ack(5, True)) == (5, True)
    with pytest.raises(SnapshotStreamError):
        decode_ack(msgpack.packb([5, 1]))
