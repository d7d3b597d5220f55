"""``StoreStateMachine.apply_batch``: many entries in one transaction, with
exactly the outcome of ``apply`` entry by entry — results (refusals
included), store, hash, quota, physical compaction progress and listener
calls — and the same all-or-nothing rule on failure and after a crash.

The equivalence test is a seeded simulation: each seed generates a random
log (puts, deletes, txns, reads, lease grants and revokes, compactions, and
requests that are refused), applies it one entry at a time to one store and
in random batches to another, and compares them after every batch. ``--seeds
N`` runs N seeds instead of the default, ``--seed S`` replays one.
"""
from __future__ import annotations

import dataclasses
import os
import random
import signal
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from consensus.mvcc.api import (
    Compare,
    CompareResult,
    CompareTarget,
    CompactionRequest,
    DeleteRangeRequest,
    InvalidRequestError,
    LeaseGrantRequest,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    Limits,
    NoSpaceError,
    PutRequest,
    RangeRequest,
    StoreError,
    TxnRequest,
)
from consensus.mvcc.log_codec import encode_request
from consensus.mvcc.state_machine import StateMachineStopped, StoreStateMachine

from .test_state_machine import workload

REPO = Path(__file__).resolve().parents[2]

DEFAULT_SEEDS = 40
ENTRIES_PER_SEED = 600
KEYS = [b"a", b"a/1", b"a/2", b"b", b"c", b"d", b"e"]
LEASES = [11, 12, 13]
# Small enough that the quota refuses puts until compactions free space
# (a few rows at a time: compaction_batch below), so refusals depend on the
# exact entry at which each compaction batch runs.
LIMITS = Limits(max_request_bytes=600, quota_backend_bytes=9_000, max_txn_ops=8)
COMPACTION_BATCH = 3


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        config = metafunc.config
        if config.getoption("--seed") is not None:
            seeds = [config.getoption("--seed")]
        elif any(str(a) == "--seeds" or str(a).startswith("--seeds=") for a in config.invocation_params.args):
            seeds = list(range(config.getoption("--seeds")))
        else:
            seeds = list(range(DEFAULT_SEEDS))
        metafunc.parametrize("seed", seeds, ids=lambda s: f"seed_{s}")


def open_store(path: Path) -> StoreStateMachine:
    return StoreStateMachine.open(path, limits=LIMITS, compaction_batch=COMPACTION_BATCH)


class Recorder:
    """An apply listener that keeps every call."""

    def __init__(self) -> None:
        self.calls: list[tuple[int, list]] = []

    def __call__(self, revision: int, events: list) -> None:
        self.calls.append((revision, list(events)))


def apply_one(sm: StoreStateMachine, index: int, request: object) -> object:
    """``apply``, with a refusal as its result (as ``apply_batch`` gives it)."""
    try:
        return sm.apply(index, request)
    except StoreError as exc:
        return exc


def comparable(result: object) -> object:
    """Refusals compare by type and message (exception objects compare by
    identity)."""
    if isinstance(result, StoreError):
        return (type(result), str(result))
    return result


def state(sm: StoreStateMachine) -> tuple:
    everything = RangeRequest(key=b"\0", range_end=b"\0")
    return (
        sm.applied_index, dataclasses.replace(sm._meta), sm.hash_kv(), sm.stored_bytes, sm.lease_leases(), sm.leases(),
        sm.range(everything), sm.history(b"\0", b"\0", max(sm.compact_revision, 1), max_events=10_000),
    )


