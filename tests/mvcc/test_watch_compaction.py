"""Watches meeting compaction.

etcd's rule (``watchable_store.go``, ``chooseAll``): a watcher whose next
revision is *below* the compact revision is compacted; a watch may start *at*
the compact revision, and then gets that revision's events. Two etcd bugs
lost the delete event there:

- etcd-io/etcd#18089: put k; ...; delete k (revision R); put k; compact(R);
  a watch from R got only the put after R — compaction had removed the
  tombstone at R. (Reproduced against etcd 3.4.23, which predates the fix:
  ``etcdctl watch k --rev 5`` prints only the put at 6.)
- etcd-io/etcd#19179: the same loss after a restart, when the tombstone was
  the key's only row left and was not restored into the index.

The hub serves a watch *at* the compact revision as etcd does only for a
store that declares it keeps that revision's deletes
(``history_keeps_compact_revision_deletes``); otherwise it counts the compact
revision as compacted — an explicit compacted response reporting
``compact + 1``, from where a new watch continues exactly. Never a silent
skip, either way. Each scenario runs in both modes:

- ``double``: ``HistoryLog``, compacting as etcd does since those fixes, and
  declaring it;
- ``sqlite``: the real ``StoreStateMachine`` as it declares itself;
- ``sqlite-declared`` / ``sqlite-undeclared``: the real store with the
  declaration forced on / off, so both hub modes run on SQLite whatever the
  store currently says. ``test_the_store_keeps_the_delete_at_the_compact_
  revision`` checks the store really keeps those deletes (it does since
  the store's compaction change for #18089/#19179).
"""
from __future__ import annotations

from dataclasses import replace

import pytest

from consensus.mvcc.api import EventType, WatchCreateRequest, WatchResponse
from consensus.mvcc.watch_hub import WatchHub
from consensus.mvcc.watcher import WatcherState

from .watch_harness import DoubleWorld, SqliteWorld, check_stream, drain, events_of, revision_of

K = WatchCreateRequest(key=b"k")


@pytest.fixture(params=["double", "sqlite", "sqlite-declared", "sqlite-undeclared"])
def world(request, tmp_path):
    if request.param == "double":
        world = DoubleWorld()
    else:
        declared = {"sqlite": None, "sqlite-declared": True, "sqlite-undeclared": False}[request.param]
        world = SqliteWorld(tmp_path / "store.db", declare_compact_deletes=declared)
    yield world
    world.close()


def keeps_deletes(world) -> bool:
    return bool(getattr(world.store, "history_keeps_compact_revision_deletes", False))


def issue_18089_history(world) -> int:
    """put v2 (2), v3 (3), v4 (4), delete (5), put v6 (6); returns 5."""
    for value in (b"v2", b"v3", b"v4"):
        world.put(b"k", value)
    deleted_at = world.delete(b"k")
    world.put(b"k", b"v6")
    assert deleted_at == 5 and world.store.revision == 6
    return deleted_at


def kinds(responses: list[WatchResponse]) -> list[tuple[EventType, int]]:
    return [(e.type, revision_of(e)) for e in events_of(responses)]


def watch_from_compact_revision(world, hub, request, compact_at, want_from_compact, want_after):
    """A watch from ``compact_at``: with an etcd-fixed store it gets
    ``want_from_compact`` (the delete at the compact revision first); with
    the real store it is compacted explicitly at ``compact_at + 1``, and a
    watch from there gets ``want_after``."""
    responses = drain(hub.watch(replace(request, start_revision=compact_at)))
    if keeps_deletes(world):
        assert hub.oldest_revision() == compact_at
        assert kinds(responses) == want_from_compact
        assert not responses[-1].canceled
        return responses
    assert hub.oldest_revision() == compact_at + 1
    assert [r.created for r in responses] == [True, False] and responses[-1].events == ()
    assert responses[-1].canceled and responses[-1].compact_revision == compact_at + 1
    resumed = drain(hub.watch(replace(request, start_revision=responses[-1].compact_revision)))
    assert kinds(resumed) == want_after
    return resumed


