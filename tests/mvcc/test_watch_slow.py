"""Slow consumers: the bounded buffer, falling behind (victim), catching up
from history in chunks, rejoining the synced group — and the explicit end
when history is compacted away or the cancel policy applies. Never a silent
gap.

These exercise the hub's own mechanics, so most run against ``HistoryLog``
(which records every ``history`` call, so chunk sizes can be checked); the
end-to-end versions against the real store are in
``test_watch_guarantees.py`` and ``test_watch_compaction.py``.
"""
from __future__ import annotations

import asyncio

import pytest

from consensus.mvcc.api import CompactedError, WatchCreateRequest
from consensus.mvcc.watch_hub import SlowWatcherPolicy, WatchHub, too_slow_reason
from consensus.mvcc.watcher import WatcherState

from .watch_harness import HistoryLog, drain, events_of

K = WatchCreateRequest(key=b"k")


def make(capacity: int = 5, chunk: int = 1000, policy=SlowWatcherPolicy.CATCH_UP):
    store = HistoryLog()
    hub = WatchHub.attach(store, buffer_events=capacity, chunk_events=chunk, slow_policy=policy)
    return store, hub


def revisions(responses) -> list[int]:
    return [event.kv.mod_revision for event in events_of(responses)]


def test_a_full_buffer_makes_a_victim_that_remembers_the_revision_it_missed():
    store, hub = make(capacity=5)
    watcher = hub.watch(K)
    for _ in range(20):
        store.put(b"k")  # revisions 2..21
    assert watcher.state is WatcherState.VICTIM
    assert watcher.buffered_events == 5
    assert watcher.next_revision == 7  # 2..6 are buffered
    assert hub.counts() == {"synced": 0, "unsynced": 0, "victim": 1}
    assert not store.history_calls  # nothing read while nobody drains


def test_a_victim_catches_up_in_bounded_chunks_as_it_drains_then_rejoins_synced():
    store, hub = make(capacity=4)
    watcher = hub.watch(K)
    for _ in range(30):
        store.put(b"k")
    got = drain(watcher)
    assert revisions(got) == list(range(2, 32))
    assert watcher.state is WatcherState.SYNCED
    assert hub.counts()["synced"] == 1
    # each read asked for no more than the room left in the buffer
    assert store.history_calls and all(max_events <= 4 for *_, max_events in store.history_calls)
    # a catch-up read happens only once the buffer drained to half (2 events)
    assert len(store.history_calls) <= 30 // 2 + 1
    store.put(b"k")
    assert revisions(drain(watcher)) == [32]


def test_writes_while_draining_are_neither_lost_nor_repeated():
    store, hub = make(capacity=3)
    watcher = hub.watch(K)
    got = []
    for round_ in range(50):
        for _ in range(round_ % 7):
            store.put(b"k")
        for _ in range(round_ % 3):
            response = watcher.poll()
            if response is not None:
                got.append(response)
    got += drain(watcher)
    assert revisions(got) == list(range(2, store.revision + 1))
    assert watcher.state is WatcherState.SYNCED


def test_a_revision_bigger_than_the_buffer_is_delivered_whole():
    store, hub = make(capacity=3)
    live = hub.watch(WatchCreateRequest(key=b"a", range_end=b"b"))
    drain(live)
    big = [(b"a%d" % i, b"v") for i in range(10)]
    store.txn(puts=big)  # revision 2: 10 events, more than the buffer
    [response] = drain(live)
    assert len(response.events) == 10

    lagging = hub.watch(WatchCreateRequest(key=b"a", range_end=b"b", start_revision=1))
    store.put(b"a0")  # revision 3
    assert [len(r.events) for r in drain(lagging)] == [0, 10, 1]


