"""Random interleavings of writes, compactions, watch creations, cancels,
slow draining, progress ticks, sync sweeps and hub restarts; afterwards each
watcher's stream must be exactly the oracle's history filtered to its range
from its start revision — or a prefix of it ending in an explicit
canceled/compacted response (``watch_harness.check_stream`` states the rules).

A watch ended by a restart (hub closed) or by the cancel policy is resumed at
its ``resume_revision`` by a new watch, so a chain of watches must add up to
the whole history: the Resumable guarantee under churn.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import random
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from consensus.mvcc.api import WatchCreateRequest, WatchFilter, WatchResponse
from consensus.mvcc.watch_hub import SlowWatcherPolicy, WatchHub
from consensus.mvcc.watcher import Watcher
from consensus.mvcc.watcher_group import prefix_end

from .watch_harness import DoubleWorld, SqliteWorld, check_stream, drain, expected

KEYS = [b"a", b"a/1", b"a/2", b"b", b"b/1", b"c"]
RANGES = [
    (b"a", b""),
    (b"a/", prefix_end(b"a/")),
    (b"b", prefix_end(b"b")),
    (b"a/2", b"b/1"),
    (b"b", b"\0"),
    (b"\0", b"\0"),
]

key_index = st.integers(0, len(KEYS) - 1)
operation = st.one_of(
    st.tuples(st.just("put"), key_index, st.binary(max_size=2)),
    st.tuples(st.just("delete"), key_index),
    st.tuples(st.just("delete_range"), st.integers(0, len(RANGES) - 1)),
    st.tuples(st.just("txn"), st.sets(key_index, max_size=4), st.sets(key_index, max_size=3)),
    st.tuples(st.just("compact"), st.floats(0, 1)),
    st.tuples(
        st.just("watch"),
        st.integers(0, len(RANGES) - 1),
        st.sampled_from(["now", "past", "future"]),
        st.floats(0, 1),
        st.sampled_from([(), (WatchFilter.NOPUT,), (WatchFilter.NODELETE,)]),
        st.booleans(),
        st.booleans(),
    ),
    st.tuples(st.just("cancel"), st.integers(0, 50)),
    st.tuples(st.just("poll"), st.integers(0, 50), st.integers(1, 8)),
    st.tuples(st.just("progress")),
    st.tuples(st.just("sync"), st.integers(1, 4)),
    st.tuples(st.just("restart")),
)


@dataclass
class Segment:
    """One watch and what it delivered; resumed watches continue a chain."""

    watcher: Watcher
    request: WatchCreateRequest
    start: int
    responses: list[WatchResponse] = field(default_factory=list)


@dataclass
class Chain:
    segments: list[Segment] = field(default_factory=list)
    user_canceled: bool = False

    @property
    def current(self) -> Segment:
        return self.segments[-1]


class Model:
    def __init__(self, world, capacity: int, chunk: int, policy: SlowWatcherPolicy) -> None:
        self.world = world
        self.options = dict(buffer_events=capacity, chunk_events=chunk, slow_policy=policy)
        self.hub = WatchHub.attach(world.store, **self.options)
        self.chains: list[Chain] = []

    def start(self, request: WatchCreateRequest) -> Segment:
        revision = self.world.store.revision
        start = request.start_revision or revision + 1
        return Segment(self.hub.watch(request), request, start)

    def resume(self, chain: Chain) -> None:
        """A watch that ended without compaction (and not canceled by the
        user) continues from its resume revision, as a client would."""
        old = chain.current
        old.responses += drain(old.watcher)
        if chain.user_canceled or not old.watcher.done or old.watcher.compact_revision:
            return
        request = WatchCreateRequest(
            key=old.request.key, range_end=old.request.range_end, filters=old.request.filters,
            prev_kv=old.request.prev_kv, progress_notify=old.request.progress_notify,
            start_revision=old.watcher.resume_revision,
        )
        chain.segments.append(self.start(request))

    def run(self, op) -> None:
        world, store = self.world, self.world.store
        kind = op[0]
        if kind == "put":
            world.put(KEYS[op[1]], op[2])
        elif kind == "delete":
            world.delete(KEYS[op[1]])
        elif kind == "delete_range":
            world.delete_range(*RANGES[op[1]])
        elif kind == "txn":
            deletes = sorted(op[2] - op[1])
            world.txn(puts=[(KEYS[i], b"t") for i in sorted(op[1])], deletes=[KEYS[i] for i in deletes])
        elif kind == "compact":
            low, high = store.compact_revision + 1, store.revision
            if low <= high:
                world.compact(low + int(op[1] * (high - low)))
        elif kind == "watch":
            _, range_index, when, fraction, filters, prev_kv, progress = op
            revision = store.revision
            if when == "now":
                start = 0
            elif when == "future":
                start = revision + 1 + int(fraction * 3)
            else:
                low = max(1, store.compact_revision - 1)  # sometimes already compacted
                start = low + int(fraction * (revision - low))
            key, range_end = RANGES[range_index]
            request = WatchCreateRequest(
                key=key, range_end=range_end, start_revision=start, filters=filters,
                prev_kv=prev_kv, progress_notify=progress,
            )
            self.chains.append(Chain([self.start(request)]))
        elif kind == "cancel" and self.chains:
            chain = self.chains[op[1] % len(self.chains)]
            if chain.current.watcher.cancel():
                chain.user_canceled = True
        elif kind == "poll" and self.chains:
            chain = self.chains[op[1] % len(self.chains)]
            for _ in range(op[2]):
                response = chain.current.watcher.poll()
                if response is None:
                    break
                chain.current.responses.append(response)
            if chain.current.watcher.done:
                self.resume(chain)
        elif kind == "progress":
            self.hub.progress()
        elif kind == "sync":
            self.hub.sync_watchers(max_watchers=op[1])
        elif kind == "restart":
            self.hub.close()
            world.restart()
            self.hub = WatchHub.attach(world.store, **self.options)
            for chain in self.chains:
                self.resume(chain)

    def check(self) -> int:
        world = self.world
        log = world.recorder.log
        checked = 0
        for chain in self.chains:
            # drain to the end; resumed segments may need draining too
            while True:
                segment = chain.current
                segment.responses += drain(segment.watcher)
                if segment.watcher.done:
                    self.resume(chain)
                if chain.current is segment:
                    break
            for segment in chain.segments:
                watcher = segment.watcher
                check_stream(
                    segment.responses, log, segment.request, segment.start,
                    ended=watcher if watcher.done else None,
                    oldest_revision=self.hub.oldest_revision(),
                )
                checked += 1
            # a chain never ended by compaction or by its user is the whole history
            first, last = chain.segments[0], chain.current
            if not chain.user_canceled and not last.watcher.done:
                events = [e for s in chain.segments for r in s.responses for e in r.events]
                assert events == expected(log, first.request, first.start)
        return checked


def run_model(world, ops, capacity, chunk, policy) -> int:
    model = Model(world, capacity, chunk, policy)
    for op in ops:
        model.run(op)
    return model.check()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(operation, max_size=100),
    capacity=st.integers(1, 6),
    chunk=st.integers(1, 5),
    policy=st.sampled_from(list(SlowWatcherPolicy)),
)
def test_random_interleavings_against_the_history_double(ops, capacity, chunk, policy):
    """Fast, so many examples; the double compacts as etcd does since #18089."""
    run_model(DoubleWorld(), ops, capacity, chunk, policy)