def test_issue_18089_a_watch_at_the_compact_revision_is_never_skipped_silently(world):
    compact_at = issue_18089_history(world)
    world.compact(compact_at)
    hub = WatchHub.attach(world.store)
    responses = watch_from_compact_revision(
        world, hub, K, compact_at,
        want_from_compact=[(EventType.DELETE, 5), (EventType.PUT, 6)],
        want_after=[(EventType.PUT, 6)],
    )
    assert events_of(responses)[-1].kv.value == b"v6"


def test_a_watch_below_the_compact_revision_is_compacted(world):
    compact_at = issue_18089_history(world)
    world.compact(compact_at)
    hub = WatchHub.attach(world.store)
    responses = drain(hub.watch(replace(K, start_revision=compact_at - 1)))
    assert [r.created for r in responses] == [True, False]
    assert responses[-1].canceled and responses[-1].compact_revision == hub.oldest_revision()
    assert responses[-1].events == ()


def test_issue_19179_the_same_after_a_restart(world):
    compact_at = issue_18089_history(world)
    world.compact(compact_at)
    world.restart()  # the store resumes whatever compaction work was left
    world.put(b"k", b"v7")  # and applies more after it
    hub = WatchHub.attach(world.store)
    watch_from_compact_revision(
        world, hub, K, compact_at,
        want_from_compact=[(EventType.DELETE, 5), (EventType.PUT, 6), (EventType.PUT, 7)],
        want_after=[(EventType.PUT, 6), (EventType.PUT, 7)],
    )


def test_a_lagging_watch_at_the_revision_a_compaction_then_lands_on(world):
    """The #19179 ordering: the watch exists (lagging, not caught up yet)
    when the compaction at its start revision is applied."""
    compact_at = issue_18089_history(world)
    hub = WatchHub.attach(world.store)
    watcher = hub.watch(replace(K, start_revision=compact_at))
    assert watcher.state is WatcherState.UNSYNCED
    world.compact(compact_at)
    if keeps_deletes(world):
        assert not watcher.closed  # next revision == compact revision: still readable
        assert kinds(drain(watcher)) == [(EventType.DELETE, 5), (EventType.PUT, 6)]
    else:
        # The real store notifies no listener for a compaction (no events):
        # the runtime tells the hub (or its periodic sync_watchers notices)
        hub.on_compact()
        assert watcher.closed  # before reading anything
        assert drain(watcher)[-1].compact_revision == compact_at + 1


def test_a_victim_whose_next_revision_is_the_compacted_delete(world):
    hub = WatchHub.attach(world.store, buffer_events=2)
    watcher = hub.watch(K)
    world.put(b"k", b"1")  # 2
    world.put(b"k", b"2")  # 3 — buffer full now
    deleted_at = world.delete(b"k")  # 4: the victim misses it
    world.put(b"k", b"3")  # 5
    assert watcher.state is WatcherState.VICTIM and watcher.next_revision == deleted_at
    world.compact(deleted_at)
    responses = drain(watcher)
    if keeps_deletes(world):
        assert kinds(responses) == [
            (EventType.PUT, 2), (EventType.PUT, 3), (EventType.DELETE, 4), (EventType.PUT, 5),
        ]
        assert watcher.state is WatcherState.SYNCED
    else:
        assert kinds(responses) == [(EventType.PUT, 2), (EventType.PUT, 3)]
        assert responses[-1].canceled and responses[-1].compact_revision == deleted_at + 1


def test_a_victim_compacted_past_its_next_revision_is_told_not_skipped(world):
    hub = WatchHub.attach(world.store, buffer_events=1)
    watcher = hub.watch(K)
    world.put(b"k", b"1")  # 2 — buffer full
    world.put(b"k", b"2")  # 3: missed
    deleted_at = world.delete(b"k")  # 4
    world.put(b"k", b"3")  # 5
    world.compact(deleted_at)  # 3 < 4: gone
    responses = drain(watcher)
    assert kinds(responses) == [(EventType.PUT, 2)]
    assert responses[-1].canceled and responses[-1].compact_revision == hub.oldest_revision()
    # the way on is a new watch from the reported compact revision
    resumed = drain(hub.watch(replace(K, start_revision=responses[-1].compact_revision)))
    if keeps_deletes(world):
        assert kinds(resumed) == [(EventType.DELETE, 4), (EventType.PUT, 5)]
    else:
        assert kinds(resumed) == [(EventType.PUT, 5)]


