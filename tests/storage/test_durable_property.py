"""Property: whatever sequence of appends (with conflicts), hard states,
snapshots (created or installed), reopens and crashes happens, DurableStorage
shows exactly what a MemoryStorage given the same writes shows."""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.raft.log_storage import MemoryStorage
from consensus.raft.messages import ConfState, Entry, HardState, Snapshot, SnapshotMetadata
from consensus.storage import DurableStorage

from .support import crash_copy

SEGMENT_SIZE = 1024  # tiny, so rollover and release happen constantly
CONF_STATES = st.sampled_from([ConfState((1,)), ConfState((1, 2, 3)), ConfState((1, 2), (3,))])


class DurableMatchesMemory(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="durable-property-"))
        self.generation = 0
        self.keep_snapshots = 2
        self.storage = DurableStorage.open(self._dir(), segment_size=SEGMENT_SIZE, keep_snapshots=2, catch_up_entries=0)
        self.model = MemoryStorage()
        self.term = 1

    def _dir(self) -> Path:
        return self.root / f"gen{self.generation}"

    def _snapshot_index(self) -> int:
        return self.model.snapshot().metadata.index

    def _draw_entries(self, data: st.DataObject, lowest: int) -> list[Entry]:
        """Consecutive entries starting anywhere from ``lowest`` to right after
        the last one (so conflicts and straddled snapshots happen), always
        reaching past the snapshot point."""
        snapshot_index = self._snapshot_index()
        start = data.draw(st.integers(max(1, lowest), self.model.last_index() + 1), label="start")
        shortest = max(1, snapshot_index - start + 2)
        count = data.draw(st.integers(shortest, shortest + 6), label="count")
        self.term = data.draw(st.integers(self.term, self.term + 1), label="term")
        size = data.draw(st.integers(0, 120), label="size")
        return [Entry(self.term, i, 0, bytes([i % 251]) * size) for i in range(start, start + count)]

    def _draw_hard_state(self, data: st.DataObject) -> HardState:
        old = self.model.hard_state
        term = data.draw(st.integers(old.term, old.term + 2), label="hs term")
        vote = old.vote if term == old.term and old.vote else data.draw(st.integers(0, 3), label="vote")
        commit = data.draw(st.integers(old.commit, old.commit + 4), label="commit")
        return HardState(term, vote, commit)

    @rule(data=st.data(), with_hard_state=st.booleans())
    def save_ready(self, data, with_hard_state):
        entries = self._draw_entries(data, self._snapshot_index() - 2)
        hard_state = self._draw_hard_state(data) if with_hard_state else None
        self.storage.save(hard_state, entries)
        self.model.append(entries)
        if hard_state is not None:
            self.model.set_hard_state(hard_state)

    @rule(data=st.data())
    def save_hard_state(self, data):
        hard_state = self._draw_hard_state(data)
        self.storage.save(hard_state)
        self.model.set_hard_state(hard_state)

    @precondition(lambda self: self.model.last_index() > self.model.snapshot().metadata.index)
    @rule(data=st.data(), conf_state=CONF_STATES)
    def create_snapshot(self, data, conf_state):
        lowest, highest = self._snapshot_index() + 1, self.model.last_index()
        index = data.draw(st.integers(lowest, highest), label="snap index")
        blob = f"applied through {index}".encode()
        self.storage.create_snapshot(index, conf_state, blob)
        self.model.create_snapshot(index, conf_state, blob)
        self.model.compact(index)

    @rule(data=st.data(), conf_state=CONF_STATES, follow=st.integers(0, 3))
    def install_snapshot(self, data, conf_state, follow):
        index = data.draw(
            st.integers(self._snapshot_index() + 1, self.model.last_index() + 5), label="installed index"
        )
        self.term = data.draw(st.integers(self.term, self.term + 1), label="installed term")
        snapshot = Snapshot(SnapshotMetadata(index, self.term, conf_state), f"leader@{index}".encode())
        entries = [Entry(self.term, i, 0, b"after") for i in range(index + 1, index + 1 + follow)]
        self.storage.save(None, entries, snapshot)
        self.model.apply_snapshot(snapshot)
        self.model.append(entries)

    @rule()
    def reopen(self):
        self.storage.close()
        self.storage = DurableStorage.open(self._dir(), segment_size=SEGMENT_SIZE, keep_snapshots=2, catch_up_entries=0)

    @rule()
    def crash(self):
        # Every save returned, so everything is synced: a crash right now
        # (the files exactly as written) must recover the same view.
        old = self._dir()
        self.generation += 1
        crash_copy(old, self._dir())
        self.storage.close()
        self.storage = DurableStorage.open(self._dir(), segment_size=SEGMENT_SIZE, keep_snapshots=2, catch_up_entries=0)

    @invariant()
    def same_view(self):
        storage, model = self.storage, self.model
        first, last = model.first_index(), model.last_index()
        assert (storage.first_index(), storage.last_index()) == (first, last)
        assert storage.term(first - 1) == model.term(first - 1)
        assert storage.entries(first, last + 1) == model.entries(first, last + 1)
        assert storage.initial_state() == model.initial_state()
        # The storage keeps the payload in a file and a reference in the
        # snapshot; the model keeps it inline.
        stored, expected = storage.snapshot(), model.snapshot()
        assert stored.metadata == expected.metadata
        if not expected.is_empty:
            assert storage.read_payload(stored) == expected.data
        # At most keep_snapshots snapshot files survive compaction.
        assert len(list((self._dir() / "snap").glob("*.snap"))) <= self.keep_snapshots

    def teardown(self):
        self.storage.close()
        shutil.rmtree(self.root, ignore_errors=True)


DurableMatchesMemory.TestCase.settings = settings(
    max_examples=60,
    stateful_step_count=30,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
TestDurableMatchesMemory = DurableMatchesMemory.TestCase
