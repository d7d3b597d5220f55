"""The watch hub: one per node, fed by the store's apply loop, serving every
watch on the node with etcd v3's semantics.

Modeled on etcd's ``watchableStore`` (``server/storage/mvcc/
watchable_store.go``). The store calls ``on_apply(revision, events)`` after
each applied write; the hub hands each event to the watchers whose range holds
its key. The core is synchronous and deterministic — no clock, no sleeping, no
threads. Consumers read with ``Watcher.poll`` or await ``Watcher.next`` on the
node's event loop. Not thread-safe: call everything from the loop that
applies to the store.

The runtime drives it:
- ``WatchHub.attach(store)`` once the store is open (a hub per store object;
  after reopening the store, attach a new hub);
- ``progress()`` every progress interval (etcd: 10 minutes);
- ``sync_watchers()`` now and then (etcd: every 100 ms) — it catches up
  lagging watchers nobody is reading and notices a compaction; the store
  notifies no listener for a compaction (it has no events), so call
  ``on_compact()`` after applying one to tell lagging watchers at once;
- ``close()`` at shutdown: every watch ends with its resume revision.

Guarantees (etcd's, each with a test in ``tests/mvcc/test_watch_guarantees.py``)
--------------------------------------------------------------------------------
- Ordered: a watcher's events come in revision order and never go back.
- Unique: no event reaches a watcher twice.
- Reliable: a watcher gets every event in its range from its start revision
  on, with no gap — or an explicit terminal response (canceled, with
  ``compact_revision`` when history it needed was compacted away).
- Atomic: the events of one revision (a txn writing several keys, a delete of
  a range) arrive in one response.
- Resumable: a new watch from ``last seen revision + 1`` continues exactly,
  also with a new hub over the same store file.
- Bookmarkable: a progress notification (a response with no events) carries
  the store's revision ``R`` and is sent only to a watcher that already has
  every event up to ``R``, so resuming from ``R + 1`` loses nothing.

Synced, unsynced, victim
------------------------
etcd keeps watchers in three groups, and so does the hub:

- **synced** watchers have been given every event up to the store's current
  revision. Only they are in the fan-out index (``WatcherGroup``), and
  ``on_apply`` delivers straight into their buffers.
- **unsynced** watchers are behind: created with a start revision in the past,
  or fallen behind. They remember ``next_revision``, the first revision they
  still need, and catch up by reading the store's history
  (``store.history``) in bounded chunks. When a read reaches the store's
  revision they rejoin the synced group — the switch is exact because apply
  and catch-up run on the same thread: no write can land between the read
  and the switch.
- **victims** are watchers whose buffer was full when an event arrived. In
  etcd a victim keeps the undeliverable batch in memory and retries sending
  it; here a victim keeps only ``next_revision`` (the revision it could not
  take) and its events are re-read from history later, so a slow consumer
  costs a bounded buffer and nothing more. Once its consumer drains the
  buffer to the low-water mark (half the buffer) it becomes unsynced, and
  each further ``poll``/``next`` reads the next chunk as room frees up.

Chunks have a fixed size (half a buffer, at most ``chunk_events``) and the
hub keeps the last few answers of ``history`` while the store's revision
stands still, and ``next`` yields to the loop after each read: watchers
overrun by the same burst issue the same reads in step and share them —
ten thousand victims of one prefix read each chunk once, not once each.

A watcher that falls so far behind that its ``next_revision`` is compacted
receives a terminal response ``canceled=True, compact_revision=C``, after
the events already in its buffer, where ``C`` is the oldest revision a new
watch can start at. It is never skipped silently. See "Compaction" below for
which revisions count as compacted. ``SlowWatcherPolicy.CANCEL``
replaces the victim path: a synced watcher whose buffer is full is canceled
at once with ``cancel_reason`` naming the revision to resume from (also in
``Watcher.resume_revision``).

Responses and their header revision, as etcd 3.4 writes them
-------------------------------------------------------------
- ``created``: the first response of every watch; header revision = the
  store's revision at creation.
- events from ``on_apply``: header revision = the revision of the write (the
  store's revision at send time). Events read during catch-up: header
  revision = the store's revision at the read, as etcd's ``syncWatchers``
  does — so on an event response it is *not* a resume point; the last
  event's ``mod_revision + 1`` is.
- progress: no events, header revision = the store's revision.
- canceled by ``cancel``: header revision = the store's revision.
- compacted: ``canceled=True`` and ``compact_revision``; header revision 0,
  exactly as etcd 3.4.23 answers (checked against the real server).
- refused at creation (empty range, duplicate id):
  ``created=True, canceled=True, watch_id=-1`` and a ``cancel_reason``, as
  etcd's gRPC server answers.

Compaction
----------
etcd's rule (``chooseAll`` in watchable_store.go) is that a watcher whose
next revision is *below* the compact revision is compacted; a watch may
start *at* the compact revision and gets that revision's events — including
its deletes since etcd fixed #18089 (#18274, backported to 3.4 and 3.5: the
tombstone at the compact revision is kept until the next compaction) and
#19179 (#19188: also after a restart). etcd 3.4.23 still drops such a
delete: a watch from the compact revision silently misses it (checked
against the real server).

The hub follows the fixed rule only for a store that declares it keeps the
deletes at its compact revision (``history_keeps_compact_revision_deletes =
True``). For any other store a delete at the compact revision may be gone
from ``history``, so the hub counts the compact revision itself as
compacted: the oldest revision a watch can start at is ``compact + 1``, and
that is the ``compact_revision`` its compacted responses report — an
explicit answer where etcd 3.4.23 would skip silently, and a resume point
that works. ``WatchHub.oldest_revision`` says which rule is in force.

Watch IDs are the hub's: unique among its live watches, requested
(``watch_id != 0``) or assigned from a counter that starts at 0 and skips
IDs in use, as etcd assigns them within a stream.
"""
from __future__ import annotations

