"""history() — what the watch hub catches up from — and apply listeners."""
import pytest

from consensus.mvcc.api import CompactedError, DeleteRangeRequest, EventType, KeyValue, PutRequest
from .store_support import Log


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "store.db")
    yield log
    log.close()


def summary(events):
    return [(rev, e.type.name, e.kv.key, e.kv.value, e.prev_kv.value if e.prev_kv else None) for rev, e in events]


def test_events_in_revision_order_with_prev_kv(log):
    log.put(b"a", b"1")
    log.put(b"b", b"1")
    log.put(b"a", b"2")
    log.delete(b"a")
    log.put(b"a", b"3")
    events, next_rev = log.sm.history(b"\0", b"\0", 1)
    assert next_rev == 7
    assert summary(events) == [
        (2, "PUT", b"a", b"1", None),
        (3, "PUT", b"b", b"1", None),
        (4, "PUT", b"a", b"2", b"1"),
        (5, "DELETE", b"a", b"", b"2"),
        (6, "PUT", b"a", b"3", None),  # a creation has no prev_kv
    ]
    delete = events[3][1]
    assert delete.kv == KeyValue(b"a", mod_revision=5)  # etcd's delete event: key and mod revision only


def test_key_and_range_filters(log):
    for key in (b"a", b"ab", b"b", b"c"):
        log.put(key)
    keys = lambda k, end: [e.kv.key for _, e in log.sm.history(k, end, 1)[0]]  # noqa: E731
    assert keys(b"a", b"") == [b"a"]
    assert keys(b"a", b"b") == [b"a", b"ab"]
    assert keys(b"b", b"\0") == [b"b", b"c"]
    assert keys(b"\0", b"\0") == [b"a", b"ab", b"b", b"c"]


def test_max_events_never_splits_a_revision(log):
    log.put(b"x")
    log.txn(success=[PutRequest(key=b"a"), PutRequest(key=b"b"), PutRequest(key=b"c")])
    log.put(b"y")
    events, next_rev = log.sm.history(b"\0", b"\0", 1, max_events=2)
    assert [(rev, e.kv.key) for rev, e in events] == [(2, b"x"), (3, b"a"), (3, b"b"), (3, b"c")]
    assert next_rev == 4
    events, next_rev = log.sm.history(b"\0", b"\0", next_rev, max_events=2)
    assert [(rev, e.kv.key) for rev, e in events] == [(4, b"y")] and next_rev == 5
    events, next_rev = log.sm.history(b"\0", b"\0", 5)
    assert events == [] and next_rev == 5


def test_window_bounds_one_call(log):
    for i in range(10):
        log.put(b"busy")
    log.put(b"rare")
    collected, start, calls = [], 1, 0
    while start <= log.sm.revision:
        events, start = log.sm._store.history(b"rare", None, start, 100, window=4)
        collected += events
        calls += 1
    assert [e.kv.key for _, e in collected] == [b"rare"] and calls == 3


def test_compacted_start_raises_and_start_at_compact_revision_is_allowed(log):
    log.put(b"a", b"1")  # 2
    log.put(b"a", b"2")  # 3
    log.put(b"b", b"1")  # 4
    log.txn(success=[PutRequest(key=b"a", value=b"3"), DeleteRangeRequest(key=b"b")])  # 5
    log.put(b"c", b"1")  # 6
    log.compact(5)
    with pytest.raises(CompactedError) as e:
        log.sm.history(b"\0", b"\0", 4)
    assert e.value.compact_revision == 5
    events, next_rev = log.sm.history(b"\0", b"\0", 5)
    # Every event of the compact revision is there, the delete of b too (etcd
    # >= 3.4.34; 3.4.23 lost it, etcd#18089), without prev_kv (revision 4 is
    # compacted).
    expected = [(5, "PUT", b"a", b"3", None), (5, "DELETE", b"b", b"", None), (6, "PUT", b"c", b"1", None)]
    assert summary(events) == expected
    assert next_rev == 7
    log.reopen()  # and after a restart (etcd#19179)
    assert summary(log.sm.history(b"\0", b"\0", 5)[0]) == expected
    log.compact(6)  # until the next compaction
    assert summary(log.sm.history(b"\0", b"\0", 6)[0]) == [(6, "PUT", b"c", b"1", None)]


def test_issue_18089_scenario(log):
    for value in (b"v2", b"v3", b"v4"):
        log.put(b"k", value)
    log.delete(b"k")  # 5
    log.put(b"k", b"v6")
    log.compact(5, physical=True)
    events, _ = log.sm.history(b"k", b"", 5)
    assert [(e.type, rev) for rev, e in events] == [(EventType.DELETE, 5), (EventType.PUT, 6)]
    log.reopen()
    events, _ = log.sm.history(b"k", b"", 5)
    assert [(e.type, rev) for rev, e in events] == [(EventType.DELETE, 5), (EventType.PUT, 6)]


def test_apply_listener_gets_each_revision_after_commit(log):
    seen = []

    def listener(revision, events):
        # Committed already: a fresh read sees it.
        assert log.sm.revision == revision
        seen.append((revision, [(e.type, e.kv.key, e.prev_kv.value if e.prev_kv else None) for e in events]))

    log.sm.add_apply_listener(listener)
    log.put(b"a", b"1")
    log.put(b"a", b"2")
    log.delete(b"zzz")  # changes nothing: no call
    log.txn(success=[DeleteRangeRequest(key=b"a"), PutRequest(key=b"b")])
    assert seen == [
        (2, [(EventType.PUT, b"a", None)]),
        (3, [(EventType.PUT, b"a", b"1")]),
        (4, [(EventType.DELETE, b"a", b"2"), (EventType.PUT, b"b", None)]),
    ]


def test_a_failing_listener_does_not_break_the_store(log, caplog):
    def broken(revision, events):
        raise ValueError("listener bug")

    calls = []
    log.sm.add_apply_listener(broken)
    log.sm.add_apply_listener(lambda rev, events: calls.append(rev))
    assert log.put(b"a").header.revision == 2
    assert calls == [2] and "listener" in caplog.text
    assert log.put(b"b").header.revision == 3
