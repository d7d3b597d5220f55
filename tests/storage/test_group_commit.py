"""Group commit: concurrent committers share fsyncs, and no commit is
acknowledged before an fsync that covers it has completed."""
from __future__ import annotations

import threading

from consensus.raft.messages import Entry, HardState
from consensus.storage import DurableStorage
from consensus.storage.records import EntryBatch
from consensus.storage.wal import WAL

from .support import all_entries, reopen_log, segment_paths

THREADS = 8
COMMITS_PER_THREAD = 60


class DurablePrefix:
    """Wraps the real fsync and remembers how many bytes of the segment a
    *completed* fsync covers: everything written before it started."""

    def __init__(self) -> None:
        self.size = 0
        self.calls = 0
        self._lock = threading.Lock()

    def __call__(self, file) -> None:
        covered = file.size()
        file.sync()
        with self._lock:
            self.calls += 1
            self.size = max(self.size, covered)


def test_concurrent_commits_share_fsyncs_and_every_ack_is_durable(tmp_path):
    wal_dir = tmp_path / "wal"
    prefix = DurablePrefix()
    wal, _ = WAL.open(wal_dir, sync=prefix)
    (segment,) = segment_paths(wal_dir)
    order = threading.Lock()
    next_index = [1]
    acknowledged: list[Entry] = []
    not_durable_at_ack: list[Entry] = []
    start = threading.Barrier(THREADS)

    def committer(thread: int) -> None:
        start.wait()
        for n in range(COMMITS_PER_THREAD):
            # Indices are handed out in WAL order; the wait is outside the lock
            # so that other threads' records join the same fsync.
            with order:
                index = next_index[0]
                next_index[0] += 1
                record = Entry(1, index, 0, f"thread{thread:02d}-commit{n:03d}".encode() * 8)
                ticket = wal.append([EntryBatch((record,))])
            wal.wait_synced(ticket)
            if record.data not in segment.read_bytes()[: prefix.size]:
                not_durable_at_ack.append(record)
            acknowledged.append(record)

    threads = [threading.Thread(target=committer, args=(t,)) for t in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    commits = THREADS * COMMITS_PER_THREAD
    assert len(acknowledged) == commits
    assert not_durable_at_ack == []
    assert wal.stats.appends == commits
    assert wal.stats.fsyncs == prefix.calls
    assert wal.stats.fsyncs < commits, "group commit never shared an fsync"
    wal.close()

    _, memory = reopen_log(wal_dir)
    recovered = {e.index: e for e in all_entries(memory)}
    assert all(recovered[e.index] == e for e in acknowledged)
    assert memory.last_index() == commits


def test_group_commit_across_segment_rollovers(tmp_path):
    wal_dir = tmp_path / "wal"
    wal, _ = WAL.open(wal_dir, segment_size=4096)
    order = threading.Lock()
    next_index = [1]

    def committer() -> None:
        for _ in range(40):
            with order:
                index = next_index[0]
                next_index[0] += 1
                ticket = wal.append([EntryBatch((Entry(1, index, 0, b"x" * 200),))])
            wal.wait_synced(ticket)

    threads = [threading.Thread(target=committer) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wal.stats.segments_created > 10
    wal.close()
    _, memory = reopen_log(wal_dir, segment_size=4096)
    assert [e.index for e in all_entries(memory)] == list(range(1, THREADS * 40 + 1))


def test_concurrent_saves_to_durable_storage_share_fsyncs(tmp_path):
    # Independent batches (here: the same hard state) may be saved from many
    # threads; each returns only once durable, and memory follows WAL order.
    storage = DurableStorage.open(tmp_path / "data")
    storage.save(entries=[Entry(1, 1, 0, b"first")])
    state = HardState(1, 2, 1)

    def saver() -> None:
        for _ in range(50):
            storage.save(hard_state=state)

    threads = [threading.Thread(target=saver) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = storage.wal_stats
    assert stats.appends == 1 + THREADS * 50
    assert stats.fsyncs < stats.appends
    storage.close()
    with DurableStorage.open(tmp_path / "data") as reopened:
        assert reopened.hard_state == state
        assert reopened.entries(1, 2) == [Entry(1, 1, 0, b"first")]
