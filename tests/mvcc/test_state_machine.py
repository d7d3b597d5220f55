"""StoreStateMachine: applied index and idempotent replay, crash recovery,
refusals, limits, snapshots."""
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from consensus.mvcc.api import (
    CompactionRequest,
    DeleteRangeRequest,
    InvalidRequestError,
    LeaseGrantRequest,
    Limits,
    PutRequest,
    RangeRequest,
    RequestTooLargeError,
    TxnRequest,
)
from consensus.mvcc.backend import BackendError
from consensus.mvcc.log_codec import encode_request
from consensus.mvcc.state_machine import StateMachineStopped, StoreStateMachine

from .store_support import Log

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "store.db")
    yield log
    log.close()


def workload(n: int) -> list[object]:
    """A deterministic mix of every kind of write."""
    out: list[object] = [LeaseGrantRequest(TTL=10, ID=1)]
    for i in range(n):
        key = b"k%d" % (i % 17)
        if i % 11 == 10:
            out.append(DeleteRangeRequest(key=b"k1", range_end=b"k3"))
        elif i % 13 == 12:
            out.append(TxnRequest(success=(PutRequest(key=b"t%d" % i), PutRequest(key=key, value=b"tx"))))
        elif i % 97 == 96:
            out.append(CompactionRequest(revision=max(2, i - 20)))
        else:
            out.append(PutRequest(key=key, value=b"v%d" % i, lease=1 if i % 5 == 0 else 0))
    return out


def apply_all(sm: StoreStateMachine, requests, start_index: int = 1) -> None:
    for i, req in enumerate(requests, start=start_index):
        try:
            sm.apply(i, req)
        except Exception as exc:  # refusals count as applied
            if not hasattr(exc, "grpc_code"):
                raise


# -- applied index -----------------------------------------------------------------------------------


def test_applied_index_advances_and_survives_reopen(log):
    assert log.sm.applied_index == 0
    log.put(b"a")
    log.put(b"b")
    assert log.sm.applied_index == 2
    log.reopen()
    assert (log.sm.applied_index, log.sm.revision) == (2, 3)


def test_replaying_an_applied_index_is_a_no_op(log):
    log.put(b"a", b"1")
    log.put(b"a", b"2")
    before = log.sm.hash_kv().hash
    assert log.sm.apply(1, PutRequest(key=b"a", value=b"1")) is None
    assert log.sm.apply(2, PutRequest(key=b"zzz")) is None  # even a different request
    assert log.sm.hash_kv().hash == before and log.sm.revision == 3 and log.sm.applied_index == 2


def test_indexes_may_skip(log):
    assert log.sm.apply(5, PutRequest(key=b"a")).header.revision == 2
    assert log.sm.apply(9, PutRequest(key=b"b")).header.revision == 3
    assert log.sm.apply(7, PutRequest(key=b"c")) is None
    assert log.sm.applied_index == 9


def test_a_refused_entry_counts_as_applied(log):
    with pytest.raises(Exception):
        log.sm.apply(1, PutRequest(key=b""))
    assert log.sm.applied_index == 1 and log.sm.revision == 1
    assert log.sm.apply(1, PutRequest(key=b"")) is None  # replay: not refused twice
    log.reopen()
    assert log.sm.applied_index == 1


def test_read_through_the_log(log):
    log.put(b"a", b"1")
    resp = log(RangeRequest(key=b"a"))
    assert resp.kvs[0].value == b"1" and log.sm.applied_index == 2 and log.sm.revision == 2


def test_replay_after_close_from_five_entries_back_gives_the_same_hash(tmp_path):
    requests = workload(300)
    sm = StoreStateMachine.open(tmp_path / "s.db")
    apply_all(sm, requests[:200])
    sm.close()  # "crash": nothing more applied
    sm = StoreStateMachine.open(tmp_path / "s.db")
    assert sm.applied_index == 200
    apply_all(sm, requests[194:], start_index=195)  # from applied_index - 5
    ref = StoreStateMachine.open(tmp_path / "ref.db")
    apply_all(ref, requests)
    assert (sm.hash_kv(), sm.applied_index) == (ref.hash_kv(), ref.applied_index)
    assert sm.range(RangeRequest(key=b"\0", range_end=b"\0")) == ref.range(RangeRequest(key=b"\0", range_end=b"\0"))
    sm.close()
    ref.close()


