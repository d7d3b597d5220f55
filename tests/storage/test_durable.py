"""DurableStorage: the LogStorage view, its persistence, snapshots, compaction,
crash recovery and the data directory lock."""
from __future__ import annotations

import logging
import zlib

import pytest

from consensus.raft.log_storage import CompactedError, SnapshotOutOfDateError, UnavailableError
from consensus.raft.messages import ConfState, HardState, Snapshot, SnapshotMetadata
from consensus.storage import DataDirLockedError, DurableStorage, SnapshotFiles, UnrecoverableStateError
from consensus.storage.snapshot_payloads import PayloadRef

from .support import crash_copy, entry, flip_bit, segment_paths

VOTERS = ConfState((1, 2, 3))


def view(storage):
    """Everything the raft core can read."""
    first, last = storage.first_index(), storage.last_index()
    return (
        storage.initial_state(),
        storage.snapshot(),
        first,
        last,
        storage.term(first - 1),
        storage.entries(first, last + 1) if last >= first else [],
    )


def fill(storage, first, last, term=1, commit=None):
    """Append entries first..last one save at a time, committing each previous
    one unless ``commit`` pins the commit index."""
    for index in range(first, last + 1):
        state = HardState(term, 1, index - 1 if commit is None else commit)
        storage.save(state, [entry(index, term, size=100)])


def test_save_round_trips_through_reopen(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        storage.save(HardState(1, 1, 0), [entry(1), entry(2)])
        storage.save(HardState(2, 3, 2), [entry(3, 2)])
        assert storage.entries(1, 4) == [entry(1), entry(2), entry(3, 2)]
        before = view(storage)
    with DurableStorage.open(tmp_path) as storage:
        assert view(storage) == before
        assert storage.initial_state()[0] == HardState(2, 3, 2)


def test_a_completed_save_survives_a_crash(tmp_path):
    storage = DurableStorage.open(tmp_path / "node")
    fill(storage, 1, 20)
    copy = crash_copy(tmp_path / "node", tmp_path / "after-crash")
    with DurableStorage.open(copy) as recovered:
        assert view(recovered) == view(storage)
    storage.close()


def test_conflicting_suffix_is_the_same_in_memory_and_after_recovery(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 10, commit=5)
        storage.save(HardState(2, 2, 5), [entry(6, 2), entry(7, 2)])
        assert storage.last_index() == 7 and storage.term(6) == 2
        live = view(storage)
    with DurableStorage.open(tmp_path) as storage:
        assert view(storage) == live


def test_a_save_breaking_the_log_rules_writes_nothing(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 3)
        before, wal_bytes = view(storage), storage.wal_stats.bytes_written
        with pytest.raises(ValueError, match="gap"):
            storage.save(None, [entry(5)])
        with pytest.raises(ValueError, match="commit goes back"):
            storage.save(HardState(1, 1, 0))
        assert view(storage) == before
        assert storage.wal_stats.bytes_written == wal_bytes


def test_create_snapshot_compacts_memory_and_releases_segments_and_old_files(tmp_path):
    with DurableStorage.open(tmp_path, segment_size=4096, keep_snapshots=2, catch_up_entries=0) as storage:
        fill(storage, 1, 300)
        segments_before = len(segment_paths(tmp_path / "wal"))
        for index in (100, 200, 250):
            storage.create_snapshot(index, VOTERS, f"state@{index}".encode())
        assert storage.first_index() == 251
        with pytest.raises(CompactedError):
            storage.entries(250, 252)
        assert storage.snapshot().metadata == SnapshotMetadata(250, 1, VOTERS)
        snap_files = sorted(p.name for p in (tmp_path / "snap").iterdir())
        assert snap_files == [  # the pruned snapshot's payload went with it
            "0000000000000001-0000000000000200.payload",
            "0000000000000001-0000000000000200.snap",
            "0000000000000001-0000000000000250.payload",
            "0000000000000001-0000000000000250.snap",
        ]
        segments = storage._wal.segments()
        assert len(segment_paths(tmp_path / "wal")) == len(segments) < segments_before
        # Covered segments are gone, but the WAL still reaches back to the
        # oldest kept snapshot (200) so that it can be used as a fallback.
        assert segments[0].first_index <= 201 < segments[1].first_index
        with pytest.raises(SnapshotOutOfDateError):
            storage.create_snapshot(250, VOTERS, b"again")
        with pytest.raises(UnavailableError):
            storage.create_snapshot(301, VOTERS, b"future")
        live = view(storage)
    with DurableStorage.open(tmp_path, segment_size=4096) as storage:
        assert view(storage) == live


def test_entries_behind_a_snapshot_are_kept_for_followers_catching_up(tmp_path):
    """Issue 16, defect 2: after a snapshot at 250 the log still serves the
    ``catch_up_entries`` before it, so a follower at 220 gets entries, not a
    copy of the database; the window lives in memory only, as etcd's."""
    with DurableStorage.open(tmp_path, segment_size=4096, catch_up_entries=50) as storage:
        fill(storage, 1, 300)
        storage.create_snapshot(250, VOTERS, b"state@250")
        assert storage.snapshot().metadata.index == 250
        assert storage.first_index() == 201
        assert [e.index for e in storage.entries(221, 226)] == [221, 222, 223, 224, 225]
        with pytest.raises(CompactedError):
            storage.entries(200, 202)
        storage.create_snapshot(290, VOTERS, b"state@290")
        assert storage.first_index() == 241
    with DurableStorage.open(tmp_path, segment_size=4096) as storage:
        assert storage.first_index() == 291 and storage.last_index() == 300


def test_an_installed_snapshot_replaces_the_log_and_is_persisted(tmp_path):
    leader_snapshot = Snapshot(SnapshotMetadata(50, 3, ConfState((1, 2), (5,))), b"leader state")
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 10, commit=0)  # stale entries, about to be replaced
        storage.save(HardState(3, 0, 50), [entry(51, 3), entry(52, 3)], leader_snapshot)
        # Stored as a payload file, the snapshot holding only a reference.
        assert storage.snapshot().metadata == leader_snapshot.metadata
        assert storage.read_payload(storage.snapshot()) == b"leader state"
        assert (storage.first_index(), storage.last_index()) == (51, 52)
        assert storage.initial_state() == (HardState(3, 0, 50), ConfState((1, 2), (5,)))
        with pytest.raises(SnapshotOutOfDateError):
            storage.save(snapshot=leader_snapshot)
        live = view(storage)
    assert (tmp_path / "snap" / "0000000000000003-0000000000000050.snap").exists()
    with DurableStorage.open(tmp_path) as storage:
        assert view(storage) == live


