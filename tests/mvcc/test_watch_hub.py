"""Unit tests of the watch hub's request handling and response shapes.

They run against ``HistoryLog``, the in-memory double of the store's watch
interface (see ``watch_harness``): each test reads as a short script of
writes and the exact responses that must follow. The same behaviours against
the real SQLite store are covered by ``test_watch_guarantees.py`` and
``test_watch_compaction.py``.
"""
from __future__ import annotations

import asyncio

import pytest

from consensus.mvcc.api import (
    Event,
    EventType,
    KeyValue,
    ResponseHeader,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)
from consensus.mvcc.watch_hub import (
    CLOSED_HUB_REASON,
    DUPLICATE_ID_REASON,
    EMPTY_RANGE_REASON,
    INVALID_WATCH_ID,
    WatchHub,
)
from consensus.mvcc.watcher import WatchClosed, WatcherState

from .watch_harness import HistoryLog, drain, events_of


@pytest.fixture
def store() -> HistoryLog:
    return HistoryLog()


@pytest.fixture
def hub(store: HistoryLog) -> WatchHub:
    return WatchHub.attach(store)


def keys(responses: list[WatchResponse]) -> list[bytes]:
    return [event.kv.key for event in events_of(responses)]


# -- creation --------------------------------------------------------------------


def test_first_response_is_created_with_the_current_revision(store, hub):
    store.put(b"a")
    watcher = hub.watch(WatchCreateRequest(key=b"a"))
    assert drain(watcher) == [
        WatchResponse(header=ResponseHeader(revision=2), watch_id=0, created=True)
    ]


def test_ids_are_assigned_from_zero_and_requested_ids_are_kept(hub):
    assert [hub.watch(WatchCreateRequest(key=b"a")).id for _ in range(3)] == [0, 1, 2]
    assert hub.watch(WatchCreateRequest(key=b"a", watch_id=7)).id == 7
    hub.cancel(1)
    assert hub.watch(WatchCreateRequest(key=b"a")).id == 3  # assigned IDs move on, as etcd's do
    assert hub.watch(WatchCreateRequest(key=b"a", watch_id=1)).id == 1  # a freed ID may be requested


@pytest.mark.parametrize(
    ("request_", "reason"),
    [
        (WatchCreateRequest(key=b"b", range_end=b"a"), EMPTY_RANGE_REASON),
        (WatchCreateRequest(key=b"a", range_end=b"a"), EMPTY_RANGE_REASON),
        (WatchCreateRequest(key=b"a", watch_id=5), DUPLICATE_ID_REASON),
    ],
)
def test_a_refused_watch_answers_created_and_canceled_with_id_minus_one(hub, request_, reason):
    hub.watch(WatchCreateRequest(key=b"x", watch_id=5))
    watcher = hub.watch(request_)
    assert watcher.closed
    assert drain(watcher) == [
        WatchResponse(
            header=ResponseHeader(revision=1),
            watch_id=INVALID_WATCH_ID,
            created=True,
            canceled=True,
            cancel_reason=reason,
        )
    ]
    assert watcher.done
    assert len(hub) == 1


def test_a_negative_start_revision_is_a_past_one_as_in_etcd(store, hub):
    store.put(b"a")  # 2
    replay = drain(hub.watch(WatchCreateRequest(key=b"a", start_revision=-3)))
    assert [e.kv.mod_revision for e in events_of(replay)] == [2]
    store.put(b"a")  # 3
    store.compact(3)
    compacted = drain(hub.watch(WatchCreateRequest(key=b"a", start_revision=-3)))
    assert compacted[-1].canceled and compacted[-1].compact_revision == 3


def test_a_negative_watch_id_is_taken_as_requested_as_in_etcd(hub):
    watcher = hub.watch(WatchCreateRequest(key=b"a", watch_id=-3))
    assert watcher.id == -3 and drain(watcher)[0].watch_id == -3


# -- ranges ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "want"),
    [
        (WatchCreateRequest(key=b"foo"), [b"foo"]),
        (WatchCreateRequest(key=b"foo", range_end=b"fop"), [b"foo", b"foo/1", b"foo/2"]),  # prefix
        (WatchCreateRequest(key=b"fo", range_end=b"foo/2"), [b"fo", b"foo", b"foo/1"]),  # range
        (WatchCreateRequest(key=b"foo/", range_end=b"\0"), [b"foo/1", b"foo/2", b"zed"]),  # from key on
        (WatchCreateRequest(key=b"\0", range_end=b"\0"), [b"fo", b"foo", b"foo/1", b"foo/2", b"zed"]),
    ],
    ids=["key", "prefix", "range", "from-key", "everything"],
)
def test_each_kind_of_range_gets_exactly_its_keys(store, hub, request_, want):
    watcher = hub.watch(request_)
    for key in (b"fo", b"foo", b"foo/1", b"foo/2", b"zed"):
        store.put(key)
    assert keys(drain(watcher)) == want