def test_a_range_delete_at_the_compact_revision(world):
    prefix = WatchCreateRequest(key=b"p/", range_end=b"p0")
    for i in range(5):
        world.put(b"p/%d" % i)
    deleted_at = world.delete_range(prefix.key, prefix.range_end)
    world.put(b"p/again")
    world.compact(deleted_at)
    world.restart()
    hub = WatchHub.attach(world.store, buffer_events=2, chunk_events=2)
    responses = watch_from_compact_revision(
        world, hub, prefix, deleted_at,
        want_from_compact=[(EventType.DELETE, deleted_at)] * 5 + [(EventType.PUT, deleted_at + 1)],
        want_after=[(EventType.PUT, deleted_at + 1)],
    )
    if keeps_deletes(world):  # the five deletes arrive in one response
        [deletes] = [r for r in responses if r.events and r.events[0].type is EventType.DELETE]
        assert [e.kv.key for e in deletes.events] == [b"p/%d" % i for i in range(5)]


def test_synced_watchers_do_not_notice_compaction(world):
    hub = WatchHub.attach(world.store)
    watcher = hub.watch(K)
    world.put(b"k")
    world.delete(b"k")
    world.compact(world.store.revision)  # at the delete, which the watcher already has
    world.put(b"k")
    responses = drain(watcher)
    check_stream(responses, world.recorder.log, K, 2)
    assert not watcher.closed


def test_interleaved_compactions_and_lagging_watchers_never_skip_silently(world):
    """Deletes land exactly on compact revisions while watchers lag behind
    by varying amounts; every stream is exact or ends in an explicit
    compacted response, and a watch from the compact revision reported
    continues exactly."""
    hub = WatchHub.attach(world.store, buffer_events=2, chunk_events=1)
    request = WatchCreateRequest(key=b"k", range_end=b"l")
    watches: list[dict] = []

    def start_watch(start: int) -> None:
        watcher = hub.watch(replace(request, start_revision=start))
        watches.append({"watcher": watcher, "start": start, "got": [], "resumed": False})

    for step in range(30):
        if step % 3 == 2:
            revision = world.delete(b"k%d" % (step % 2))
            if step % 6 == 5:
                world.compact(revision)  # compact exactly at a delete
        else:
            world.put(b"k%d" % (step % 2), b"%d" % step)
        if step % 4 == 0:
            start_watch(max(1, hub.oldest_revision()))
        for index, watch in enumerate(list(watches)):
            if (step + index) % 3 == 0:
                watch["got"] += [r for r in [watch["watcher"].poll()] if r]
            if watch["watcher"].done and not watch["resumed"]:
                watch["resumed"] = True
                start_watch(watch["got"][-1].compact_revision)
    compacted = 0
    for watch in watches:
        watcher = watch["watcher"]
        watch["got"] += drain(watcher)
        check_stream(watch["got"], world.recorder.log, request, watch["start"],
                     ended=watcher if watcher.done else None,
                     oldest_revision=hub.oldest_revision())
        compacted += watcher.compact_revision > 0
    assert compacted, "the scenario should compact some lagging watcher away"


@pytest.mark.parametrize("world", ["sqlite"], indirect=True)
def test_the_store_keeps_the_delete_at_the_compact_revision(world):
    """What ``history_keeps_compact_revision_deletes`` promises, checked on
    the real store whatever it declares — also after a restart."""
    compact_at = issue_18089_history(world)
    world.compact(compact_at)
    for _ in range(2):
        events, _ = world.store.history(b"k", b"", compact_at)
        assert [(e.type, revision) for revision, e in events] == [(EventType.DELETE, 5), (EventType.PUT, 6)]
        world.restart()