def test_an_installed_snapshot_drops_entries_after_it_too(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 80)
        snapshot = Snapshot(SnapshotMetadata(50, 2, VOTERS), b"s")
        storage.save(snapshot=snapshot)
        assert storage.last_index() == 50
    with DurableStorage.open(tmp_path) as storage:
        assert (storage.first_index(), storage.last_index()) == (51, 50)


def test_a_second_opener_is_refused_naming_the_directory(tmp_path):
    storage = DurableStorage.open(tmp_path)
    with pytest.raises(DataDirLockedError) as caught:
        DurableStorage.open(tmp_path)
    assert str(tmp_path) in str(caught.value)
    storage.close()
    DurableStorage.open(tmp_path).close()  # released on close


def test_crash_during_snapshot_write_leaves_the_previous_state(tmp_path, caplog):
    with DurableStorage.open(tmp_path, catch_up_entries=0) as storage:
        fill(storage, 1, 30)
        storage.create_snapshot(10, VOTERS, b"ten")
        live = view(storage)
    # Crash 1: while the file was written (a partial temp file).
    temp = tmp_path / "snap" / "0000000000000001-0000000000000020.snap.tmp"
    temp.write_bytes(b"CCSNAP01\x00\x01")
    # Crash 2: after the rename but before the WAL marker (never acknowledged).
    orphan = tmp_path / "snap" / "0000000000000001-0000000000000025.snap"
    orphan.write_bytes((tmp_path / "snap" / "0000000000000001-0000000000000010.snap").read_bytes())
    with caplog.at_level(logging.WARNING, logger="consensus.storage"):
        storage = DurableStorage.open(tmp_path)
    assert not temp.exists() and not orphan.exists()
    assert view(storage) == live
    assert str(orphan) in caplog.text
    storage.close()