# -- start revision ------------------------------------------------------------------


def test_start_revision_zero_watches_from_the_next_write(store, hub):
    store.put(b"k", b"old")
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    store.put(b"k", b"new")
    assert [e.kv.value for e in events_of(drain(watcher))] == [b"new"]


def test_a_past_start_revision_replays_history_then_follows_live_writes(store, hub):
    for value in (b"1", b"2", b"3"):
        store.put(b"k", value)  # revisions 2, 3, 4
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=3))
    assert watcher.state is WatcherState.UNSYNCED
    first = drain(watcher)
    assert [e.kv.value for e in events_of(first)] == [b"2", b"3"]
    assert watcher.state is WatcherState.SYNCED
    # a catch-up response carries the store's revision at the read, as etcd's syncWatchers
    assert first[1].header.revision == 4
    store.put(b"k", b"4")
    assert [e.kv.value for e in events_of(drain(watcher))] == [b"4"]


def test_a_future_start_revision_skips_writes_before_it(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=4))
    assert watcher.state is WatcherState.SYNCED
    for value in (b"2", b"3", b"4", b"5"):
        store.put(b"k", value)  # revisions 2..5
    assert [e.kv.mod_revision for e in events_of(drain(watcher))] == [4, 5]


def test_start_revision_equal_to_current_plus_one_is_synced(store, hub):
    store.put(b"k")
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=3))
    assert watcher.state is WatcherState.SYNCED
    store.put(b"k")
    assert [e.kv.mod_revision for e in events_of(drain(watcher))] == [3]


# -- options -------------------------------------------------------------------------


def test_prev_kv_is_included_only_when_asked(store, hub):
    plain = hub.watch(WatchCreateRequest(key=b"k"))
    with_prev = hub.watch(WatchCreateRequest(key=b"k", prev_kv=True))
    store.put(b"k", b"1")
    store.put(b"k", b"2")
    store.delete(b"k")
    assert [e.prev_kv for e in events_of(drain(plain))] == [None, None, None]
    prevs = [e.prev_kv.value if e.prev_kv else None for e in events_of(drain(with_prev))]
    assert prevs == [None, b"1", b"2"]


def test_filters_drop_puts_or_deletes_and_an_emptied_response_is_not_sent(store, hub):
    no_put = hub.watch(WatchCreateRequest(key=b"k", filters=(WatchFilter.NOPUT,)))
    no_delete = hub.watch(WatchCreateRequest(key=b"k", filters=(WatchFilter.NODELETE,)))
    store.put(b"k")
    store.delete(b"k")
    store.put(b"k")
    put_responses = drain(no_delete)[1:]
    delete_responses = drain(no_put)[1:]
    assert [[e.type for e in r.events] for r in put_responses] == [[EventType.PUT], [EventType.PUT]]
    assert [[e.type for e in r.events] for r in delete_responses] == [[EventType.DELETE]]
    assert delete_responses[0].header.revision == 3


def test_filters_apply_to_replayed_history_too(store, hub):
    store.put(b"k")
    store.delete(b"k")
    store.put(b"k")
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=1, filters=(WatchFilter.NOPUT,)))
    assert [(e.type, e.kv.mod_revision) for e in events_of(drain(watcher))] == [(EventType.DELETE, 3)]


def test_a_txn_reaches_a_range_watcher_in_one_response_with_only_its_keys(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"a/", range_end=b"a0"))
    store.txn(puts=[(b"a/1", b"x"), (b"b", b"y"), (b"a/2", b"z")])
    responses = drain(watcher)[1:]
    assert len(responses) == 1
    assert [e.kv.key for e in responses[0].events] == [b"a/1", b"a/2"]


# -- cancel ----------------------------------------------------------------------------


def test_cancel_delivers_buffered_events_then_canceled(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    store.put(b"k")
    assert hub.cancel(watcher.id)
    store.put(b"k")
    responses = drain(watcher)
    assert [r.created for r in responses] == [True, False, False]
    assert len(responses[1].events) == 1
    assert responses[2] == WatchResponse(header=ResponseHeader(revision=2), watch_id=0, canceled=True)
    assert watcher.resume_revision == 3
    assert watcher.done and len(hub) == 0
    assert not hub.cancel(watcher.id)
    assert not watcher.cancel()


def test_a_lagging_watcher_can_be_canceled(store, hub):
    store.put(b"k")
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=1))
    assert watcher.cancel()
    assert hub.counts() == {"synced": 0, "unsynced": 0, "victim": 0}
    assert drain(watcher)[-1].canceled


