"""Txn: compares, branches, nesting, one revision per txn, duplicate-key
and op-count checks — etcd 3.4's apply.go and v3rpc/key.go semantics."""
import pytest

from consensus.mvcc.api import (
    CompareResult as R,
    CompareTarget as T,
    DeleteRangeRequest,
    DeleteRangeResponse,
    DuplicateKeyError,
    EventType,
    FutureRevisionError,
    KeyNotFoundError,
    KeyNotProvidedError,
    LeaseNotFoundError,
    Limits,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TooManyOpsError,
    TxnRequest,
    TxnResponse,
)

from .store_support import Log, cmp


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "store.db")
    yield log
    log.close()


def put(key: bytes, value: bytes = b"v", **kw) -> PutRequest:
    return PutRequest(key=key, value=value, **kw)


def succeeds(log: Log, *compares) -> bool:
    return log.txn(compare=compares).succeeded


# -- compares ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "operand", "expected"),  # key "k": value b"m", version 2, create 2, mod 3, lease L
    [
        (T.VALUE, b"m", {R.EQUAL}),
        (T.VALUE, b"a", {R.GREATER, R.NOT_EQUAL}),
        (T.VALUE, b"z", {R.LESS, R.NOT_EQUAL}),
        (T.VALUE, b"mm", {R.LESS, R.NOT_EQUAL}),
        (T.VERSION, 2, {R.EQUAL}),
        (T.VERSION, 1, {R.GREATER, R.NOT_EQUAL}),
        (T.CREATE, 2, {R.EQUAL}),
        (T.CREATE, 5, {R.LESS, R.NOT_EQUAL}),
        (T.MOD, 3, {R.EQUAL}),
        (T.MOD, 2, {R.GREATER, R.NOT_EQUAL}),
        (T.LEASE, 0, {R.GREATER, R.NOT_EQUAL}),
    ],
)
def test_compare_targets_and_results(log, target, operand, expected):
    lease = log.grant()  # revision stays 1
    log.put(b"k", b"x")
    log.put(b"k", b"m", lease=lease)
    for result in R:
        assert succeeds(log, cmp(b"k", target, result, operand)) == (result in expected), result
    assert succeeds(log, cmp(b"k", T.LEASE, R.EQUAL, lease))


def test_absent_key_compares_as_zero_but_value_compares_fail(log):
    assert succeeds(log, cmp(b"nope", T.VERSION, R.EQUAL, 0))
    assert succeeds(log, cmp(b"nope", T.CREATE, R.LESS, 1))
    assert succeeds(log, cmp(b"nope", T.MOD, R.EQUAL, 0))
    assert succeeds(log, cmp(b"nope", T.LEASE, R.EQUAL, 0))
    assert not succeeds(log, cmp(b"nope", T.VALUE, R.EQUAL, b""))
    assert not succeeds(log, cmp(b"nope", T.VALUE, R.NOT_EQUAL, b"x"))
    assert succeeds(log, cmp(b"a", T.VERSION, R.EQUAL, 0, range_end=b"b"))  # empty range: zero values


def test_range_compare_needs_every_key(log):
    log.put(b"a1", b"x")
    log.put(b"a2", b"x")
    log.put(b"a3", b"y")
    assert not succeeds(log, cmp(b"a", T.VALUE, R.EQUAL, b"x", range_end=b"b"))
    assert succeeds(log, cmp(b"a", T.VALUE, R.EQUAL, b"x", range_end=b"a3"))
    assert succeeds(log, cmp(b"a", T.VERSION, R.GREATER, 0, range_end=b"\0"))
    assert succeeds(log, cmp(b"a2", T.MOD, R.GREATER, 2, range_end=b"\0"))


def test_operand_of_the_wrong_kind_counts_as_zero(log):
    log.put(b"k", b"")
    assert succeeds(log, cmp(b"k", T.VALUE, R.EQUAL, 7))  # int operand for VALUE: b""
    assert succeeds(log, cmp(b"k", T.VERSION, R.GREATER, b"\x05"))  # bytes operand for VERSION: 0


def test_all_compares_must_hold(log):
    log.put(b"a", b"1")
    ok = cmp(b"a", T.VALUE, R.EQUAL, b"1")
    bad = cmp(b"a", T.VERSION, R.EQUAL, 9)
    assert succeeds(log, ok, ok)
    assert not succeeds(log, ok, bad)