import enum
import logging
from typing import Callable, Iterable, Protocol

from .api import CompactedError, Event, ResponseHeader, WatchCreateRequest, WatchFilter, WatchResponse
from .watcher import Watcher, WatcherState, select_events
from .watcher_group import WatcherGroup, is_empty_range

logger = logging.getLogger(__name__)

# etcd's messages for refused watches (mvcc/watcher.go, watch_stream.go).
EMPTY_RANGE_REASON = "mvcc: watcher range is empty"
DUPLICATE_ID_REASON = "mvcc: duplicate watch ID provided on the WatchStream"
CLOSED_HUB_REASON = "watch hub is closed"
INVALID_WATCH_ID = -1


class SlowWatcherPolicy(enum.Enum):
    CATCH_UP = "catch-up"  # full buffer -> victim; catch up from history later
    CANCEL = "cancel"  # full buffer -> canceled, with the revision to resume from


def too_slow_reason(resume_revision: int) -> str:
    return f"watcher is too slow; resume from revision {resume_revision}"


class WatchableStore(Protocol):
    """What the hub needs from the store (``StoreStateMachine``).

    Optional: ``history_keeps_compact_revision_deletes`` (bool, default
    False) — True if ``history`` from the compact revision still returns the
    deletes at that revision (etcd's fix for #18089/#19179).
    """

    @property
    def revision(self) -> int: ...

    @property
    def compact_revision(self) -> int: ...

    def history(
        self, key: bytes, range_end: bytes, start_revision: int, max_events: int = 1000
    ) -> tuple[list[tuple[int, Event]], int]:
        """Events (with prev_kv) in the range from ``start_revision`` on, in
        revision order, never splitting a revision, and the next revision to
        read; raises ``CompactedError`` if ``start_revision`` is compacted."""
        ...


def _default_header(revision: int) -> ResponseHeader:
    return ResponseHeader(revision=revision)