def test_recovery_after_a_killed_process(tmp_path):
    """A child applies the workload and is killed mid-way (SIGKILL, no
    clean close). Reopening and re-applying every entry — those at or below
    the recovered applied index are no-ops — gives the same store as an
    uninterrupted run."""
    n = 3000
    db = tmp_path / "killed.db"
    script = textwrap.dedent(
        f"""
        import sys
        sys.path.insert(0, {str(REPO)!r})
        from tests.mvcc.test_state_machine import workload, apply_all
        from consensus.mvcc.state_machine import StoreStateMachine
        sm = StoreStateMachine.open({str(db)!r})
        reqs = workload({n})
        for i, req in enumerate(reqs, start=1):
            apply_all(sm, [req], start_index=i)
            if i == 500:
                print("ready", flush=True)
        print("done", flush=True)
        """
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert child.stdout.readline().strip() == "ready"
    time.sleep(0.05)
    os.kill(child.pid, signal.SIGKILL)
    child.wait()
    sm = StoreStateMachine.open(db)
    recovered = sm.applied_index
    assert 500 <= recovered <= n + 1
    apply_all(sm, workload(n))
    ref = StoreStateMachine.open(tmp_path / "ref.db")
    apply_all(ref, workload(n))
    assert sm.hash_kv() == ref.hash_kv() and sm.applied_index == ref.applied_index == n + 1
    sm.close()
    ref.close()


# -- failures that are not refusals ----------------------------------------------------------------------


def test_an_apply_that_cannot_complete_stops_the_state_machine(log):
    log.put(b"a", b"1")
    backend = log.sm._backend
    real_insert = backend.insert

    def failing_insert(*args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    backend.insert = failing_insert  # fault injection: the disk fails mid-apply
    with pytest.raises(sqlite3.OperationalError):
        log.sm.apply(2, PutRequest(key=b"b"))
    backend.insert = real_insert
    with pytest.raises(StateMachineStopped):
        log.sm.apply(3, PutRequest(key=b"c"))
    with pytest.raises(StateMachineStopped):
        log.sm.range(RangeRequest(key=b"a"))
    log.reopen()
    assert log.sm.applied_index == 1 and log.get(b"b") is None  # entry 2 was not applied
    assert log.sm.apply(2, PutRequest(key=b"b")).header.revision == 3


# -- encoded requests and limits -----------------------------------------------------------------------------


def test_apply_takes_encoded_requests(log):
    resp = log.sm.apply(1, encode_request(PutRequest(key=b"a", value=b"x")))
    assert resp.header.revision == 2 and log.get(b"a").value == b"x"
    with pytest.raises(InvalidRequestError):
        log.sm.apply(2, b"\x93\x01\x63")
    assert log.sm.applied_index == 2


def test_request_size_limit(tmp_path):
    log = Log(tmp_path / "s.db", limits=Limits(max_request_bytes=100))
    log.put(b"a", b"x" * 80)
    with pytest.raises(RequestTooLargeError) as e:
        log.put(b"a", b"x" * 100)
    assert str(e.value) == "etcdserver: request is too large"
    with pytest.raises(RequestTooLargeError):
        log.sm.apply(10, encode_request(PutRequest(key=b"a", value=b"y" * 100)))
    assert log.get(b"a").value == b"x" * 80 and log.sm.applied_index == 10
    log.close()


# -- snapshots -------------------------------------------------------------------------------------------------


def test_snapshot_restore_round_trip(tmp_path):
    src = Log(tmp_path / "src.db", compaction_batch=3)
    apply_all(src.sm, workload(400))
    src.index = src.sm.applied_index
    assert src.sm.compact_revision < src.sm.revision - 2
    src.compact(src.sm.revision - 2)  # leaves a physical compaction pending
    assert src.sm._meta.scheduled_compaction >= 0
    data = src.sm.snapshot()
    dst = Log(tmp_path / "dst.db")
    dst.put(b"will-be-replaced")
    dst.sm.restore(data)
    for attr in ("applied_index", "revision", "compact_revision"):
        assert getattr(dst.sm, attr) == getattr(src.sm, attr)
    assert dst.sm.hash_kv() == src.sm.hash_kv()
    assert dst.all() == src.all()
    assert dst.sm.lease_leases() == src.sm.lease_leases()
    # Both continue identically.
    for store in (src, dst):
        store.index = store.sm.applied_index
        for i in range(20):
            store.put(b"after%d" % i)
    assert dst.sm.hash_kv() == src.sm.hash_kv() and dst.sm.stored_bytes == src.sm.stored_bytes
    dst.reopen()
    assert dst.sm.hash_kv() == src.sm.hash_kv()
    src.close()
    dst.close()


def test_restore_with_the_raft_index_and_bad_data(log):
    log.put(b"a")
    data = log.sm.snapshot()
    log.put(b"b")
    with pytest.raises(BackendError):
        log.sm.restore(b"not a database at all" * 100)
    assert log.get(b"b") is not None  # unchanged
    log.sm.restore(data, index=9)
    assert log.sm.applied_index == 9 and log.get(b"b") is None
    log.reopen()
    assert log.sm.applied_index == 9


def test_malformed_request_objects_are_refused_not_fatal(log):
    with pytest.raises(InvalidRequestError):
        log.sm.apply(1, PutRequest(key="str key"))  # type: ignore[arg-type]
    with pytest.raises(InvalidRequestError):
        log.sm.apply(2, TxnRequest(success=(CompactionRequest(revision=1),)))
    with pytest.raises(InvalidRequestError):
        log.sm.apply(3, object())
    log.index = 3
    assert log.sm.applied_index == 3 and log.put(b"a").header.revision == 2
