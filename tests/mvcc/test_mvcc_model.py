"""A Hypothesis stateful test: the SQLite store against a small pure-Python
model of etcd's MVCC.

The model keeps every change ever made, as a list of (main, sub, key, kv or
None for a delete), and answers a read at revision R by replaying the list
up to R — slow and obviously right. Rules: puts (with leases, prev_kv),
deletes of keys and ranges, txns with a compare and two branches, lease
grants and revokes, compactions, historical ranges, close-and-reopen, and
replays of entries already applied (which must change nothing). After every
step the whole keyspace, revision, compact revision and applied index must
agree; history() is checked against the model's change list.
"""
from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from consensus.mvcc.api import (
    Compare,
    CompareResult,
    CompareTarget,
    CompactedError,
    CompactionRequest,
    DeleteRangeRequest,
    EventType,
    FutureRevisionError,
    KeyValue,
    LeaseExistsError,
    LeaseGrantRequest,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from consensus.mvcc.state_machine import StoreStateMachine

KEYS = [b"a", b"a/x", b"b", b"c", b"d"]
VALUES = [b"", b"1", b"2", b"zz"]
LEASE_POOL = [7, 8, 9]


class Model:
    """etcd's MVCC, naively."""

    def __init__(self) -> None:
        self.revision = 1
        self.compact = -1
        self.changes: list[tuple[int, int, bytes, KeyValue | None]] = []
        self.leases: dict[int, int] = {}
        self.lease_of: dict[bytes, int] = {}

    def at(self, rev: int) -> dict[bytes, KeyValue]:
        state: dict[bytes, KeyValue] = {}
        for main, _, key, kv in self.changes:
            if main > rev:
                break
            if kv is None:
                state.pop(key, None)
            else:
                state[key] = kv
        return state

    def now(self) -> dict[bytes, KeyValue]:
        return self.at(self.revision)

    def write(self, ops: list[tuple[str, bytes, bytes, int]]) -> int:
        """Apply puts ("put", key, value, lease) and deletes ("del", key,
        end, 0) at one new revision; returns how many changes it made."""
        main = self.revision + 1
        state = self.now()
        sub = 0
        for kind, key, arg, lease in ops:
            if kind == "put":
                old = state.get(key)
                kv = KeyValue(key, old.create_revision if old else main, main,
                              old.version + 1 if old else 1, arg, lease)
                state[key] = kv
                self.changes.append((main, sub, key, kv))
                if key in self.lease_of:
                    del self.lease_of[key]
                if lease:
                    self.lease_of[key] = lease
                sub += 1
            else:
                for k in sorted(k for k in state if in_range(k, key, arg)):
                    del state[k]
                    self.changes.append((main, sub, k, None))
                    self.lease_of.pop(k, None)
                    sub += 1
        if sub:
            self.revision = main
        return sub


def in_range(k: bytes, key: bytes, end: bytes) -> bool:
    if not end:
        return k == key
    if end == b"\0":
        return k >= key
    return key <= k < end


def range_args():
    return st.tuples(st.sampled_from(KEYS + [b"\0"]), st.sampled_from([b"", b"\0", b"b", b"c", b"e"]))


class StoreVsModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.dir = Path(tempfile.mkdtemp(prefix="mvcc-model-"))
        self.path = self.dir / "store.db"
        self.sm = StoreStateMachine.open(self.path, compaction_batch=3)
        self.model = Model()
        self.index = 0
        self.log: list[tuple[int, object]] = []

    def teardown(self) -> None:
        self.sm.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def apply(self, request):
        self.index += 1
        self.log.append((self.index, request))
        return self.sm.apply(self.index, request)

    def expect_error(self, error, request) -> None:
        try:
            self.apply(request)
        except error:
            return
        raise AssertionError(f"{request} should fail with {error.__name__}")

    # -- writes ---------------------------------------------------------------------------

    @rule(key=st.sampled_from(KEYS), value=st.sampled_from(VALUES),
          lease=st.sampled_from([0, 0, 7, 8, 9]), prev_kv=st.booleans())
    def put(self, key, value, lease, prev_kv):
        request = PutRequest(key=key, value=value, lease=lease, prev_kv=prev_kv)
        if lease and lease not in self.model.leases:
            self.expect_error(LeaseNotFoundError, request)
            return
        before = self.model.now().get(key)
        resp = self.apply(request)
        self.model.write([("put", key, value, lease)])
        assert resp.header.revision == self.model.revision
        assert resp.prev_kv == (before if prev_kv else None)

    @rule(args=range_args(), prev_kv=st.booleans())
    def delete(self, args, prev_kv):
        key, end = args
        before = [kv for k, kv in sorted(self.model.now().items()) if in_range(k, key, end)]
        resp = self.apply(DeleteRangeRequest(key=key, range_end=end, prev_kv=prev_kv))
        deleted = self.model.write([("del", key, end, 0)])
        assert resp.deleted == deleted == len(before)
        assert resp.header.revision == self.model.revision
        assert list(resp.prev_kvs) == (before if prev_kv else [])

    @rule(
        key=st.sampled_from(KEYS),
        what=st.sampled_from([CompareTarget.VERSION, CompareTarget.MOD, CompareTarget.VALUE]),
        result=st.sampled_from(CompareResult),
        operand=st.integers(0, 4),
        then_keys=st.lists(st.sampled_from(KEYS), unique=True, max_size=3),
        else_key=st.sampled_from(KEYS),
        then_delete=st.booleans(),
    )
    def txn(self, key, what, result, operand, then_keys, else_key, then_delete):
        target = what
        value_operand = VALUES[operand % len(VALUES)]
        compare = Compare(result=result, target=target, key=key,
                          operand=value_operand if target == CompareTarget.VALUE else operand)
        kv = self.model.now().get(key)
        if kv is None and target == CompareTarget.VALUE:
            taken = False
        else:
            ours = {CompareTarget.VERSION: kv.version if kv else 0, CompareTarget.MOD: kv.mod_revision if kv else 0,
                    CompareTarget.VALUE: kv.value if kv else b""}[target]
            theirs = compare.operand
            taken = {CompareResult.EQUAL: ours == theirs, CompareResult.NOT_EQUAL: ours != theirs,
                     CompareResult.GREATER: ours > theirs, CompareResult.LESS: ours < theirs}[result]
        success = [PutRequest(key=k, value=b"t") for k in then_keys]
        ops = [("put", k, b"t", 0) for k in then_keys]
        spare = [k for k in KEYS if k not in then_keys and not k.startswith(b"a")]
        if then_delete and spare:
            success.append(DeleteRangeRequest(key=spare[0]))
            ops.append(("del", spare[0], b"", 0))
        success.append(RangeRequest(key=b"\0", range_end=b"\0", count_only=True))
        failure = [PutRequest(key=else_key, value=b"f")]
        resp = self.apply(TxnRequest(compare=(compare,), success=tuple(success), failure=tuple(failure)))
        assert resp.succeeded == taken
        self.model.write(ops if taken else [("put", else_key, b"f", 0)])
        assert resp.header.revision == self.model.revision
        if taken:
            assert resp.responses[-1].count == len(self.model.now())

    # -- leases -----------------------------------------------------------------------------------

    @rule(lease_id=st.sampled_from(LEASE_POOL + [0]), ttl=st.integers(-1, 100))
    def grant(self, lease_id, ttl):
        request = LeaseGrantRequest(TTL=ttl, ID=lease_id)
        if lease_id in self.model.leases:
            self.expect_error(LeaseExistsError, request)
            return
        resp = self.apply(request)
        assert resp.ID > 0 and resp.ID not in self.model.leases
        assert resp.TTL == max(ttl, 2)
        assert lease_id == 0 or resp.ID == lease_id
        self.model.leases[resp.ID] = resp.TTL

    @rule(lease_id=st.sampled_from(LEASE_POOL))
    def revoke(self, lease_id):
        request = LeaseRevokeRequest(ID=lease_id)
        if lease_id not in self.model.leases:
            self.expect_error(LeaseNotFoundError, request)
            return
        held = sorted(k for k, lease in self.model.lease_of.items() if lease == lease_id)
        self.apply(request)
        self.model.write([("del", k, b"", 0) for k in held])
        del self.model.leases[lease_id]

    # -- compaction and reads -----------------------------------------------------------------------

    @rule(back=st.integers(-1, 6))
    def compact(self, back):
        rev = self.model.revision - back
        request = CompactionRequest(revision=rev)
        if rev > self.model.revision:
            self.expect_error(FutureRevisionError, request)
        elif rev <= self.model.compact:
            self.expect_error(CompactedError, request)
        else:
            assert self.apply(request).header.revision == self.model.revision
            self.model.compact = rev

    @rule(args=range_args(), back=st.integers(0, 8), limit=st.integers(0, 3))
    def historical_range(self, args, back, limit):
        key, end = args
        rev = max(1, self.model.revision - back)
        request = RangeRequest(key=key, range_end=end, revision=rev, limit=limit)
        if rev < self.model.compact:
            try:
                self.sm.range(request)
            except CompactedError as e:
                assert e.compact_revision == self.model.compact
                return
            raise AssertionError("read below the compact revision should fail")
        resp = self.sm.range(request)
        expected = [kv for k, kv in sorted(self.model.at(rev).items()) if in_range(k, key, end)]
        assert resp.count == len(expected)
        assert list(resp.kvs) == (expected[:limit] if limit else expected)
        assert resp.more == bool(limit and len(expected) > limit)
        assert resp.header.revision == self.model.revision

    @rule(start_back=st.integers(0, 10), max_events=st.integers(1, 4), at_compact=st.booleans())
    def history(self, start_back, max_events, at_compact):
        start = max(1, self.model.compact, self.model.revision - start_back)
        if at_compact and self.model.compact >= 1:
            start = self.model.compact  # a watch may start at the compact revision
        events, next_rev = self.sm.history(b"\0", b"\0", start, max_events)
        got = [(rev, e.type, e.kv.key, e.kv if e.type == EventType.PUT else None, e.prev_kv) for rev, e in events]
        expected = []
        for main, _, key, kv in self.model.changes:
            if start <= main < next_rev:
                prev = None
                if (kv is None or kv.version > 1) and main - 1 >= self.model.compact:
                    prev = self.model.at(main - 1).get(key)
                expected.append((main, EventType.DELETE if kv is None else EventType.PUT, key, kv, prev))
        assert got == expected
        assert next_rev > start

    # -- restarts and replays -------------------------------------------------------------------------

    @rule()
    def reopen(self):
        self.sm.close()
        self.sm = StoreStateMachine.open(self.path)

    @precondition(lambda self: self.log)
    @rule(back=st.integers(1, 6))
    def replay(self, back):
        before = self.sm.hash_kv()
        for index, request in self.log[-back:]:
            assert self.sm.apply(index, request) is None
        assert self.sm.hash_kv() == before

    # -- after every step ------------------------------------------------------------------------------

    @invariant()
    def same_state(self):
        assert self.sm.revision == self.model.revision
        assert self.sm.compact_revision == self.model.compact
        assert self.sm.applied_index == self.index
        got = self.sm.range(RangeRequest(key=b"\0", range_end=b"\0")).kvs
        assert list(got) == [kv for _, kv in sorted(self.model.now().items())]
        assert [s.ID for s in self.sm.lease_leases().leases] == sorted(self.model.leases)


StoreVsModel.TestCase.settings = settings(
    max_examples=100, stateful_step_count=40, deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_store_against_model = StoreVsModel.TestCase