class LogGenerator:
    """Random entries, each valid or refused for a reason of its own, shaped
    by the store's current revision (so compactions hit both sides of the
    compact revision)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.index = 0

    def next_entry(self, sm: StoreStateMachine) -> tuple[int, object]:
        rng = self.rng
        if rng.random() < 0.03 and self.index > 0:
            # An index at or below one already applied: a no-op either way.
            return rng.randint(max(1, self.index - 3), self.index), self._request(sm)
        self.index += rng.choice((1, 1, 1, 2, 5))  # gaps: entries the runtime applies itself
        request = self._request(sm)
        if rng.random() < 0.8 and not isinstance(request, bytes):
            request = encode_request(request)  # as the log carries it
        return self.index, request

    def _key(self) -> bytes:
        return self.rng.choice(KEYS)

    def _put(self, *, in_txn: bool = False) -> PutRequest:
        rng = self.rng
        value = rng.choice((b"", b"x", b"value", b"v" * rng.randint(50, 400)))
        lease = rng.choice(LEASES) if rng.random() < 0.25 else 0
        ignore_value = rng.random() < 0.05
        ignore_lease = not in_txn and rng.random() < 0.05
        return PutRequest(
            key=self._key(), value=b"" if ignore_value else value, lease=0 if ignore_lease else lease,
            prev_kv=rng.random() < 0.3, ignore_value=ignore_value, ignore_lease=ignore_lease,
        )

    def _delete(self) -> DeleteRangeRequest:
        rng = self.rng
        if rng.random() < 0.3:
            return DeleteRangeRequest(key=b"a", range_end=b"b", prev_kv=rng.random() < 0.5)
        return DeleteRangeRequest(key=self._key(), prev_kv=rng.random() < 0.5)

    def _range(self, sm: StoreStateMachine) -> RangeRequest:
        revision = self.rng.choice((0, 0, sm.revision - 1, sm.compact_revision, sm.revision + 1))
        return RangeRequest(key=b"a", range_end=b"c", revision=max(0, revision))

    def _txn(self, sm: StoreStateMachine) -> TxnRequest:
        rng = self.rng

        def ops() -> tuple:
            out = []
            for _ in range(rng.randint(0, 3)):
                kind = rng.random()
                out.append(self._put(in_txn=True) if kind < 0.5 else self._delete() if kind < 0.7
                           else self._range(sm))
            return tuple(out)

        compare = Compare(
            result=rng.choice(list(CompareResult)), target=CompareTarget.VERSION,
            key=self._key(), operand=rng.randint(0, 3),
        )
        return TxnRequest(compare=(compare,), success=ops(), failure=ops())

    def _request(self, sm: StoreStateMachine) -> object:
        rng = self.rng
        kind = rng.random()
        if kind < 0.40:
            return self._put()
        if kind < 0.52:
            return self._delete()
        if kind < 0.64:
            return self._txn(sm)
        if kind < 0.68:
            return self._range(sm)
        if kind < 0.76:
            low = max(sm.compact_revision - 1, 1)
            return CompactionRequest(revision=rng.randint(low, sm.revision + 1), physical=rng.random() < 0.3)
        if kind < 0.84:
            return LeaseGrantRequest(TTL=rng.randint(1, 100), ID=rng.choice((0, *LEASES)))
        if kind < 0.92:
            return LeaseRevokeRequest(ID=rng.choice(LEASES))
        if kind < 0.96:
            return PutRequest(key=b"big", value=b"v" * 700)  # too large
        return b"\x93\x01\x63"  # undecodable


def test_apply_batch_equals_apply_one_by_one(tmp_path, seed):
    rng = random.Random(seed)
    single, batched = open_store(tmp_path / "single.db"), open_store(tmp_path / "batched.db")
    single_calls, batched_calls = Recorder(), Recorder()
    single.add_apply_listener(single_calls)
    batched.add_apply_listener(batched_calls)
    generator = LogGenerator(rng)
    applied = 0
    try:
        while applied < ENTRIES_PER_SEED:
            batch = []
            expected = []
            for _ in range(rng.choice((1, 2, 7, 64, 100))):
                index, request = generator.next_entry(single)
                batch.append((index, request))
                expected.append(apply_one(single, index, request))
            got = batched.apply_batch(batch)
            context = f"seed {seed}, batch of {len(batch)} entries ending at index {batch[-1][0]}"
            assert [comparable(r) for r in got] == [comparable(r) for r in expected], context
            assert batched_calls.calls == single_calls.calls, context
            assert state(batched) == state(single), context
            applied += len(batch)
            if rng.random() < 0.1:
                batched.close()
                batched = open_store(tmp_path / "batched.db")
                batched.add_apply_listener(batched_calls)
                # Replaying the last batch after a reopen changes nothing.
                assert batched.apply_batch(batch) == [None] * len(batch), context
                assert state(batched) == state(single), context
    finally:
        single.close()
        batched.close()


def test_the_simulation_covers_refusals_and_compaction(tmp_path):
    """Guards the generator: across a few seeds the log holds each kind of
    refusal and frees space by compaction while refusing for quota."""
    single = open_store(tmp_path / "s.db")
    generator = LogGenerator(random.Random(1))
    refusals: set[type] = set()
    try:
        for _ in range(1500):
            index, request = generator.next_entry(single)
            result = apply_one(single, index, request)
            if isinstance(result, StoreError):
                refusals.add(type(result))
        assert {NoSpaceError, LeaseNotFoundError, InvalidRequestError} <= refusals, refusals
        assert single.compact_revision > 1
    finally:
        single.close()


# -- refusals, replay ---------------------------------------------------------------------------------


def test_refusals_are_returned_by_apply_batch_and_raised_by_apply(tmp_path):
    sm = StoreStateMachine.open(tmp_path / "s.db")
    results = sm.apply_batch([
        (1, PutRequest(key=b"a")),
        (2, PutRequest(key=b"")),  # no key
        (3, b"\x93\x01\x63"),  # undecodable
        (4, PutRequest(key=b"b")),
    ])
    assert results[0].header.revision == 2 and results[3].header.revision == 3
    assert isinstance(results[1], StoreError) and isinstance(results[2], InvalidRequestError)
    assert sm.applied_index == 4
    with pytest.raises(StoreError):
        sm.apply(5, PutRequest(key=b""))
    assert sm.applied_index == 5 and sm.revision == 3
    sm.close()


def test_entries_at_or_below_the_applied_index_give_none(tmp_path):
    sm = StoreStateMachine.open(tmp_path / "s.db")
    sm.apply_batch([(1, PutRequest(key=b"a")), (2, PutRequest(key=b"b"))])
    results = sm.apply_batch([(2, PutRequest(key=b"x")), (3, PutRequest(key=b"c")), (3, PutRequest(key=b"y")),
                              (1, PutRequest(key=b"z")), (7, PutRequest(key=b"d"))])
    assert results[0] is None and results[2] is None and results[3] is None
    assert [r.header.revision for r in (results[1], results[4])] == [4, 5]
    assert sm.applied_index == 7
    assert sm.apply_batch([]) == [] and sm.apply_batch([(5, PutRequest(key=b"e"))]) == [None]
    sm.close()


def test_replaying_a_batch_after_reopen_is_a_no_op(tmp_path):
    entries = [(i, encode_request(r)) for i, r in enumerate(workload(300), start=1)]
    sm = StoreStateMachine.open(tmp_path / "s.db")
    sm.apply_batch(entries[:100])
    sm.apply_batch(entries[100:])
    before = state(sm)
    sm.close()
    sm = StoreStateMachine.open(tmp_path / "s.db")
    calls = Recorder()
    sm.add_apply_listener(calls)
    assert state(sm) == before
    assert sm.apply_batch(entries) == [None] * len(entries)
    assert sm.apply_batch(entries[150:]) == [None] * (len(entries) - 150)
    assert state(sm) == before and calls.calls == []
    # A batch straddling the applied index applies only what is new.
    last = entries[-1][0]
    more = [(last + 1 + i, encode_request(PutRequest(key=b"more%d" % i))) for i in range(5)]
    results = sm.apply_batch(entries[-5:] + more)
    assert results[:5] == [None] * 5 and all(r.header.revision for r in results[5:])
    assert sm.applied_index == last + 5 and len(calls.calls) == 5
    sm.close()


# -- failures ---------------------------------------------------------------------------------------------


def reference_hash(tmp_path: Path, entries: list) -> object:
    ref = StoreStateMachine.open(tmp_path / "ref.db")
    for index, request in entries:
        apply_one(ref, index, request)
    try:
        return ref.hash_kv(), ref.applied_index
    finally:
        ref.close()


def test_a_batch_that_cannot_complete_is_rolled_back_whole_and_stops(tmp_path):
    entries = [(i, encode_request(r)) for i, r in enumerate(workload(400), start=1)]
    sm = StoreStateMachine.open(tmp_path / "s.db")
    calls = Recorder()
    sm.add_apply_listener(calls)
    sm.apply_batch(entries[:200])
    before, seen = state(sm), len(calls.calls)
    backend = sm._backend
    real_insert, inserts = backend.insert, [0]

    def failing_insert(*args, **kwargs):
        inserts[0] += 1
        if inserts[0] == 50:
            raise sqlite3.OperationalError("disk I/O error")  # fault injection, mid-batch
        return real_insert(*args, **kwargs)

    backend.insert = failing_insert
    with pytest.raises(sqlite3.OperationalError):
        sm.apply_batch(entries[200:])
    assert len(calls.calls) == seen  # nothing was committed, so nothing notified
    with pytest.raises(StateMachineStopped):
        sm.apply_batch(entries[200:])
    with pytest.raises(StateMachineStopped):
        sm.apply(401, PutRequest(key=b"x"))
    sm.close()
    sm = StoreStateMachine.open(tmp_path / "s.db")
    assert state(sm) == before  # none of the batch is applied
    sm.apply_batch(entries)  # replay from the start: the first 200 are no-ops
    assert (sm.hash_kv(), sm.applied_index) == reference_hash(tmp_path, entries)
    sm.close()


def test_a_refusal_after_a_write_fails_the_whole_batch(tmp_path):
    """The applier refuses before writing; a ``StoreError`` raised after a
    row was written is a bug, and the batch must not commit the half-done
    entry — nor any other entry of the batch."""
    sm = StoreStateMachine.open(tmp_path / "s.db")
    sm.apply(1, PutRequest(key=b"a"))
    real_apply = sm._applier.apply

    def apply_then_refuse(index, request):
        response = real_apply(index, request)
        if index == 4:
            raise NoSpaceError()
        return response

    sm._applier.apply = apply_then_refuse
    with pytest.raises(RuntimeError, match="refused after it wrote"):
        sm.apply_batch([(i, PutRequest(key=b"k%d" % i)) for i in range(2, 7)])
    sm.close()
    sm = StoreStateMachine.open(tmp_path / "s.db")
    assert (sm.applied_index, sm.revision) == (1, 2)
    sm.close()


def test_recovery_after_a_process_killed_mid_batch(tmp_path):
    """A child applies a first batch, then a large second one, and is
    killed (SIGKILL, no clean close) while in the middle of it: its entries
    are half applied inside an open transaction, the uncommitted pages
    partly spilled to the WAL. Reopening gives the store as of the first
    batch; replaying every entry gives the hash of an uninterrupted run."""
    db = tmp_path / "killed.db"
    first, total, stop_at = 500, 12_000, 9_000
    script = textwrap.dedent(
        f"""
        import sys, time
        sys.path.insert(0, {str(REPO)!r})
        from tests.mvcc.test_apply_batch import big_log
        from consensus.mvcc.state_machine import StoreStateMachine

        class Halting(list):
            # Iterating the batch stops for good at entry {stop_at}: the
            # parent kills the process there, inside apply_batch.
            def __iter__(self):
                for n, entry in enumerate(list.__iter__(self)):
                    if n == {stop_at - first}:
                        print("midway", flush=True)
                        time.sleep(600)
                    yield entry

        sm = StoreStateMachine.open({str(db)!r})
        entries = big_log({total})
        sm.apply_batch(entries[:{first}])
        sm.apply_batch(Halting(entries[{first}:]))
        print("finished", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert child.stdout.readline().strip() == "midway"
        wal = Path(str(db) + "-wal")
        assert wal.exists() and wal.stat().st_size > 10_000_000  # uncommitted pages reached the WAL
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    entries = big_log(total)
    sm = StoreStateMachine.open(db)
    assert sm.applied_index == first
    ref = StoreStateMachine.open(tmp_path / "ref.db")
    ref.apply_batch(entries[:first])
    assert sm.hash_kv() == ref.hash_kv()
    for start in range(0, total, 64):  # replay all of it, in the node's batches
        sm.apply_batch(entries[start:start + 64])
    ref.apply_batch(entries[first:])
    assert (sm.hash_kv(), sm.applied_index) == (ref.hash_kv(), total)
    sm.close()
    ref.close()


def big_log(n: int) -> list[tuple[int, bytes]]:
    """``workload(n)`` with 4 KiB values, log-encoded: large enough that a
    batch of it outgrows SQLite's page cache."""
    out = []
    for i, request in enumerate(workload(n - 1), start=1):
        if isinstance(request, PutRequest) and request.key != b"":
            request = PutRequest(key=request.key + b"/%d" % (i % 500), value=b"%d" % i * 1000, lease=request.lease)
        out.append((i, encode_request(request)))
    return out