# -- branches and revisions ---------------------------------------------------------------------


def test_success_and_failure_branches(log):
    guard = cmp(b"lock", T.VERSION, R.EQUAL, 0)
    resp = log.txn([guard], success=[put(b"lock", b"me")], failure=[RangeRequest(key=b"lock")])
    assert resp.succeeded and resp.header.revision == 2
    resp = log.txn([guard], success=[put(b"lock", b"you")], failure=[RangeRequest(key=b"lock")])
    assert not resp.succeeded and resp.header.revision == 2
    assert resp.responses[0].kvs[0].value == b"me"


def test_whole_txn_at_one_revision_with_increasing_sub_revisions(log):
    log.put(b"x", b"old")
    seen = []
    log.sm.add_apply_listener(lambda rev, events: seen.append((rev, events)))
    resp = log.txn(success=[put(b"a"), DeleteRangeRequest(key=b"x"), put(b"b")])
    assert resp.header.revision == 3 and log.sm.revision == 3
    assert [r.header.revision for r in resp.responses] == [3, 3, 3]
    assert seen[0][0] == 3
    assert [(e.type, e.kv.key, e.kv.mod_revision) for e in seen[0][1]] == [
        (EventType.PUT, b"a", 3), (EventType.DELETE, b"x", 3), (EventType.PUT, b"b", 3)
    ]
    events, _ = log.sm.history(b"\0", b"\0", 3)
    assert [e.kv.key for _, e in events] == [b"a", b"x", b"b"]


def test_reads_inside_a_txn_see_its_earlier_writes(log):
    log.put(b"a", b"1")
    resp = log.txn(success=[
        RangeRequest(key=b"a"),
        put(b"a", b"2", prev_kv=True),
        RangeRequest(key=b"a"),
        RangeRequest(key=b"a", revision=2),
    ])
    first, written, after, historical = resp.responses
    assert first.kvs[0].value == b"1" and first.header.revision == 2
    assert written.prev_kv.value == b"1"
    assert after.kvs[0].value == b"2" and after.kvs[0].version == 2 and after.header.revision == 3
    assert historical.kvs[0].value == b"1"


def test_txn_that_writes_nothing_takes_no_revision(log):
    log.put(b"a")
    assert log.txn(success=[RangeRequest(key=b"a")]).header.revision == 2  # read-only
    resp = log.txn([cmp(b"a", T.VERSION, R.EQUAL, 5)], success=[put(b"b")], failure=[RangeRequest(key=b"a")])
    assert not resp.succeeded and resp.header.revision == 2
    resp = log.txn(success=[DeleteRangeRequest(key=b"nothing")])
    assert resp.header.revision == 2 and resp.responses[0].header.revision == 2
    assert log.sm.revision == 2


def test_nested_txns_take_their_branches_and_report_a_zero_header(log):
    log.put(b"a", b"1")
    inner = TxnRequest(
        compare=(cmp(b"a", T.VALUE, R.EQUAL, b"1"),),
        success=(put(b"inner-yes"),),
        failure=(put(b"inner-no"),),
    )
    resp = log.txn(success=[put(b"outer"), inner, RangeRequest(key=b"inner-yes")])
    assert resp.succeeded and resp.header.revision == 3
    outer, nested, read = resp.responses
    assert isinstance(outer, PutResponse) and isinstance(nested, TxnResponse) and isinstance(read, RangeResponse)
    assert nested.succeeded and nested.header.revision == 0
    assert nested.responses[0].header.revision == 3
    assert read.count == 1
    assert log.get(b"inner-no") is None


def test_nested_compares_see_the_store_before_the_outer_writes(log):
    # etcd evaluates every compare on the path before any op runs.
    inner = TxnRequest(compare=(cmp(b"a", T.VERSION, R.EQUAL, 0),), success=(put(b"saw-no-a"),),
                       failure=(put(b"saw-a"),))
    log.txn(success=[put(b"a"), inner])
    assert log.get(b"saw-no-a") is not None and log.get(b"saw-a") is None


# -- refusals: nothing applied -----------------------------------------------------------------


def refused(log: Log, error, **txn) -> None:
    before = (log.sm.revision, log.sm.hash_kv().hash)
    with pytest.raises(error):
        log.txn(**txn)
    assert (log.sm.revision, log.sm.hash_kv().hash) == before
    assert log.sm.applied_index == log.index


