"""Range, put and delete range with etcd 3.4's semantics, against a real
store in SQLite."""
import pytest

from consensus.mvcc.api import (
    CompactedError,
    FutureRevisionError,
    InvalidRequestError,
    KeyNotFoundError,
    KeyNotProvidedError,
    KeyTooLargeError,
    KeyValue,
    LeaseNotFoundError,
    LeaseProvidedError,
    Limits,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    ValueProvidedError,
)

from .store_support import Log


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "store.db")
    yield log
    log.close()


def fill(log: Log) -> None:
    """a=1@2, b=22@3, c=3@4, a=444@5, d=0@6 (versions a:2, others 1)."""
    log.put(b"a", b"1")
    log.put(b"b", b"22")
    log.put(b"c", b"3")
    log.put(b"a", b"444")
    log.put(b"d", b"0")


def keys(resp) -> list[bytes]:
    return [kv.key for kv in resp.kvs]


# -- revisions ----------------------------------------------------------------------------


def test_empty_store_is_at_revision_1(log):
    assert log.sm.revision == 1
    resp = log.range(b"a")
    assert resp.header.revision == 1 and resp.count == 0 and resp.kvs == () and not resp.more


def test_each_write_takes_one_revision_and_keys_carry_theirs(log):
    assert log.put(b"a", b"1").header.revision == 2
    assert log.put(b"b", b"2").header.revision == 3
    assert log.put(b"a", b"3").header.revision == 4
    assert log.get(b"a") == KeyValue(b"a", create_revision=2, mod_revision=4, version=2, value=b"3")
    assert log.get(b"b") == KeyValue(b"b", create_revision=3, mod_revision=3, version=1, value=b"2")


def test_delete_resets_version_and_recreate_gets_new_create_revision(log):
    log.put(b"a")
    log.put(b"a")
    assert log.delete(b"a").header.revision == 4
    assert log.get(b"a") is None
    log.put(b"a", b"again")
    assert log.get(b"a") == KeyValue(b"a", create_revision=5, mod_revision=5, version=1, value=b"again")


def test_delete_matching_nothing_does_not_take_a_revision(log):
    log.put(b"a")
    resp = log.delete(b"x")
    assert resp.deleted == 0 and resp.header.revision == 2 and log.sm.revision == 2
    assert log.put(b"b").header.revision == 3


# -- range ----------------------------------------------------------------------------------


def test_single_key_prefix_from_key_and_all_keys(log):
    fill(log)
    log.put(b"ab", b"x")
    assert keys(log.range(b"a")) == [b"a"]
    assert keys(log.range(b"a", b"b")) == [b"a", b"ab"]  # prefix "a"
    assert keys(log.range(b"b", b"\0")) == [b"b", b"c", b"d"]  # from b to the end
    assert keys(log.range(b"\0", b"\0")) == [b"a", b"ab", b"b", b"c", b"d"]
    assert keys(log.range(b"c", b"a")) == []  # end before key
    assert log.range(b"zz").count == 0


def test_limit_sets_more_and_count_is_all_matches(log):
    fill(log)
    resp = log.range(b"\0", b"\0", limit=2)
    assert keys(resp) == [b"a", b"b"] and resp.more and resp.count == 4
    resp = log.range(b"\0", b"\0", limit=4)
    assert len(resp.kvs) == 4 and not resp.more and resp.count == 4
    resp = log.range(b"\0", b"\0", limit=-1)  # negative: no limit, as in etcd
    assert len(resp.kvs) == 4 and not resp.more


def test_count_only_and_keys_only(log):
    fill(log)
    resp = log.range(b"\0", b"\0", count_only=True, limit=1)
    assert resp.kvs == () and resp.count == 4 and not resp.more
    resp = log.range(b"a", b"c", keys_only=True)
    assert [(kv.key, kv.value, kv.version) for kv in resp.kvs] == [(b"a", b"", 2), (b"b", b"", 1)]