class WatchHub:
    """Every watch on one node.

    ``store`` must call ``on_apply`` after each applied write, in revision
    order (``WatchHub.attach`` registers it). ``buffer_events`` bounds each
    watcher's buffer (in events); ``chunk_events`` bounds one history read;
    ``header`` builds a response header for a revision (the node supplies
    cluster and member IDs and the Raft term).
    """

    def __init__(
        self,
        store: WatchableStore,
        *,
        buffer_events: int = 1000,
        chunk_events: int = 1000,
        slow_policy: SlowWatcherPolicy = SlowWatcherPolicy.CATCH_UP,
        header: Callable[[int], ResponseHeader] = _default_header,
    ) -> None:
        if buffer_events < 1 or chunk_events < 1:
            raise ValueError("buffer_events and chunk_events must be at least 1")
        self._store = store
        self._buffer_events = buffer_events
        self._chunk_events = chunk_events
        self._slow_policy = slow_policy
        self._header = header
        self._watchers: dict[int, Watcher] = {}
        self._synced = WatcherGroup()
        self._unsynced: dict[Watcher, None] = {}
        self._victims: dict[Watcher, None] = {}
        self._progress_watchers: dict[Watcher, None] = {}
        self._next_id = 0
        self._last_revision = store.revision
        self._seen_compact_revision = store.compact_revision
        self._compact_deletes_kept = bool(getattr(store, "history_keeps_compact_revision_deletes", False))
        self._closed = False
        self._history_cache: dict[tuple[bytes, bytes, int, int], tuple[list, int]] = {}
        self._history_epoch = (-1, -1)

    @classmethod
    def attach(cls, store, **options) -> WatchHub:
        """A hub registered as ``store``'s apply listener."""
        hub = cls(store, **options)
        store.add_apply_listener(hub.on_apply)
        return hub

    # -- introspection ---------------------------------------------------------

    @property
    def revision(self) -> int:
        return self._store.revision

    def __len__(self) -> int:
        return len(self._watchers)

    def get(self, watch_id: int) -> Watcher | None:
        return self._watchers.get(watch_id)

    def counts(self) -> dict[str, int]:
        """How many live watchers are in each group."""
        return {
            "synced": len(self._synced),
            "unsynced": len(self._unsynced),
            "victim": len(self._victims),
        }

    def oldest_revision(self) -> int:
        """The oldest revision a watch can start at and still get every
        event: the store's compact revision (etcd's rule), or the one after
        it if the store may have dropped deletes at the compact revision
        (module docstring, "Compaction"). 0 before any compaction."""
        compact = self._store.compact_revision
        if compact and not self._compact_deletes_kept:
            return compact + 1
        return compact

    def effective_next_revision(self, watcher: Watcher) -> int:
        """The first revision ``watcher`` has not been given."""
        if watcher.state is WatcherState.SYNCED:
            return max(watcher.next_revision, self._store.revision + 1)
        return watcher.next_revision

    # -- creating and canceling ----------------------------------------------------

    def watch(self, request: WatchCreateRequest) -> Watcher:
        """Start a watch. Never raises for a bad request: like etcd, a refused
        watch is a watcher whose only response is ``created=True,
        canceled=True, watch_id=-1`` with the reason.

        ``start_revision`` 0 watches from the next write; a revision at or
        below the store's replays history from there (a compacted one gets
        the compacted response right after ``created``); a later one waits
        for it. A negative one is a past revision, as in etcd: compacted
        once the store has been compacted, else a replay from the first
        revision.
        """
        revision = self._store.revision
        reason = ""
        if self._closed:
            reason = CLOSED_HUB_REASON
        elif is_empty_range(request.key, request.range_end):
            reason = EMPTY_RANGE_REASON
        elif request.watch_id != 0 and request.watch_id in self._watchers:
            # any other requested ID is taken as is, negative ones too, as etcd does
            reason = DUPLICATE_ID_REASON
        filters = set(request.filters)
        watcher = Watcher(
            self,
            INVALID_WATCH_ID if reason else self._assign_id(request.watch_id),
            request.key,
            request.range_end,
            prev_kv=request.prev_kv,
            no_put=WatchFilter.NOPUT in filters,
            no_delete=WatchFilter.NODELETE in filters,
            progress_notify=request.progress_notify,
            capacity=self._buffer_events,
            next_revision=0,
        )
        if reason:
            watcher.state = WatcherState.CLOSED
            watcher.cancel_reason = reason
            watcher._push(
                WatchResponse(
                    header=self._header(revision),
                    watch_id=INVALID_WATCH_ID,
                    created=True,
                    canceled=True,
                    cancel_reason=reason,
                )
            )
            return watcher

        self._watchers[watcher.id] = watcher
        if watcher.progress_notify:
            self._progress_watchers[watcher] = None
        watcher._push(WatchResponse(header=self._header(revision), watch_id=watcher.id, created=True))
        start = request.start_revision
        if start == 0 or start > revision:
            # etcd: synced from the next revision, or from a future start
            # (events before it are skipped by on_apply).
            watcher.next_revision = max(start, revision + 1)
            self._synced.add(watcher)
        else:
            watcher.next_revision = start
            watcher.state = WatcherState.UNSYNCED
            self._unsynced[watcher] = None
            oldest = self.oldest_revision()
            if 0 < oldest and start < oldest:
                self._close_compacted(watcher, oldest)
            else:
                # never compacted: a negative start replays everything
                watcher.next_revision = max(start, 1)
        return watcher

    def _assign_id(self, requested: int) -> int:
        if requested:
            return requested
        while self._next_id in self._watchers:
            self._next_id += 1
        watch_id = self._next_id
        self._next_id += 1
        return watch_id

    def cancel(self, watch_id: int) -> bool:
        """End a watch: its consumer gets the events already buffered, then
        ``canceled=True``. False if no live watch has that ID."""
        watcher = self._watchers.get(watch_id)
        if watcher is None:
            return False
        watcher.resume_revision = self.effective_next_revision(watcher)
        self._close(
            watcher,
            WatchResponse(header=self._header(self._store.revision), watch_id=watch_id, canceled=True),
        )
        return True

    def close(self, reason: str = CLOSED_HUB_REASON, *, resume_at_most: int | None = None) -> None:
        """Cancel every watch (with ``reason``) and refuse new ones; for node
        shutdown. Each consumer learns where to resume — no later than
        ``resume_at_most`` if given (after a failure in the middle of a
        revision: resuming may then repeat it, but skips nothing)."""
        self._closed = True
        try:
            header = self._header(self._store.revision)
        except Exception:  # closing after a failure must not fail in turn
            header = _default_header(self._store.revision)
        for watcher in list(self._watchers.values()):
            resume = self.effective_next_revision(watcher)
            if resume_at_most is not None:
                resume = min(resume, resume_at_most)
            watcher.resume_revision = resume
            self._close(
                watcher,
                WatchResponse(
                    header=header,
                    watch_id=watcher.id,
                    canceled=True,
                    cancel_reason=f"{reason}; resume from revision {resume}",
                ),
            )

    # -- the apply path ------------------------------------------------------------

    def on_apply(self, revision: int, events: list[Event] | tuple[Event, ...]) -> None:
        """The store applied a write at ``revision`` producing ``events`` (with
        prev_kv). Delivers them to the synced watchers whose range holds
        their keys, all of a watcher's events of this revision in one
        response. A watcher with no room becomes a victim (or is canceled
        under ``SlowWatcherPolicy.CANCEL``).

        Revisions must arrive in increasing order; an out-of-order or repeated
        revision with events is a broken invariant and raises. So does any
        failure while delivering — and first the hub ends every watch with a
        resume revision at or before ``revision``: the store only logs a
        listener's exception, and a watch must never go on with a gap.
        """
        if self._closed:
            return
        if events and revision <= self._last_revision:
            message = (
                f"watch hub got events for revision {revision} after revision "
                f"{self._last_revision}: the store must notify in revision order"
            )
            self.close(f"watch hub failed: {message}", resume_at_most=revision)
            raise RuntimeError(message)
        try:
            self._deliver(revision, events)
        except Exception as exc:
            self.close(f"watch hub failed at revision {revision} ({exc!r})", resume_at_most=revision)
            raise

    def _deliver(self, revision: int, events: list[Event] | tuple[Event, ...]) -> None:
        if revision > self._last_revision:
            self._last_revision = revision
        if self._store.compact_revision > self._seen_compact_revision:
            self.on_compact()
        if not events or not len(self._synced):
            return

        if len(events) == 1:
            hits: Iterable = ((bucket, events) for bucket in self._synced.match(events[0].kv.key))
        else:
            per_bucket: dict = {}
            for event in events:
                for bucket in self._synced.match(event.kv.key):
                    selected = per_bucket.get(bucket)
                    if selected is None:
                        per_bucket[bucket] = [event]
                    else:
                        selected.append(event)
            hits = per_bucket.items()

        header = self._header(revision)
        too_slow: list[Watcher] = []
        for bucket, bucket_events in hits:
            by_variant: dict = {}
            for watcher in bucket.watchers:
                if watcher.next_revision > revision:
                    continue  # a future start revision not reached yet
                variant = watcher.variant
                selected = by_variant.get(variant)
                if selected is None:
                    selected = by_variant[variant] = select_events(bucket_events, variant)
                if not selected:
                    continue  # all filtered out: etcd sends nothing
                if not watcher._offer(header, selected):
                    too_slow.append(watcher)
        for watcher in too_slow:
            self._fall_behind(watcher, revision)

    def on_compact(self) -> None:
        """The store compacted. Lagging watchers whose next revision is now
        gone get their compacted response at once (after what they already
        have), instead of when they next read. ``on_apply`` and
        ``sync_watchers`` call this when they see the compact revision move;
        the runtime may call it too."""
        self._seen_compact_revision = self._store.compact_revision
        oldest = self.oldest_revision()
        for group in (self._unsynced, self._victims):
            for watcher in list(group):
                if watcher.next_revision < oldest:
                    self._close_compacted(watcher, oldest)

    def on_restore(self) -> None:
        """The store's whole state was replaced by a leader's snapshot, so the
        revisions between the last one delivered and the snapshot's never
        passed through ``on_apply``. Every synced watcher becomes lagging at
        the first revision it has not been given and catches up from the
        restored history (or gets an explicit compacted answer) — as etcd's
        watchable store does on restore."""
        if self._closed:
            return
        for watcher in list(self._synced):
            self._synced.remove(watcher)
            watcher.next_revision = max(watcher.next_revision, self._last_revision + 1)
            watcher.state = WatcherState.UNSYNCED
            self._unsynced[watcher] = None
        self._history_cache.clear()
        self._last_revision = self._store.revision
        self.on_compact()

    def _fall_behind(self, watcher: Watcher, revision: int) -> None:
        """``watcher`` (synced) had no room for its events at ``revision``."""
        self._synced.remove(watcher)
        watcher.next_revision = revision
        if self._slow_policy is SlowWatcherPolicy.CANCEL:
            watcher.resume_revision = revision
            self._close(
                watcher,
                WatchResponse(
                    header=self._header(revision),
                    watch_id=watcher.id,
                    canceled=True,
                    cancel_reason=too_slow_reason(revision),
                ),
            )
            return
        watcher.state = WatcherState.VICTIM
        self._victims[watcher] = None

    # -- catching up ---------------------------------------------------------------

    def _catch_up(self, watcher: Watcher) -> None:
        """Read ``watcher``'s next chunk of history into its buffer, if it has
        drained to its low-water mark; rejoin the synced group when the read
        reaches the store's revision. Called from ``Watcher.poll`` and
        ``sync_watchers``."""
        if watcher.state not in (WatcherState.UNSYNCED, WatcherState.VICTIM):
            return
        if watcher._buffered_events > watcher.low_water:
            self._set_lagging(watcher, WatcherState.VICTIM)
            return
        store = self._store
        oldest = self.oldest_revision()
        if watcher.next_revision < oldest:
            self._close_compacted(watcher, oldest)
            return
        self._set_lagging(watcher, WatcherState.UNSYNCED)
        start = watcher.next_revision
        # A fixed chunk, not "whatever room is left": it always fits (the
        # buffer is at or below its low-water mark), and watchers overrun at
        # the same revision then issue the very same reads, which the
        # history cache answers once for all of them.
        chunk = min(self._chunk_events, watcher.capacity - watcher.low_water)
        try:
            history, next_revision = self._read_history(watcher, start, chunk)
            if not history and next_revision <= start:
                # Nothing read and no progress: the next revision alone holds
                # more events than there is room for. Wait for the buffer to
                # drain; once it is empty, Atomic delivery wins over the
                # bound and that revision is read whole.
                if watcher._buffered_events:
                    return
                history, next_revision = self._read_history(watcher, start, _UNBOUNDED)
        except CompactedError as err:
            self._close_compacted(watcher, max(err.compact_revision, self.oldest_revision()))
            return
        if (history and (history[0][0] < start or history[-1][0] >= next_revision)) or next_revision <= start:
            raise RuntimeError(
                f"store.history({watcher.key!r}, {watcher.range_end!r}, {start}) made no progress "
                f"or broke its order: revisions {[rev for rev, _ in history[:1] + history[-1:]]}, "
                f"next revision {next_revision}"
            )
        selected = select_events([event for _, event in history], watcher.variant)
        if selected:
            watcher._push(
                WatchResponse(header=self._header(store.revision), watch_id=watcher.id, events=selected)
            )
        watcher.next_revision = next_revision
        if watcher.next_revision > store.revision:
            self._unsynced.pop(watcher, None)
            self._victims.pop(watcher, None)
            watcher.state = WatcherState.SYNCED
            self._synced.add(watcher)
        elif watcher._buffered_events >= watcher.capacity:
            self._set_lagging(watcher, WatcherState.VICTIM)

    def _read_history(self, watcher: Watcher, start: int, max_events: int) -> tuple[list, int]:
        """``store.history`` for ``watcher``'s range, through a small cache:
        watchers on the same range that fell behind together (ten thousand
        on one prefix, all overrun by one burst) ask for the same chunk, and
        it is read once. The cache holds only while the store's revision and
        compact revision stay put — any write or compaction can change the
        answer — and its entries are never mutated."""
        watcher._history_reads += 1
        store = self._store
        epoch = (store.revision, store.compact_revision)
        if epoch != self._history_epoch:
            self._history_epoch = epoch
            self._history_cache.clear()
        query = (watcher.key, watcher.range_end, start, max_events)
        answer = self._history_cache.get(query)
        if answer is None:
            answer = store.history(watcher.key, watcher.range_end, start, max_events=max_events)
            if len(self._history_cache) >= _HISTORY_CACHE_ENTRIES:
                del self._history_cache[next(iter(self._history_cache))]
            self._history_cache[query] = answer
        return answer

    def _set_lagging(self, watcher: Watcher, state: WatcherState) -> None:
        if watcher.state is state:
            return
        if state is WatcherState.VICTIM:
            self._unsynced.pop(watcher, None)
            self._victims[watcher] = None
        else:
            self._victims.pop(watcher, None)
            self._unsynced[watcher] = None
        watcher.state = state

    def sync_watchers(self, max_watchers: int = 512) -> int:
        """One sweep for the runtime to run now and then (etcd runs its
        ``syncWatchers`` every 100 ms): give up to ``max_watchers`` lagging
        watchers that have room their next history chunk, and send
        compacted responses to lagging watchers whose history is gone.
        Returns how many watchers are still lagging."""
        if self._store.compact_revision > self._seen_compact_revision:
            self.on_compact()
        budget = max_watchers
        for watcher in list(self._unsynced) + list(self._victims):
            if budget <= 0:
                break
            if watcher.state is WatcherState.CLOSED or watcher._buffered_events > watcher.low_water:
                continue
            self._catch_up(watcher)
            budget -= 1
        return len(self._unsynced) + len(self._victims)

    # -- progress ------------------------------------------------------------------

    def progress(self) -> int:
        """The periodic progress tick (etcd: every 10 minutes by default).
        Each watcher that asked for ``progress_notify``, is synced, and got no
        event response since the previous tick receives an empty response
        whose header revision is the store's revision — a bookmark: it has
        every event up to there. Returns how many were sent."""
        revision = self._store.revision
        sent = 0
        response_header = None
        for watcher in self._progress_watchers:
            due = not watcher._events_since_progress
            watcher._events_since_progress = False
            if due and watcher.state is WatcherState.SYNCED:
                if response_header is None:
                    response_header = self._header(revision)
                sent += watcher._push_progress(WatchResponse(header=response_header, watch_id=watcher.id))
        return sent

    def request_progress(self, watch_id: int) -> bool:
        """An explicit progress request (etcd's ``RequestProgress``): a
        bookmark for one watch, sent only if it is synced. True if sent."""
        watcher = self._watchers.get(watch_id)
        if watcher is None or watcher.state is not WatcherState.SYNCED:
            return False
        return watcher._push_progress(
            WatchResponse(header=self._header(self._store.revision), watch_id=watch_id)
        )

    # -- ending watches ------------------------------------------------------------

    def _close_compacted(self, watcher: Watcher, compact_revision: int) -> None:
        watcher.compact_revision = compact_revision
        self._close(
            watcher,
            # etcd 3.4 leaves the header revision of this response at 0.
            WatchResponse(header=self._header(0), watch_id=watcher.id, canceled=True,
                          compact_revision=compact_revision),
        )

    def _close(self, watcher: Watcher, terminal: WatchResponse) -> None:
        """Forget ``watcher`` and queue its terminal response (beyond the
        buffer bound: a consumer must learn that its watch ended)."""
        if watcher.state is WatcherState.CLOSED:
            raise RuntimeError(f"watch {watcher.id} closed twice")
        if watcher in self._synced:
            self._synced.remove(watcher)
        self._unsynced.pop(watcher, None)
        self._victims.pop(watcher, None)
        self._progress_watchers.pop(watcher, None)
        del self._watchers[watcher.id]
        watcher.state = WatcherState.CLOSED
        watcher.cancel_reason = terminal.cancel_reason
        watcher._push(terminal)


_UNBOUNDED = 1 << 62
_HISTORY_CACHE_ENTRIES = 16
