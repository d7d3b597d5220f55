"""Snapshots streamed from payload file to payload file (issue 16, defect 2):
the sender reads the leader's payload file a chunk at a time, the receiver
writes the chunks into a new payload file of its own storage, and the SNAP
message delivered carries only the reference. Neither side holds the
payload whole in memory."""
from __future__ import annotations

import os
import tracemalloc

import msgpack
import pytest

from consensus.raft.messages import ConfState, Message, MessageType, Snapshot
from consensus.storage import DurableStorage
from consensus.transport.snapshot_stream import SnapshotAssembler, SnapshotSender, SnapshotStreamError, snapshot_header

from ..storage.support import entry

VOTERS = ConfState((1, 2), ())
CHUNK = 256 << 10


def _leader_snapshot(storage: DurableStorage, payload_bytes: int) -> Snapshot:
    storage.save(entries=[entry(i, 1) for i in range(1, 11)])
    writer = storage.payload_writer()
    piece = os.urandom(1 << 20)
    for offset in range(0, payload_bytes, len(piece)):
        writer.write(piece[: payload_bytes - offset])
    return storage.create_snapshot(10, VOTERS, writer)


def _snap(snapshot: Snapshot) -> Message:
    return Message(MessageType.SNAP, to=2, frm=1, term=1, snapshot=snapshot)


def _stream(leader: DurableStorage, follower: DurableStorage, message: Message) -> Message:
    sender = SnapshotSender(message, stream_id=1, chunk_size=CHUNK, header=snapshot_header(message, leader),
                            payload_file=leader.payload_file(message.snapshot))
    assembler = SnapshotAssembler(payloads=follower)
    while (chunk := sender.next_chunk()) is not None:
        done = assembler.feed(chunk)
    assert done is not None
    stream_id, finish = done
    return finish()


def test_a_snapshot_goes_from_the_leaders_payload_file_into_a_new_one_on_the_follower(tmp_path):
    with DurableStorage.open(tmp_path / "leader") as leader, DurableStorage.open(tmp_path / "follower") as follower:
        snapshot = _leader_snapshot(leader, 3_000_000)
        message = _snap(snapshot)
        delivered = _stream(leader, follower, message)
        assert delivered == message  # the reference, not the payload
        assert len(delivered.snapshot.data) < 64
        assert follower.payload_path(delivered.snapshot).read_bytes() == leader.payload_path(snapshot).read_bytes()
        # The follower's runtime then saves it like any received snapshot.
        follower.save(snapshot=delivered.snapshot)
        assert follower.read_payload(follower.snapshot()) == leader.read_payload(snapshot)


def test_streaming_holds_a_few_chunks_of_the_payload_in_memory_not_the_payload(tmp_path):
    payload_bytes = 48 << 20
    with DurableStorage.open(tmp_path / "leader") as leader, DurableStorage.open(tmp_path / "follower") as follower:
        message = _snap(_leader_snapshot(leader, payload_bytes))
        tracemalloc.start()
        try:
            _stream(leader, follower, message)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert follower.payload_path(message.snapshot).stat().st_size == payload_bytes
    assert peak < 8 * CHUNK, f"peak {peak} bytes while streaming a {payload_bytes}-byte payload"


def test_a_corrupted_stream_leaves_no_payload_file_behind(tmp_path):
    with DurableStorage.open(tmp_path / "leader") as leader, DurableStorage.open(tmp_path / "follower") as follower:
        message = _snap(_leader_snapshot(leader, 1_000_000))
        sender = SnapshotSender(message, stream_id=1, chunk_size=CHUNK, header=snapshot_header(message, leader),
                                payload_file=leader.payload_file(message.snapshot))
        chunks = []
        while (chunk := sender.next_chunk()) is not None:
            chunks.append(chunk)
        fields = list(msgpack.unpackb(chunks[-1]))
        fields[5] = b"X" * len(fields[5])
        chunks[-1] = msgpack.packb(fields, use_bin_type=True)
        assembler = SnapshotAssembler(payloads=follower)
        for chunk in chunks:
            done = assembler.feed(chunk)
        with pytest.raises(SnapshotStreamError, match="checksum"):
            done[1]()
        # An unfinished stream (the connection dropped) is cleaned up too.
        assembler.feed(chunks[0])
        assembler.close()
        assert not [p for p in (tmp_path / "follower" / "snap").iterdir() if "payload" in p.name]


def test_a_reference_is_refused_by_a_receiver_without_payload_files_and_must_match_the_stream(tmp_path):
    with DurableStorage.open(tmp_path / "leader") as leader:
        message = _snap(_leader_snapshot(leader, 1000))
        sender = SnapshotSender(message, stream_id=1, header=snapshot_header(message, leader),
                                payload_file=leader.payload_file(message.snapshot))
        first = sender.next_chunk()
        with pytest.raises(SnapshotStreamError, match="no snapshot payload files"):
            SnapshotAssembler().feed(first)
        fields = list(msgpack.unpackb(first))
        fields[2] += 1  # a stream longer than the reference says
        with DurableStorage.open(tmp_path / "follower") as follower:
            with pytest.raises(SnapshotStreamError, match="does not match"):
                SnapshotAssembler(payloads=follower).feed(msgpack.packb(fields, use_bin_type=True))


def test_a_payload_pruned_before_its_stream_starts_cannot_be_opened_but_one_open_survives_pruning(tmp_path):
    with DurableStorage.open(tmp_path / "leader", keep_snapshots=1, catch_up_entries=0) as leader:
        snapshot = _leader_snapshot(leader, 1_000_000)
        message = _snap(snapshot)
        streaming = SnapshotSender(message, stream_id=1, chunk_size=CHUNK, header=snapshot_header(message, leader),
                                   payload_file=leader.payload_file(snapshot))
        leader.save(entries=[entry(11, 1)])
        leader.create_snapshot(11, VOTERS, b"newer")  # prunes the one at 10
        assert not leader.payload_path(snapshot).exists()
        with pytest.raises(OSError):
            SnapshotSender(message, stream_id=2, payload_file=leader.payload_file(snapshot))
        total = 0
        while (chunk := streaming.next_chunk()) is not None:
            total += len(msgpack.unpackb(chunk)[5])
        assert total == 1_000_000