def long_ops(seed: int, count: int) -> list[tuple]:
    """A long deterministic run (hypothesis keeps its examples short)."""
    rng = random.Random(seed)
    ops: list[tuple] = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.35:
            ops.append(("put", rng.randrange(len(KEYS)), b"x"))
        elif roll < 0.45:
            ops.append(("txn", {rng.randrange(len(KEYS)) for _ in range(3)}, {rng.randrange(len(KEYS))}))
        elif roll < 0.5:
            ops.append(("delete", rng.randrange(len(KEYS))))
        elif roll < 0.52:
            ops.append(("delete_range", rng.randrange(len(RANGES))))
        elif roll < 0.54:
            ops.append(("compact", rng.random()))
        elif roll < 0.6:
            ops.append(("watch", rng.randrange(len(RANGES)), rng.choice(["now", "past", "future"]),
                        rng.random(), rng.choice([(), (WatchFilter.NOPUT,)]), rng.random() < 0.5,
                        rng.random() < 0.5))
        elif roll < 0.62:
            ops.append(("cancel", rng.randrange(50)))
        elif roll < 0.9:
            ops.append(("poll", rng.randrange(50), rng.randrange(1, 6)))
        elif roll < 0.95:
            ops.append(("progress",))
        elif roll < 0.99:
            ops.append(("sync", rng.randrange(1, 5)))
        else:
            ops.append(("restart",))
    return ops


@pytest.mark.parametrize("seed", range(3))
def test_a_long_fixed_interleaving(seed):
    checked = run_model(DoubleWorld(), long_ops(seed, 1500), capacity=4, chunk=3, policy=SlowWatcherPolicy.CATCH_UP)
    assert checked > 20


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ops=st.lists(operation, max_size=80),
    capacity=st.integers(1, 6),
    chunk=st.integers(1, 5),
    policy=st.sampled_from(list(SlowWatcherPolicy)),
    declared=st.sampled_from([None, True, False]),
)
def test_random_interleavings_against_the_real_store(ops, capacity, chunk, policy, declared):
    """The same, against SQLite; ``restart`` closes and reopens the file.
    ``declared``: the store's compaction declaration as it is, or forced on
    or off (see test_watch_compaction.py)."""
    with tempfile.TemporaryDirectory() as directory:
        world = SqliteWorld(Path(directory) / "store.db", declare_compact_deletes=declared)
        try:
            run_model(world, ops, capacity, chunk, policy)
        finally:
            world.close()


@pytest.mark.parametrize("declared", [True, False])
@pytest.mark.parametrize("seed", range(2))
def test_a_long_fixed_interleaving_against_the_real_store(seed, declared, tmp_path):
    world = SqliteWorld(tmp_path / "store.db", declare_compact_deletes=declared)
    try:
        checked = run_model(world, long_ops(seed, 800), capacity=4, chunk=3, policy=SlowWatcherPolicy.CATCH_UP)
    finally:
        world.close()
    assert checked > 20