def test_a_big_revision_waits_for_an_empty_buffer_when_the_store_will_not_overfill():
    """A store may answer "no room" (nothing read, no progress) when the next
    revision holds more events than ``max_events``: the hub waits until the
    buffer is empty, then reads that revision whole."""

    class StrictLog(HistoryLog):
        def history(self, key, range_end, start_revision, max_events=1000):
            events, next_revision = super().history(key, range_end, start_revision, 1 << 62)
            out = []
            for revision, event in events:
                same = [e for r, e in events if r == revision]
                if len(out) + len(same) > max_events:
                    return out, revision
                if not out or out[-1][0] != revision:
                    out.extend((revision, e) for e in same)
            return out, next_revision

    store = StrictLog()
    hub = WatchHub.attach(store, buffer_events=4)
    store.put(b"a1")  # 2
    store.txn(puts=[(b"a%d" % i, b"v") for i in range(6)])  # 3: six events
    watcher = hub.watch(WatchCreateRequest(key=b"a", range_end=b"b", start_revision=2))
    assert [len(r.events) for r in drain(watcher)] == [0, 1, 6]
    assert watcher.state is WatcherState.SYNCED


def test_compaction_past_a_victim_ends_it_explicitly_after_its_buffered_events():
    store, hub = make(capacity=3)
    watcher = hub.watch(K)
    for _ in range(10):
        store.put(b"k")  # 2..11; buffered 2..4, missed from 5
    store.compact(8)
    # told at once, not when it next reads
    assert watcher.closed and watcher.compact_revision == 8
    responses = drain(watcher)
    assert revisions(responses) == [2, 3, 4]
    assert responses[-1].canceled and responses[-1].compact_revision == 8
    assert len(hub) == 0 and hub.counts() == {"synced": 0, "unsynced": 0, "victim": 0}


def test_compaction_that_spares_the_next_revision_does_not_end_a_victim():
    store, hub = make(capacity=3)
    watcher = hub.watch(K)
    for _ in range(10):
        store.put(b"k")  # missed from 5
    store.compact(5)  # etcd's rule: only next_revision < compact_revision is lost
    assert not watcher.closed
    assert revisions(drain(watcher)) == list(range(2, 12))


def test_compaction_during_catch_up_ends_the_watch_explicitly():
    store, hub = make(capacity=4, chunk=2)
    for _ in range(10):
        store.put(b"k")  # 2..11
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=2))
    first = [watcher.poll(), watcher.poll()]  # created, then a chunk of 2..3
    assert revisions(first) == [2, 3]
    assert watcher.next_revision == 6  # the second poll read ahead 4..5
    store.compact(8)
    rest = drain(watcher)
    assert revisions(rest) == [4, 5]
    assert rest[-1].canceled and rest[-1].compact_revision == 8


def test_a_history_read_that_raises_compacted_ends_the_watch():
    """Whatever the hub believed about the compact revision, a CompactedError
    from history() becomes the compacted response."""
    store, hub = make(capacity=4)
    for _ in range(5):
        store.put(b"k")
    watcher = hub.watch(WatchCreateRequest(key=b"k", start_revision=2))

    def history(*args, **kwargs):
        raise CompactedError(4)

    store.history = history
    responses = drain(watcher)
    assert [r.created for r in responses] == [True, False]
    assert responses[-1].canceled and responses[-1].compact_revision == 4
    assert watcher.done and len(hub) == 0


def test_cancel_policy_ends_a_slow_watcher_with_the_revision_to_resume_from():
    store, hub = make(capacity=3, policy=SlowWatcherPolicy.CANCEL)
    watcher = hub.watch(K)
    for _ in range(6):
        store.put(b"k")  # 2..7; 2..4 fit
    assert watcher.closed and watcher.resume_revision == 5
    responses = drain(watcher)
    assert revisions(responses) == [2, 3, 4]
    assert responses[-1].canceled and responses[-1].cancel_reason == too_slow_reason(5)
    assert responses[-1].cancel_reason == "watcher is too slow; resume from revision 5"
    resumed = hub.watch(WatchCreateRequest(key=b"k", start_revision=watcher.resume_revision))
    assert revisions(drain(resumed)) == [5, 6, 7]


def test_sync_watchers_catches_up_idle_lagging_watchers_within_its_budget():
    store, hub = make(capacity=100)
    for _ in range(5):
        store.put(b"k")
    watchers = [hub.watch(WatchCreateRequest(key=b"k", start_revision=2)) for _ in range(5)]
    assert hub.sync_watchers(max_watchers=3) == 2
    assert [w.state for w in watchers] == [WatcherState.SYNCED] * 3 + [WatcherState.UNSYNCED] * 2
    assert hub.sync_watchers() == 0
    for watcher in watchers:
        assert revisions(drain(watcher)) == [2, 3, 4, 5, 6]