@pytest.mark.parametrize(
    ("order", "target", "expected"),
    [
        (SortOrder.NONE, SortTarget.KEY, [b"a", b"b", b"c", b"d"]),
        (SortOrder.ASCEND, SortTarget.KEY, [b"a", b"b", b"c", b"d"]),
        (SortOrder.DESCEND, SortTarget.KEY, [b"d", b"c", b"b", b"a"]),
        (SortOrder.ASCEND, SortTarget.VALUE, [b"d", b"b", b"c", b"a"]),  # "0" < "22" < "3" < "444"
        (SortOrder.DESCEND, SortTarget.VALUE, [b"a", b"c", b"b", b"d"]),
        (SortOrder.ASCEND, SortTarget.CREATE, [b"a", b"b", b"c", b"d"]),
        (SortOrder.DESCEND, SortTarget.MOD, [b"d", b"a", b"c", b"b"]),
        (SortOrder.DESCEND, SortTarget.VERSION, [b"a", b"b", b"c", b"d"]),  # ties keep key order
        (SortOrder.NONE, SortTarget.MOD, [b"b", b"c", b"a", b"d"]),  # non-key target: ascending
    ],
)
def test_sort_orders_and_targets(log, order, target, expected):
    fill(log)
    assert keys(log.range(b"\0", b"\0", sort_order=order, sort_target=target)) == expected


def test_sort_with_limit_sorts_everything_first(log):
    fill(log)
    resp = log.range(b"\0", b"\0", sort_order=SortOrder.DESCEND, sort_target=SortTarget.MOD, limit=2)
    assert keys(resp) == [b"d", b"a"] and resp.more and resp.count == 4


def test_non_key_target_with_order_none_sorts_only_the_first_limit_plus_one(log):
    # etcd 3.4 lifts the limit only when sort_order is set: with order NONE
    # and target MOD it reads limit+1 keys in key order (a, b, c), sorts
    # those by mod revision (b@3, c@4, a@5), then cuts to the limit.
    fill(log)
    resp = log.range(b"\0", b"\0", sort_target=SortTarget.MOD, limit=2)
    assert keys(resp) == [b"b", b"c"] and resp.more and resp.count == 4


def test_revision_filters_prune_kvs_but_not_count(log):
    fill(log)
    resp = log.range(b"\0", b"\0", min_mod_revision=4)
    assert keys(resp) == [b"a", b"c", b"d"] and resp.count == 4
    assert keys(log.range(b"\0", b"\0", max_mod_revision=4)) == [b"b", b"c"]
    assert keys(log.range(b"\0", b"\0", min_create_revision=3, max_create_revision=4)) == [b"b", b"c"]
    resp = log.range(b"\0", b"\0", min_mod_revision=4, limit=1)
    assert keys(resp) == [b"a"] and resp.more and resp.count == 4


def test_historical_reads_see_the_store_as_it_was(log):
    fill(log)
    log.delete(b"b")
    assert log.get(b"a", revision=2).value == b"1"
    assert log.get(b"a", revision=5).value == b"444"
    assert log.get(b"b", revision=6).value == b"22"
    assert log.get(b"b", revision=7) is None
    old = log.range(b"\0", b"\0", revision=3)
    assert keys(old) == [b"a", b"b"] and old.header.revision == 7  # header: current revision
    assert log.range(b"a", revision=1).count == 0
    assert log.range(b"a", revision=-3).kvs[0].value == b"444"  # <= 0: current


def test_future_and_compacted_revisions_fail(log):
    fill(log)
    with pytest.raises(FutureRevisionError) as e:
        log.range(b"a", revision=7)
    assert str(e.value) == "etcdserver: mvcc: required revision is a future revision"
    log.compact(4)
    with pytest.raises(CompactedError) as c:
        log.range(b"a", revision=3)
    assert c.value.compact_revision == 4
    assert str(c.value) == "etcdserver: mvcc: required revision has been compacted"
    assert log.get(b"a", revision=4).value == b"1"  # at the compact revision: fine


def test_range_refuses_an_empty_key_and_bad_enums(log):
    with pytest.raises(KeyNotProvidedError):
        log.range(b"")
    with pytest.raises(InvalidRequestError):
        log.sm.range(RangeRequest(key=b"a", sort_order=7))


# -- put --------------------------------------------------------------------------------------


def test_put_prev_kv(log):
    assert log.put(b"a", b"1", prev_kv=True).prev_kv is None
    prev = log.put(b"a", b"2", prev_kv=True).prev_kv
    assert prev == KeyValue(b"a", create_revision=2, mod_revision=2, version=1, value=b"1")
    assert log.put(b"a", b"3").prev_kv is None  # not asked for


