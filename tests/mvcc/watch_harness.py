"""Helpers for the watch hub's tests.

- ``HistoryLog``: a test double of the store's watch-facing interface
  (``revision``, ``compact_revision``, ``history``, ``add_apply_listener``)
  with ``put`` / ``delete`` / ``txn`` / ``compact`` that write events directly.
  It keeps the whole log in a list, which makes unit tests of the hub's own
  mechanics (buffering, groups, chunking) short and exact. The guarantee
  tests run against the real ``StoreStateMachine`` instead.
- ``Recorder``: an apply listener that keeps every event ever applied, an
  oracle that compaction cannot erase.
- ``drain``, ``events_of``, ``expected``: read a watcher's stream and compute
  what it must be.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from consensus.mvcc.api import (
    CompactedError,
    CompactionRequest,
    DeleteRangeRequest,
    Event,
    EventType,
    KeyValue,
    PutRequest,
    TxnRequest,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)
from consensus.mvcc.watcher import Watcher
from consensus.mvcc.watcher_group import key_in_range


class HistoryLog:
    """In-memory stand-in for the store: every write is one revision.
    Compaction behaves as etcd's does since #18089 was fixed: the events at
    the compact revision, deletes included, stay readable."""

    history_keeps_compact_revision_deletes = True

    def __init__(self) -> None:
        self.revision = 1  # etcd's first revision is 1, before any write
        self.compact_revision = 0
        self.log: list[tuple[int, Event]] = []
        self.kvs: dict[bytes, KeyValue] = {}
        self.listeners: list[Callable[[int, list[Event]], None]] = []
        self.history_calls: list[tuple[bytes, bytes, int, int]] = []

    def add_apply_listener(self, fn: Callable[[int, list[Event]], None]) -> None:
        self.listeners.append(fn)

    def history(self, key: bytes, range_end: bytes, start_revision: int, max_events: int = 1000):
        self.history_calls.append((key, range_end, start_revision, max_events))
        if start_revision < self.compact_revision:
            raise CompactedError(self.compact_revision)
        out: list[tuple[int, Event]] = []
        for revision, event in self.log:
            if revision < start_revision or not key_in_range(event.kv.key, key, range_end):
                continue
            if len(out) >= max_events and out[-1][0] != revision:
                return out, revision  # full, and never split a revision
            out.append((revision, event))
        return out, self.revision + 1

    # -- writes -----------------------------------------------------------------

    def put(self, key: bytes, value: bytes = b"v") -> int:
        return self.txn(puts=[(key, value)])

    def delete(self, *keys: bytes) -> int:
        return self.txn(deletes=list(keys))

    def delete_range(self, key: bytes, range_end: bytes) -> int:
        return self.txn(deletes=sorted(k for k in self.kvs if key_in_range(k, key, range_end)))

    def txn(self, puts=(), deletes=()) -> int:
        revision = self.revision + 1
        events = []
        for key in deletes:
            prev = self.kvs.pop(key, None)
            if prev is not None:
                events.append(Event(EventType.DELETE, KeyValue(key=key, mod_revision=revision), prev))
        for key, value in puts:
            prev = self.kvs.get(key)
            kv = KeyValue(
                key=key,
                create_revision=prev.create_revision if prev else revision,
                mod_revision=revision,
                version=prev.version + 1 if prev else 1,
                value=value,
            )
            self.kvs[key] = kv
            events.append(Event(EventType.PUT, kv, prev))
        if not events:
            return self.revision
        self.revision = revision
        self.log.extend((revision, event) for event in events)
        for fn in self.listeners:
            fn(revision, events)
        return revision

    def compact(self, revision: int) -> None:
        """etcd's compaction as fixed for #18089: history before ``revision``
        is gone; the events at ``revision`` itself stay readable."""
        assert self.compact_revision < revision <= self.revision
        self.compact_revision = revision
        self.log = [(rev, event) for rev, event in self.log if rev >= revision]
        for fn in self.listeners:
            fn(self.revision, [])


@dataclass
class Recorder:
    """Every (revision, event) applied, in order — the oracle."""

    log: list[tuple[int, Event]] = field(default_factory=list)

    def __call__(self, revision: int, events: list[Event]) -> None:
        self.log.extend((revision, event) for event in events)


def drain(watcher: Watcher) -> list[WatchResponse]:
    out = []
    while (response := watcher.poll()) is not None:
        out.append(response)
    return out


def events_of(responses: list[WatchResponse]) -> list[Event]:
    return [event for response in responses for event in response.events]


def expected(log: list[tuple[int, Event]], request: WatchCreateRequest, start: int) -> list[Event]:
    """What a watcher for ``request`` must receive from ``start`` on."""
    out = []
    for revision, event in log:
        if revision < start or not key_in_range(event.kv.key, request.key, request.range_end):
            continue
        if event.type is EventType.PUT and WatchFilter.NOPUT in request.filters:
            continue
        if event.type is EventType.DELETE and WatchFilter.NODELETE in request.filters:
            continue
        if not request.prev_kv and event.prev_kv is not None:
            event = Event(event.type, event.kv)
        out.append(event)
    return out


def revision_of(event: Event) -> int:
    return event.kv.mod_revision


class DoubleWorld:
    """Writes and restarts against ``HistoryLog``, with a ``Recorder`` oracle.
    ``restart`` keeps the log (as a store file would) and drops the listeners
    (as a reopened store starts without any)."""

    kind = "double"

    def __init__(self) -> None:
        self.store = HistoryLog()
        self.recorder = Recorder()
        self.store.add_apply_listener(self.recorder)

    def put(self, key: bytes, value: bytes = b"v") -> int:
        return self.store.put(key, value)

    def delete(self, *keys: bytes) -> int:
        return self.store.delete(*keys)

    def delete_range(self, key: bytes, range_end: bytes) -> int:
        return self.store.delete_range(key, range_end)

    def txn(self, puts=(), deletes=()) -> int:
        return self.store.txn(puts=puts, deletes=deletes)

    def compact(self, revision: int) -> None:
        self.store.compact(revision)

    def restart(self) -> None:
        self.store.listeners = [self.recorder]

    def close(self) -> None:
        pass


def check_stream(
    responses: list[WatchResponse],
    log: list[tuple[int, Event]],
    request: WatchCreateRequest,
    start: int,
    *,
    ended: Watcher | None = None,
    oldest_revision: int = 0,
) -> list[Event]:
    """Assert that ``responses`` (everything one watcher delivered, from its
    ``created`` response on) is exactly what etcd's guarantees allow, and
    return its events.

    - Ordered, Unique: event revisions never go back; no (revision, key) twice.
    - Atomic: all of one revision's events are in one response.
    - Reliable: a live watcher (``ended`` None) got exactly the oracle's events
      from ``start``; an ended one got exactly those before its resume
      revision, or — if compacted — a prefix that stops before the compact
      revision could have taken anything it still needed (``oldest_revision``:
      the hub's ``oldest_revision()`` at the end).
    - Bookmarkable: a progress response at revision P comes after every event
      up to P and before any event after P.
    """
    assert responses and responses[0].created, "the first response must be `created`"
    want = expected(log, request, start)

    def same(got: list[Event], wanted: list[Event]) -> bool:
        # An event read from history once its revision had been compacted to
        # has no prev_kv (the revision before is gone; etcd's watch server
        # finds none either); the oracle, fed live, still has it.
        return len(got) == len(wanted) and all(
            g == w or (
                g.prev_kv is None and revision_of(g) <= oldest_revision
                and g == Event(w.type, w.kv)
            )
            for g, w in zip(got, wanted)
        )

    events: list[Event] = []
    seen: set[tuple[int, bytes]] = set()
    revision_response: dict[int, int] = {}
    last = start - 1  # the last revision delivered, or before the start
    last_event = 0
    for position, response in enumerate(responses[1:], 1):
        if response.canceled:
            assert position == len(responses) - 1, "nothing may follow the terminal response"
            break
        if not response.events:
            bookmark = response.header.revision
            assert bookmark >= last_event, f"progress at {bookmark} after an event at {last_event}"
            assert same(events, [e for e in want if revision_of(e) <= bookmark]), (
                f"progress at {bookmark}: events up to it are not all delivered"
            )
            continue
        assert response.header.revision >= revision_of(response.events[-1])
        for event in response.events:
            revision = revision_of(event)
            assert revision >= last, f"revision {revision} after {last}: not ordered"
            assert (revision, event.kv.key) not in seen, f"duplicate event {revision} {event.kv.key!r}"
            seen.add((revision, event.kv.key))
            owner = revision_response.setdefault(revision, position)
            assert owner == position, f"revision {revision} split across responses"
            last = last_event = revision
            events.append(event)
    terminal = responses[-1] if responses[-1].canceled else None
    if ended is None:
        assert terminal is None, f"unexpected end: {terminal}"
        assert same(events, want), "a live watcher must have every event from its start"
    else:
        assert terminal is not None, "an ended watch must end with a canceled response"
        if terminal.compact_revision:
            # the compact revision reported is where a new watch can start
            assert 0 < terminal.compact_revision <= oldest_revision
            assert last <= terminal.compact_revision - 2, (
                f"compacted at {terminal.compact_revision} but events up to {last} were delivered: "
                "the next revision needed was not compacted"
            )
            assert same(events, want[: len(events)]), "events before a compacted end must be exact"
        else:
            resume = ended.resume_revision
            assert resume > last
            assert same(events, [e for e in want if revision_of(e) < resume]), (
                f"canceled with resume revision {resume}: not every earlier event was delivered"
            )
    return events


class SqliteWorld:
    """The same writes through the real ``StoreStateMachine`` (SQLite), one
    Raft log index per request, as the node's apply loop would do.
    ``restart`` closes the store and opens the same file again."""

    kind = "sqlite"

    def __init__(self, path, *, declare_compact_deletes: bool | None = None) -> None:
        self.path = path
        self.recorder = Recorder()
        # None: the store's own declaration; True/False: set it on the
        # instance, to run the hub in either compaction mode on the real store
        self.declare_compact_deletes = declare_compact_deletes
        self.store = None
        self._open()

    def _open(self) -> None:
        from consensus.mvcc.state_machine import StoreStateMachine

        self.store = StoreStateMachine.open(self.path)
        if self.declare_compact_deletes is not None:
            self.store.history_keeps_compact_revision_deletes = self.declare_compact_deletes
        self.index = self.store.applied_index
        self.store.add_apply_listener(self.recorder)

    def apply(self, request):
        self.index += 1
        return self.store.apply(self.index, request)

    def put(self, key: bytes, value: bytes = b"v") -> int:
        self.apply(PutRequest(key=key, value=value))
        return self.store.revision

    def delete(self, *keys: bytes) -> int:
        if len(keys) == 1:
            self.apply(DeleteRangeRequest(key=keys[0]))
        else:
            self.apply(TxnRequest(success=tuple(DeleteRangeRequest(key=k) for k in keys)))
        return self.store.revision

    def delete_range(self, key: bytes, range_end: bytes) -> int:
        self.apply(DeleteRangeRequest(key=key, range_end=range_end))
        return self.store.revision

    def txn(self, puts=(), deletes=()) -> int:
        ops = tuple(DeleteRangeRequest(key=k) for k in deletes) + tuple(
            PutRequest(key=k, value=v) for k, v in puts
        )
        self.apply(TxnRequest(success=ops))
        return self.store.revision

    def compact(self, revision: int) -> None:
        self.apply(CompactionRequest(revision=revision))

    def restart(self) -> None:
        self.store.close()
        self._open()

    def close(self) -> None:
        self.store.close()