def test_close_ends_every_watch_with_its_resume_revision_and_refuses_new_ones(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    store.put(b"k")
    hub.close()
    last = drain(watcher)[-1]
    assert last.canceled and last.cancel_reason == f"{CLOSED_HUB_REASON}; resume from revision 3"
    assert watcher.resume_revision == 3
    refused = drain(hub.watch(WatchCreateRequest(key=b"k")))
    assert refused[0].canceled and refused[0].cancel_reason == CLOSED_HUB_REASON


# -- progress ------------------------------------------------------------------------------


def test_progress_goes_only_to_synced_watchers_that_asked_and_had_no_events(store, hub):
    store.put(b"q")
    quiet = hub.watch(WatchCreateRequest(key=b"q", progress_notify=True))
    busy = hub.watch(WatchCreateRequest(key=b"b", progress_notify=True))
    silent = hub.watch(WatchCreateRequest(key=b"q"))
    lagging = hub.watch(WatchCreateRequest(key=b"q", start_revision=1, progress_notify=True))
    store.put(b"b")  # revision 3
    assert hub.progress() == 1
    assert drain(quiet)[-1] == WatchResponse(header=ResponseHeader(revision=3), watch_id=quiet.id)
    assert [len(r.events) for r in drain(busy)] == [0, 1]
    assert [r.created for r in drain(silent)] == [True]
    assert lagging.state is WatcherState.UNSYNCED and len(lagging._buffer) == 1
    assert hub.progress() == 2  # quiet again, and busy: no events since the last tick
    assert drain(busy)[-1].header.revision == 3


def test_progress_is_a_bookmark_at_the_store_revision(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"q", progress_notify=True))
    store.put(b"other")  # revision 2
    assert hub.progress() == 1
    assert drain(watcher)[-1] == WatchResponse(header=ResponseHeader(revision=2), watch_id=0)


def test_progress_skips_a_tick_after_events_as_etcd_does(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"q", progress_notify=True))
    store.put(b"q")
    assert hub.progress() == 0  # events went out since the last tick
    assert hub.progress() == 1
    responses = drain(watcher)
    assert [len(r.events) for r in responses] == [0, 1, 0]
    assert responses[-1].header.revision == 2


def test_progress_notifications_collapse_into_the_newest(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"q", progress_notify=True))
    hub.progress()
    store.put(b"other")
    hub.progress()
    responses = drain(watcher)
    assert [r.header.revision for r in responses] == [1, 2]  # created, one progress at 2


def test_no_progress_to_a_lagging_watcher(store, hub):
    store.put(b"q")
    watcher = hub.watch(WatchCreateRequest(key=b"q", start_revision=1, progress_notify=True))
    assert hub.progress() == 0
    assert not hub.request_progress(watcher.id)
    drain(watcher)  # catches up: synced now
    assert hub.request_progress(watcher.id)
    assert drain(watcher) == [WatchResponse(header=ResponseHeader(revision=2), watch_id=watcher.id)]


def test_request_progress_works_without_progress_notify(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"q"))
    assert hub.progress() == 0
    assert hub.request_progress(watcher.id)
    assert not hub.request_progress(99)


# -- compaction at creation --------------------------------------------------------------


def test_a_compacted_start_gets_created_then_canceled_with_compact_revision(store, hub):
    for _ in range(4):
        store.put(b"k")  # revisions 2..5
    store.compact(4)
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=3))
    assert drain(watcher) == [
        WatchResponse(header=ResponseHeader(revision=5), watch_id=0, created=True),
        # etcd 3.4 leaves this header's revision at 0
        WatchResponse(header=ResponseHeader(revision=0), watch_id=0, canceled=True, compact_revision=4),
    ]
    assert watcher.compact_revision == 4 and watcher.done


def test_a_start_at_the_compact_revision_is_allowed(store, hub):
    for _ in range(4):
        store.put(b"k")
    store.compact(4)
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=4))
    assert [e.kv.mod_revision for e in events_of(drain(watcher))] == [4, 5]


# -- async consumption ------------------------------------------------------------------


def test_next_waits_for_an_event_and_async_for_ends_after_cancel(store, hub):
    async def scenario():
        watcher = hub.watch(WatchCreateRequest(key=b"k"))
        assert (await watcher.next()).created
        waiting = asyncio.ensure_future(watcher.next())
        await asyncio.sleep(0)
        assert not waiting.done()
        store.put(b"k", b"1")
        response = await waiting
        assert [e.kv.value for e in response.events] == [b"1"]
        store.put(b"k", b"2")
        hub.cancel(watcher.id)
        seen = [response async for response in watcher]
        assert [len(r.events) for r in seen] == [1, 0] and seen[-1].canceled
        with pytest.raises(WatchClosed):
            await watcher.next()

    asyncio.run(scenario())