def test_ignore_value_keeps_the_value_and_ignore_lease_the_lease(log):
    lease = log.grant()
    log.put(b"a", b"kept", lease=lease)
    log.put(b"a", b"", ignore_value=True)
    assert log.get(b"a").value == b"kept" and log.get(b"a").lease == 0  # lease not kept: detached
    log.put(b"a", b"new", lease=lease)
    log.put(b"a", b"newer", ignore_lease=True)
    assert (log.get(b"a").value, log.get(b"a").lease) == (b"newer", lease)


@pytest.mark.parametrize(
    ("request_", "error", "message"),
    [
        (PutRequest(key=b"a", value=b"x", ignore_value=True), ValueProvidedError, "etcdserver: value is provided"),
        (PutRequest(key=b"a", lease=5, ignore_lease=True), LeaseProvidedError, "etcdserver: lease is provided"),
        (PutRequest(key=b"missing", ignore_value=True), KeyNotFoundError, "etcdserver: key not found"),
        (PutRequest(key=b"missing", ignore_lease=True), KeyNotFoundError, "etcdserver: key not found"),
        (PutRequest(key=b"a", lease=12345), LeaseNotFoundError, "etcdserver: requested lease not found"),
        (PutRequest(key=b""), KeyNotProvidedError, "etcdserver: key is not provided"),
    ],
)
def test_refused_puts_change_nothing_but_count_as_applied(log, request_, error, message):
    log.put(b"a", b"1")
    before = log.sm.hash_kv().hash
    with pytest.raises(error) as e:
        log(request_)
    assert str(e.value) == message
    assert log.sm.revision == 2 and log.sm.hash_kv().hash == before
    assert log.sm.applied_index == log.index


def test_key_size_limit(tmp_path):
    log = Log(tmp_path / "s.db", limits=Limits(max_key_bytes=4))
    log.put(b"abcd")
    with pytest.raises(KeyTooLargeError):
        log.put(b"abcde")
    assert log.sm.revision == 2
    log.close()


# -- delete range ------------------------------------------------------------------------------


def test_delete_range_counts_and_returns_prev_kvs(log):
    fill(log)
    resp = log.delete(b"b", b"d", prev_kv=True)
    assert resp.deleted == 2 and resp.header.revision == 7
    assert [(kv.key, kv.value) for kv in resp.prev_kvs] == [(b"b", b"22"), (b"c", b"3")]
    assert keys(log.range(b"\0", b"\0")) == [b"a", b"d"]
    resp = log.delete(b"\0", b"\0")
    assert resp.deleted == 2 and resp.prev_kvs == () and log.sm.revision == 8
    assert log.range(b"\0", b"\0").count == 0
    with pytest.raises(KeyNotProvidedError):
        log.delete(b"")


def test_a_limited_range_sorted_by_key_reads_only_the_rows_it_returns(log, monkeypatch):
    # Newest-first pages of a long history (keys in sequence order, read
    # descending) must not read every row: only the last limit + 1.
    for i in range(200):
        log.put(b"h/%03d" % i, b"x" * 100)
    backend = log.sm._store.backend
    fetched = []
    real_fetch = backend.fetch
    monkeypatch.setattr(backend, "fetch", lambda revs: fetched.append(len(revs)) or real_fetch(revs))
    resp = log.range(b"h/", b"h0", sort_order=SortOrder.DESCEND, sort_target=SortTarget.KEY, limit=5)
    assert keys(resp) == [b"h/199", b"h/198", b"h/197", b"h/196", b"h/195"] and resp.more and resp.count == 200
    resp = log.range(b"h/", b"h/195", sort_order=SortOrder.DESCEND, sort_target=SortTarget.KEY, limit=5)
    assert keys(resp) == [b"h/194", b"h/193", b"h/192", b"h/191", b"h/190"] and resp.more
    resp = log.range(b"h/", b"h0", sort_order=SortOrder.ASCEND, sort_target=SortTarget.KEY, limit=3)
    assert keys(resp) == [b"h/000", b"h/001", b"h/002"] and resp.more
    assert fetched == [6, 6, 4]
    resp = log.range(b"h/198", b"h0", sort_order=SortOrder.DESCEND, sort_target=SortTarget.KEY, limit=5)
    assert keys(resp) == [b"h/199", b"h/198"] and not resp.more