def test_a_corrupt_newest_snapshot_falls_back_to_the_previous_one(tmp_path, caplog):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 40)
        storage.create_snapshot(10, VOTERS, b"ten")
        storage.create_snapshot(30, VOTERS, b"thirty")
        expected_entries = storage.entries(31, 41)
        hard_state = storage.hard_state
    newest = tmp_path / "snap" / "0000000000000001-0000000000000030.snap"
    flip_bit(newest, newest.stat().st_size - 3)
    with caplog.at_level(logging.ERROR, logger="consensus.storage"):
        storage = DurableStorage.open(tmp_path)
    errors = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.ERROR)
    assert str(newest) in errors and "checksum" in errors
    assert "index 10" in errors  # says which snapshot is used instead
    assert storage.read_payload(storage.snapshot()) == b"ten"
    assert storage.first_index() == 11
    assert storage.entries(31, 41) == expected_entries
    assert storage.hard_state == hard_state
    assert not newest.exists() and newest.with_name(newest.name + ".broken").exists()
    storage.close()


def test_a_corrupt_installed_snapshot_cannot_be_replaced_by_an_older_one(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        storage.save(snapshot=Snapshot(SnapshotMetadata(10, 1, VOTERS), b"a"))
        storage.save(snapshot=Snapshot(SnapshotMetadata(20, 2, VOTERS), b"b"))
    newest = tmp_path / "snap" / "0000000000000002-0000000000000020.snap"
    flip_bit(newest, 12)
    with pytest.raises(UnrecoverableStateError, match="index 20"):
        DurableStorage.open(tmp_path)


def test_snapshot_files_without_a_wal_refuse_to_start(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 5)
        storage.create_snapshot(5, VOTERS, b"five")
    for segment in segment_paths(tmp_path / "wal"):
        segment.unlink()
    with pytest.raises(UnrecoverableStateError, match="no segments"):
        DurableStorage.open(tmp_path)
    assert (tmp_path / "snap" / "0000000000000001-0000000000000005.snap").exists()


def test_a_commit_only_hard_state_is_written_without_an_fsync(tmp_path):
    storage = DurableStorage.open(tmp_path)
    fill(storage, 1, 3, commit=1)
    fsyncs = storage.wal_stats.fsyncs
    storage.save(HardState(term=1, vote=1, commit=3), sync=False)
    assert storage.wal_stats.fsyncs == fsyncs, "no fsync may be spent on a commit-only change"
    assert storage.hard_state.commit == 3
    with pytest.raises(ValueError, match="sync=True"):
        storage.save(entries=[entry(4, 1)], sync=False)
    assert storage.last_index() == 3, "a refused unsynced save writes nothing"
    # The next synced save makes the earlier unsynced record durable too.
    storage.save(entries=[entry(4, 1)])
    storage.close()
    reopened = DurableStorage.open(tmp_path)
    assert reopened.hard_state.commit == 3 and reopened.last_index() == 4
    reopened.close()


# -- snapshot payloads: the state machine's copy as a file ---------------------


def test_a_snapshot_payload_is_written_in_pieces_and_the_snapshot_holds_only_its_reference(tmp_path):
    with DurableStorage.open(tmp_path, catch_up_entries=0) as storage:
        fill(storage, 1, 20)
        writer = storage.payload_writer()
        for piece in (b"a" * 1000, b"b" * 1000, b"c"):
            writer.write(piece)
        snapshot = storage.create_snapshot(20, VOTERS, writer)
        assert PayloadRef.decode(snapshot.data) == PayloadRef(2001, zlib.crc32(b"a" * 1000 + b"b" * 1000 + b"c"))
        path = storage.payload_path(snapshot)
        assert path == tmp_path / "snap" / "0000000000000001-0000000000000020.payload"
        assert path.read_bytes() == b"a" * 1000 + b"b" * 1000 + b"c"
        assert not list((tmp_path / "snap").glob("*.tmp"))
    with DurableStorage.open(tmp_path) as storage:
        assert storage.snapshot() == snapshot


def test_a_received_snapshot_is_saved_over_the_payload_the_transport_wrote(tmp_path):
    meta = SnapshotMetadata(50, 3, VOTERS)
    with DurableStorage.open(tmp_path) as storage:
        writer = storage.payload_writer()
        writer.write(b"leader's store")
        ref = writer.finish(meta.term, meta.index)
        storage.save(HardState(3, 0, 50), snapshot=Snapshot(meta, ref.encode()))
        assert storage.read_payload(storage.snapshot()) == b"leader's store"
        # A reference to a payload this member does not have is refused
        # before anything is written.
        with pytest.raises(ValueError, match="no payload file"):
            storage.save(snapshot=Snapshot(SnapshotMetadata(60, 3, VOTERS), ref.encode()))
        assert storage.snapshot().metadata == meta


def test_payloads_of_pruned_unsaved_or_interrupted_snapshots_are_deleted(tmp_path):
    snap = tmp_path / "snap"
    with DurableStorage.open(tmp_path, catch_up_entries=0) as storage:
        fill(storage, 1, 40)
        storage.create_snapshot(10, VOTERS, b"ten")
        # Received but never saved (the member stopped first), and a write
        # cut by a crash.
        received = storage.payload_writer()
        received.write(b"from the leader")
        received.finish(2, 35)
        interrupted = storage.payload_writer()
        interrupted.write(b"half")
        storage.create_snapshot(20, VOTERS, b"twenty")
        storage.create_snapshot(30, VOTERS, b"thirty")  # prunes 10 (two kept)
        assert not (snap / "0000000000000001-0000000000000010.payload").exists()
        assert (snap / "0000000000000002-0000000000000035.payload").exists()  # above the snapshot: may be saved yet
    with DurableStorage.open(tmp_path) as storage:
        assert sorted(p.name for p in snap.iterdir()) == [
            "0000000000000001-0000000000000020.payload", "0000000000000001-0000000000000020.snap",
            "0000000000000001-0000000000000030.payload", "0000000000000001-0000000000000030.snap",
        ]
        assert storage.read_payload(storage.snapshot()) == b"thirty"


def test_a_snapshot_whose_payload_is_missing_falls_back_to_the_previous_one(tmp_path, caplog):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 40)
        storage.create_snapshot(10, VOTERS, b"ten")
        storage.create_snapshot(30, VOTERS, b"thirty")
    (tmp_path / "snap" / "0000000000000001-0000000000000030.payload").unlink()
    with caplog.at_level(logging.ERROR, logger="consensus.storage"):
        storage = DurableStorage.open(tmp_path)
    assert "payload" in caplog.text and "missing" in caplog.text
    assert storage.snapshot().metadata.index == 10 and storage.read_payload(storage.snapshot()) == b"ten"
    storage.close()


def test_a_snapshot_file_from_before_payload_files_is_moved_into_one(tmp_path):
    with DurableStorage.open(tmp_path) as storage:
        fill(storage, 1, 10)
        storage.create_snapshot(10, VOTERS, b"old state")
    snap = tmp_path / "snap"
    (snap / "0000000000000001-0000000000000010.payload").unlink()
    inline = Snapshot(SnapshotMetadata(10, 1, VOTERS), b"old state")
    SnapshotFiles(snap).save(inline)  # the format of an earlier version: the payload inside
    with DurableStorage.open(tmp_path) as storage:
        assert PayloadRef.decode(storage.snapshot().data) is not None
        assert storage.read_payload(storage.snapshot()) == b"old state"
    assert SnapshotFiles(snap).load(SnapshotFiles(snap).list()[0]).data == storage.snapshot().data