@pytest.mark.parametrize(
    "success",
    [
        [put(b"a"), put(b"a")],
        [put(b"a"), DeleteRangeRequest(key=b"a")],
        [DeleteRangeRequest(key=b"a", range_end=b"c"), put(b"b")],
        [put(b"b"), TxnRequest(success=(put(b"b"),))],
        [TxnRequest(success=(put(b"b"),)), put(b"b")],
        [DeleteRangeRequest(key=b"a", range_end=b"z"), TxnRequest(failure=(put(b"q"),))],
        [TxnRequest(success=(put(b"x"),)), TxnRequest(failure=(put(b"x"),))],
        [TxnRequest(success=(DeleteRangeRequest(key=b"x"),)), put(b"x")],
    ],
)
def test_duplicate_keys_are_refused(log, success):
    log.put(b"a")
    refused(log, DuplicateKeyError, success=success)


@pytest.mark.parametrize(
    "success",
    [
        [DeleteRangeRequest(key=b"a"), DeleteRangeRequest(key=b"a", range_end=b"z")],  # deletes may overlap
        [TxnRequest(success=(put(b"x", b"then"),), failure=(put(b"x", b"else"),))],  # only one branch runs
        [put(b"a", b"p"), DeleteRangeRequest(key=b"a", range_end=b"\0")],  # "\0" end: literal, empty interval
        [TxnRequest(success=(put(b"x"),)), TxnRequest(success=(DeleteRangeRequest(key=b"x"),))],  # sibling quirk
    ],
)
def test_what_etcd_does_not_count_as_duplicates(log, success):
    log.put(b"a")
    assert log.txn(success=success).succeeded


def test_put_then_delete_of_the_same_key_in_one_revision(log):
    # Allowed by the "\0" quirk above: both changes land in revision 3.
    log.put(b"a", b"old")
    seen = []
    log.sm.add_apply_listener(lambda rev, events: seen.append(events))
    resp = log.txn(success=[put(b"a", b"p"), DeleteRangeRequest(key=b"a", range_end=b"\0")])
    assert resp.responses[1].deleted == 1
    assert log.get(b"a") is None and log.get(b"a", revision=2).value == b"old"
    assert [(e.type, e.prev_kv.value) for e in seen[0]] == [(EventType.PUT, b"old"), (EventType.DELETE, b"old")]
    log.put(b"a", b"new")
    assert log.get(b"a").create_revision == 4 and log.get(b"a").version == 1


def test_too_many_ops(tmp_path):
    log = Log(tmp_path / "s.db", limits=Limits(max_txn_ops=3))
    ok = [put(b"a"), put(b"b"), put(b"c")]
    assert log.txn(success=ok).succeeded
    refused(log, TooManyOpsError, success=ok + [put(b"d")])
    refused(log, TooManyOpsError, compare=[cmp(b"a", T.VERSION, R.EQUAL, 0)] * 4)
    # A nested txn gets what the outer level leaves: 3 - 2 = 1 op.
    refused(log, TooManyOpsError, success=[put(b"x"), TxnRequest(success=(put(b"y"), put(b"z")))])
    assert log.txn(success=[put(b"x"), TxnRequest(success=(put(b"y"),))]).succeeded
    log.close()


def test_checks_of_ops_on_the_taken_path(log):
    log.put(b"a")
    refused(log, LeaseNotFoundError, success=[put(b"b", lease=99)])
    refused(log, KeyNotFoundError, success=[put(b"b", b"", ignore_value=True)])
    refused(log, FutureRevisionError, success=[put(b"b"), RangeRequest(key=b"a", revision=50)])
    refused(log, KeyNotProvidedError, compare=[cmp(b"", T.VERSION, R.EQUAL, 0)])
    refused(log, KeyNotProvidedError, failure=[DeleteRangeRequest(key=b"")])
    # An op on the branch not taken is not checked (beyond its shape).
    assert log.txn(success=[put(b"b")], failure=[put(b"c", lease=99)]).succeeded


def test_delete_inside_txn_reports_deleted_and_prev(log):
    log.put(b"a", b"1")
    resp = log.txn(success=[DeleteRangeRequest(key=b"a", prev_kv=True), DeleteRangeRequest(key=b"a")])
    first, second = resp.responses
    assert isinstance(first, DeleteRangeResponse)
    assert first.deleted == 1 and first.prev_kvs[0].value == b"1"
    assert second.deleted == 0 and second.header.revision == 3  # the txn already changed something
