"""etcd's six watch guarantees, one test each, against the real store
(``StoreStateMachine`` on SQLite) with the hub attached as its apply
listener. Each scenario is built to hit the place where the guarantee would
break — the victim/unsynced/synced hand-offs, a revision larger than the
buffer, a restart — and the assertions compare with an oracle that records
every applied event (``Recorder``), which compaction cannot erase.

https://etcd.io/docs/v3.4/learning/api_guarantees/#watch-apis
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from consensus.mvcc.api import WatchCreateRequest
from consensus.mvcc.watch_hub import SlowWatcherPolicy, WatchHub
from consensus.mvcc.watcher import WatcherState
from consensus.mvcc.watcher_group import prefix_end

from .watch_harness import SqliteWorld, check_stream, drain, events_of, expected, revision_of

APP = WatchCreateRequest(key=b"app/", range_end=prefix_end(b"app/"))


@pytest.fixture
def world(tmp_path):
    world = SqliteWorld(tmp_path / "store.db")
    yield world
    world.close()


def revs(responses) -> list[int]:
    return [revision_of(e) for e in events_of(responses)]


def pairs(responses) -> list[tuple[int, bytes]]:
    return [(revision_of(e), e.kv.key) for e in events_of(responses)]


def test_ordered_events_never_go_back_across_victim_catch_up_and_rejoin(world):
    """A watcher falls behind (victim) while writes go on, and drains while
    more writes land: the history it re-reads and the live events after it
    rejoins must interleave in revision order."""
    hub = WatchHub.attach(world.store, buffer_events=3, chunk_events=2)
    watcher = hub.watch(APP)
    got = drain(watcher)
    states = set()
    for round_ in range(12):
        for i in range(round_ % 4 + 1):
            world.put(b"app/%d" % (i % 3), b"%d" % round_)
            states.add(watcher.state)
        for _ in range(round_ % 3):
            response = watcher.poll()
            got += [response] if response else []
            states.add(watcher.state)
    got += drain(watcher)
    assert states == set(WatcherState) - {WatcherState.CLOSED}, "the scenario must visit every hand-off"
    revisions = revs(got)
    assert all(a < b for a, b in zip(revisions, revisions[1:])), revisions
    assert revisions == [revision_of(e) for e in expected(world.recorder.log, APP, 2)]


def test_unique_no_event_twice_when_a_past_start_meets_live_writes(world):
    """A watch created in the past catches up from history while live writes
    keep coming, and is overrun once more later; its events must not arrive
    both from history and live. The hand-offs (unsynced -> synced, synced ->
    victim -> unsynced -> synced) are where a duplicate would appear."""
    for i in range(10):
        world.put(b"app/%d" % (i % 4))
    hub = WatchHub.attach(world.store, buffer_events=4, chunk_events=3)
    watcher = hub.watch(WatchCreateRequest(key=APP.key, range_end=APP.range_end, start_revision=2))
    got = []
    states = set()
    for i in range(40):
        world.put(b"app/%d" % (i % 4))
        states.add(watcher.state)
        if not 20 <= i < 30:  # ten writes nobody takes: overrun, then re-read
            response = watcher.poll()
            got += [response] if response else []
    got += drain(watcher)
    assert {WatcherState.UNSYNCED, WatcherState.VICTIM, WatcherState.SYNCED} <= states
    seen = pairs(got)
    assert len(seen) == len(set(seen))
    assert seen == [(revision_of(e), e.kv.key) for e in expected(world.recorder.log, APP, 2)]
    assert watcher.state is WatcherState.SYNCED


def test_reliable_every_watcher_gets_every_event_or_an_explicit_end(world):
    """Many watchers — keys, prefixes, ranges, past and future starts, tiny
    buffers — with writes, deletes and a compaction in between: each stream
    is exactly the oracle's, or a prefix of it ending in an explicit
    compacted response."""
    hub = WatchHub.attach(world.store, buffer_events=2, chunk_events=2)
    requests = [
        WatchCreateRequest(key=b"app/1"),
        APP,
        WatchCreateRequest(key=b"app/", range_end=b"app/3"),
        WatchCreateRequest(key=b"\0", range_end=b"\0", prev_kv=True),
    ]
    watchers = []
    for step in range(40):
        key = b"app/%d" % (step % 5)
        if step % 7 == 6:
            world.delete(key)
        else:
            world.put(key, b"%d" % step)
        if step % 5 == 0:
            request = requests[step // 5 % len(requests)]
            for start in (0, max(1, world.store.revision - 3), world.store.revision + 2):
                watchers.append((hub.watch(_at(request, start)), request, start or world.store.revision + 1, []))
        if step == 25:
            world.compact(world.store.revision - 4)
        for watcher, _, _, got in watchers[step % 3 :: 3]:
            got += [r for r in [watcher.poll()] if r]
    ended = 0
    for watcher, request, start, got in watchers:
        got += drain(watcher)
        check_stream(got, world.recorder.log, request, start,
                     ended=watcher if watcher.done else None,
                     oldest_revision=hub.oldest_revision())
        ended += watcher.done
    assert ended, "the scenario should compact some lagging watcher away"
    assert ended < len(watchers)


def test_atomic_one_revision_one_response_even_when_larger_than_the_buffer(world):
    """A txn writing six keys and a delete of a whole prefix reach each
    watcher in one response each — live, while catching up in chunks
    smaller than the revision, and as a victim."""
    hub = WatchHub.attach(world.store, buffer_events=2, chunk_events=2)
    live = hub.watch(APP)
    drain(live)
    world.put(b"app/x")
    world.txn(puts=[(b"app/%d" % i, b"v") for i in range(6)])
    world.put(b"app/y")
    world.delete_range(APP.key, APP.range_end)
    lagging = hub.watch(_at(APP, 2))
    for watcher in (live, lagging):
        owner: dict[int, int] = {}
        sizes: dict[int, int] = {}
        for position, response in enumerate(drain(watcher)):
            for revision in revs([response]):
                assert owner.setdefault(revision, position) == position, (
                    f"revision {revision} split across responses"
                )
                sizes[revision] = sizes.get(revision, 0) + 1
        # the txn is 6 events and the delete 8, against a buffer of 2
        assert sizes == {2: 1, 3: 6, 4: 1, 5: 8}


def test_resumable_from_last_seen_plus_one_also_after_a_hub_and_store_restart(world):
    hub = WatchHub.attach(world.store, buffer_events=5)
    watcher = hub.watch(APP)
    for i in range(8):
        world.put(b"app/%d" % i)
    got = drain(watcher)[:4]  # created + three event responses
    last_seen = revs(got)[-1]
    watcher.cancel()

    resumed = hub.watch(_at(APP, last_seen + 1))
    for i in range(3):
        world.put(b"app/r%d" % i)
    resumed_got = drain(resumed)
    assert revs(got) + revs(resumed_got) == [revision_of(e) for e in expected(world.recorder.log, APP, 2)]

    # a restart: the hub closes (each watch learns where to resume), the
    # store file is closed and opened again, a new hub is attached
    world.put(b"app/before-restart")
    hub.close()
    tail = drain(resumed)
    assert tail[-1].canceled
    resume_at = resumed.resume_revision
    assert resume_at == world.store.revision + 1
    world.restart()
    world.put(b"app/after-restart")
    hub = WatchHub.attach(world.store)
    after = hub.watch(_at(APP, resume_at))
    whole = revs(got) + revs(resumed_got) + revs(tail) + revs(drain(after))
    assert whole == [revision_of(e) for e in expected(world.recorder.log, APP, 2)]


def test_resumable_at_the_cancel_policy_revision(world):
    hub = WatchHub.attach(world.store, buffer_events=2, slow_policy=SlowWatcherPolicy.CANCEL)
    watcher = hub.watch(APP)
    for i in range(6):
        world.put(b"app/%d" % i)
    got = drain(watcher)
    reason = f"watcher is too slow; resume from revision {watcher.resume_revision}"
    assert got[-1].canceled and got[-1].cancel_reason == reason
    resumed = hub.watch(_at(APP, watcher.resume_revision))
    assert revs(got) + revs(drain(resumed)) == list(range(2, 8))


def test_bookmarkable_progress_revision_plus_one_loses_nothing(world):
    """A progress notification is sent only to a synced watcher, and carries
    the store's revision R: everything up to R was delivered before it, and
    a watch from R + 1 continues without a gap — also when R was reached by
    writes outside the watched range. A lagging watcher gets no bookmark
    (it would promise events it has not received)."""
    hub = WatchHub.attach(world.store, buffer_events=3)
    watcher = hub.watch(_at(APP, 0, progress_notify=True))
    for i in range(5):
        world.put(b"app/%d" % i)
    world.put(b"other")
    # a victim now: a tick must not bookmark it
    assert watcher.state is WatcherState.VICTIM
    assert hub.progress() == 0
    # nor a watch replaying history, even with room in its buffer
    lagging = hub.watch(_at(APP, 2, progress_notify=True))
    assert lagging.state is WatcherState.UNSYNCED
    assert hub.progress() == 0
    check_stream(drain(lagging), world.recorder.log, APP, 2)
    lagging.cancel()
    got = drain(watcher)
    hub.progress()  # not due: it had events since the last tick
    assert hub.progress() == 1
    bookmark = drain(watcher)[-1]
    assert not bookmark.events and bookmark.header.revision == world.store.revision
    check_stream(got + [bookmark], world.recorder.log, APP, 2)
    world.put(b"app/after")
    resumed = hub.watch(_at(APP, bookmark.header.revision + 1))
    assert revs(got) + revs(drain(resumed)) == [revision_of(e) for e in expected(world.recorder.log, APP, 2)]


def _at(request: WatchCreateRequest, start: int, **changes) -> WatchCreateRequest:
    return replace(request, start_revision=start, **changes)