def test_next_reads_past_history_that_filters_empty(store, hub):
    """A lagging watcher whose chunks are all filtered out keeps reading until
    it is synced, then waits for live events."""
    small = WatchHub(store, buffer_events=2, chunk_events=2)
    store.add_apply_listener(small.on_apply)
    for _ in range(10):
        store.put(b"k")
    watcher = small.watch(WatchCreateRequest(key=b"k", start_revision=1, filters=(WatchFilter.NOPUT,)))

    async def scenario():
        assert (await watcher.next()).created
        waiting = asyncio.ensure_future(watcher.next())
        for _ in range(20):
            await asyncio.sleep(0)
        assert watcher.state is WatcherState.SYNCED and not waiting.done()
        store.delete(b"k")
        response = await waiting
        assert [e.type for e in response.events] == [EventType.DELETE]

    asyncio.run(scenario())


def test_a_second_concurrent_consumer_is_refused(hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    drain(watcher)

    async def scenario():
        first = asyncio.ensure_future(watcher.next())
        await asyncio.sleep(0)
        with pytest.raises(RuntimeError, match="already has a consumer"):
            await watcher.next()
        first.cancel()

    asyncio.run(scenario())


# -- invariants ------------------------------------------------------------------------


def test_a_repeated_revision_without_events_is_fine(store, hub):
    event = Event(EventType.PUT, KeyValue(key=b"k", mod_revision=5))
    hub.on_apply(5, [event])
    hub.on_apply(5, [])  # a write without events (e.g. compaction) may repeat the revision
    assert hub.watch(WatchCreateRequest(key=b"k")).state is WatcherState.SYNCED


def test_events_out_of_revision_order_raise_and_end_every_watch(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    store.put(b"k")  # revision 2
    with pytest.raises(RuntimeError, match="revision order"):
        hub.on_apply(2, [Event(EventType.PUT, KeyValue(key=b"k", mod_revision=2))])
    last = drain(watcher)[-1]
    assert last.canceled and "revision order" in last.cancel_reason
    assert watcher.resume_revision == 2  # may repeat, never skip
    assert drain(hub.watch(WatchCreateRequest(key=b"k")))[0].canceled  # the hub is closed


def test_a_failure_while_delivering_ends_every_watch_without_a_gap(store):
    """The store only logs a listener's exception; the hub must not carry on
    as if the revision had been delivered."""

    def header(revision: int) -> ResponseHeader:
        if revision == 3:
            raise MemoryError("no room at all")
        return ResponseHeader(revision=revision)

    hub = WatchHub.attach(store, header=header)
    watchers = [hub.watch(WatchCreateRequest(key=b"k")), hub.watch(WatchCreateRequest(key=b"j"))]
    store.put(b"k")  # revision 2, delivered
    with pytest.raises(MemoryError):
        store.put(b"k")  # revision 3 fails in the hub
    for watcher in watchers:
        assert watcher.closed and watcher.resume_revision == 3
        assert "failed at revision 3" in drain(watcher)[-1].cancel_reason


def test_after_a_snapshot_restore_synced_watchers_catch_up_on_the_skipped_revisions(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    store.put(b"k", b"seen")
    assert [e.kv.value for e in events_of(drain(watcher))] == [b"seen"]
    # A leader's snapshot replaces the state: these revisions never reach on_apply.
    listeners, store.listeners = store.listeners, []
    store.put(b"k", b"skipped-1")
    store.put(b"other", b"x")
    store.put(b"k", b"skipped-2")
    store.listeners = listeners
    hub.on_restore()
    assert watcher.state is not WatcherState.SYNCED
    hub.sync_watchers()
    store.put(b"k", b"live")
    assert [e.kv.value for e in events_of(drain(watcher))] == [b"skipped-1", b"skipped-2", b"live"]


def test_after_a_restore_past_a_compaction_a_watcher_is_told_it_was_compacted(store, hub):
    watcher = hub.watch(WatchCreateRequest(key=b"k"))
    listeners, store.listeners = store.listeners, []
    store.put(b"k", b"a")
    store.put(b"k", b"b")
    store.compact_revision = store.revision
    store.listeners = listeners
    hub.on_restore()
    responses = drain(watcher)
    assert responses[-1].canceled and responses[-1].compact_revision == store.compact_revision
