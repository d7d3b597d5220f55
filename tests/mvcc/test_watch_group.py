"""The fan-out index (``WatcherGroup``): ``match`` must return exactly the
buckets whose range holds a key, each once, whatever mix of single keys,
prefixes, open-ended and general ranges is indexed, across adds and removes.
"""
from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.mvcc.api import Event, EventType, KeyValue, WatchCreateRequest
from consensus.mvcc.watch_hub import WatchHub
from consensus.mvcc.watcher import Watcher
from consensus.mvcc.watcher_group import (
    OPEN_END,
    WatcherGroup,
    is_empty_range,
    key_in_range,
    prefix_end,
)

from .watch_harness import HistoryLog, drain


def make_watcher(watch_id: int, key: bytes, range_end: bytes) -> Watcher:
    return Watcher(
        None, watch_id, key, range_end, prev_kv=False, no_put=False, no_delete=False,
        progress_notify=False, capacity=10, next_revision=1,
    )


def test_prefix_end_matches_etcd():
    assert prefix_end(b"a") == b"b"
    assert prefix_end(b"foo/") == b"foo0"
    assert prefix_end(b"a\xff") == b"b"
    assert prefix_end(b"a\xff\xff") == b"b"
    assert prefix_end(b"\xff\xff") == OPEN_END
    assert prefix_end(b"") == OPEN_END


def test_empty_range_rule():
    assert is_empty_range(b"b", b"a") and is_empty_range(b"a", b"a")
    assert not is_empty_range(b"a", b"") and not is_empty_range(b"a", b"\0")
    assert not is_empty_range(b"a", b"b")


def test_prefix_range_holds_exactly_the_keys_with_that_prefix():
    for prefix in (b"a", b"a\xff", b"\x00", b"ab\xff\xff", b"\xff"):
        end = prefix_end(prefix)
        for key in (b"", b"a", b"a\xff", b"a\xff\x00", b"ab", b"ab\xff\xff\x01", b"b", b"\x00", b"\xff", b"\xff\x00"):
            assert key_in_range(key, prefix, end) == key.startswith(prefix), (prefix, key)


# Small alphabets make overlaps, shared prefixes and 0xff edge cases common.
keys = st.binary(min_size=0, max_size=4).map(lambda b: bytes(x % 4 if x % 5 else 0xFF for x in b))


@st.composite
def ranges(draw):
    key = draw(keys)
    shape = draw(st.sampled_from(["single", "prefix", "open", "range"]))
    if shape == "single":
        return key, b""
    if shape == "prefix":
        return key, prefix_end(key)
    if shape == "open":
        return key, OPEN_END
    end = draw(keys)
    if is_empty_range(key, end) or end in (b"", OPEN_END):
        return key, OPEN_END
    return key, end


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(ranges(), st.booleans()), min_size=1, max_size=30),
    st.lists(keys, min_size=1, max_size=20),
)
def test_match_equals_brute_force(operations, probes):
    group = WatcherGroup()
    live: dict[int, Watcher] = {}
    for watch_id, ((key, end), remove_one) in enumerate(operations):
        watcher = make_watcher(watch_id, key, end)
        group.add(watcher)
        live[watch_id] = watcher
        if remove_one and len(live) > 1:
            victim_id = sorted(live)[watch_id % len(live)]
            group.remove(live.pop(victim_id))
    assert len(group) == len(live)
    for probe in probes:
        buckets = list(group.match(probe))
        assert len(buckets) == len({id(b) for b in buckets}), "a bucket matched twice"
        got = sorted(w.id for bucket in buckets for w in bucket.watchers)
        want = sorted(i for i, w in live.items() if key_in_range(probe, w.key, w.range_end))
        assert got == want, probe
    for watcher in list(live.values()):
        group.remove(watcher)
    assert len(group) == 0 and group.bucket_count == 0
    assert not group._single and not group._prefix and not group._prefix_lengths
    assert not group._open and not group._ranges


def test_identical_ranges_share_one_bucket():
    group = WatcherGroup()
    for i in range(100):
        group.add(make_watcher(i, b"app/", prefix_end(b"app/")))
    assert group.bucket_count == 1
    [bucket] = list(group.match(b"app/x"))
    assert len(bucket.watchers) == 100


def test_fan_out_to_10000_watchers_on_one_prefix():
    """Correctness of a wide fan-out, plus a rough timing print (the speed
    target of <= 50 ms per event is measured by bench/watch_bench.py, not
    asserted here)."""
    store = HistoryLog()
    hub = WatchHub.attach(store)
    watchers = [hub.watch(WatchCreateRequest(key=b"cfg/", range_end=prefix_end(b"cfg/"))) for _ in range(10_000)]
    # a few watchers elsewhere must not be touched
    others = [hub.watch(WatchCreateRequest(key=b"cfh/", range_end=prefix_end(b"cfh/"))) for _ in range(10)]
    for watcher in watchers + others:
        drain(watcher)
    started = time.perf_counter()
    revision = store.put(b"cfg/db/url", b"postgres://")
    elapsed = time.perf_counter() - started
    print(f"\none event to 10,000 watchers: {elapsed * 1e3:.1f} ms")
    for watcher in watchers:
        [response] = drain(watcher)
        assert [(e.kv.key, e.kv.mod_revision) for e in response.events] == [(b"cfg/db/url", revision)]
    assert all(not drain(w) for w in others)


def test_a_revision_touching_many_keys_groups_events_per_bucket():
    group_hub_store = HistoryLog()
    hub = WatchHub.attach(group_hub_store)
    a = hub.watch(WatchCreateRequest(key=b"a", range_end=b"c"))
    b = hub.watch(WatchCreateRequest(key=b"b"))
    drain(a), drain(b)
    events = [Event(EventType.PUT, KeyValue(key=k, mod_revision=2)) for k in (b"a", b"b", b"c", b"b1")]
    hub.on_apply(2, events)
    assert [e.kv.key for r in drain(a) for e in r.events] == [b"a", b"b", b"b1"]
    assert [e.kv.key for r in drain(b) for e in r.events] == [b"b"]