def test_sync_watchers_reports_compaction_to_victims():
    store, hub = make(capacity=2)
    watcher = hub.watch(K)
    for _ in range(5):
        store.put(b"k")  # missed from 4
    store.compact_revision = 5  # compacted without a listener call
    store.log = [(r, e) for r, e in store.log if r >= 5]
    assert hub.sync_watchers() == 0
    assert watcher.closed and watcher.compact_revision == 5


def test_a_victim_keeps_at_most_its_buffer_however_far_behind():
    store, hub = make(capacity=10)
    watcher = hub.watch(K)
    for _ in range(2000):
        store.put(b"k")
        assert watcher.buffered_events <= 10
    assert watcher.buffered_responses <= 11  # events plus the created response
    assert revisions(drain(watcher)) == list(range(2, 2002))


def test_async_slow_consumer_gets_every_event_exactly_once():
    store, hub = make(capacity=8)
    watcher = hub.watch(WatchCreateRequest(key=b"k", range_end=b"l"))
    writes = 400

    async def producer():
        for i in range(writes):
            store.txn(puts=[(b"k%d" % (i % 3), b"v"), (b"k%d" % (i % 5 + 3), b"w")])
            if i % 17 == 0:
                await asyncio.sleep(0)

    async def consumer():
        seen = []
        async for response in watcher:
            seen.append(response)
            if sum(len(r.events) for r in seen) == 2 * writes:
                break
            if len(seen) % 3 == 0:
                await asyncio.sleep(0)
        return seen

    async def scenario():
        task = asyncio.ensure_future(consumer())
        await producer()
        return await asyncio.wait_for(task, 10)

    seen = asyncio.run(scenario())
    got = revisions(seen)
    assert got == sorted(got) and len(got) == 2 * writes
    # each revision's two events came in one response
    for response in seen:
        by_revision = {}
        for event in response.events:
            by_revision.setdefault(event.kv.mod_revision, 0)
            by_revision[event.kv.mod_revision] += 1
        assert all(count == 2 for count in by_revision.values())


@pytest.mark.parametrize("capacity", [1, 2, 7])
def test_tiny_buffers_still_deliver_everything(capacity):
    store, hub = make(capacity=capacity, chunk=3)
    watcher = hub.watch(K)
    got = []
    for i in range(60):
        store.put(b"k")
        if i % 4 == 0:
            response = watcher.poll()
            got += [response] if response else []
    got += drain(watcher)
    assert revisions(got) == list(range(2, 62))


def test_watchers_overrun_together_share_their_history_reads():
    store, hub = make(capacity=4)
    watchers = [hub.watch(WatchCreateRequest(key=b"k/", range_end=b"k0")) for _ in range(100)]
    for i in range(40):
        store.put(b"k/%d" % (i % 3))
    assert hub.counts()["victim"] == 100
    got = {w.id: [] for w in watchers}
    while any(w.state is not WatcherState.SYNCED or w.buffered_responses for w in watchers):
        for watcher in watchers:  # consumers in lock-step
            response = watcher.poll()
            got[watcher.id] += [response] if response else []
    for watcher in watchers:
        assert revisions(got[watcher.id]) == list(range(2, 42))
    # one read per chunk for all hundred, not one per watcher
    assert len(store.history_calls) < 40


def test_async_consumers_overrun_together_read_each_chunk_once():
    """Each consumer task yields after a history read, so tasks drain in step
    and the hub's history cache serves every chunk once, even when the
    backlog is longer than the cache (one task draining its whole backlog
    before the next started would make every read a miss)."""
    store, hub = make(capacity=4)
    watchers = [hub.watch(WatchCreateRequest(key=b"k/", range_end=b"k0")) for _ in range(50)]
    for i in range(200):  # 100 chunks of 2: far more than the cache holds
        store.put(b"k/%d" % (i % 3))

    async def consume(watcher):
        got = []
        while len(got) < 200:
            got += [e.kv.mod_revision for e in (await watcher.next()).events]
        return got

    async def scenario():
        return await asyncio.gather(*(consume(w) for w in watchers))

    for got in asyncio.run(scenario()):
        assert got == list(range(2, 202))
    assert len(store.history_calls) <= 110  # about one per chunk, not 50 per chunk
