"""One watch: its range and options, its bounded response buffer, and the
consumer side (``poll`` for synchronous callers, ``next`` / ``async for`` on
the event loop).

The hub (``watch_hub.WatchHub``) is the only writer of a watcher's buffer and
state; the consumer only takes responses. Taking is also what lets a watcher
that fell behind catch up: ``poll`` and ``next`` ask the hub to read the next
chunk of history into the buffer once it has drained to its low-water mark
(see the hub's docstring for the synced / unsynced / victim design).

Buffer bound: ``capacity`` counts *events*. A response that carries events is
queued only if it fits, or if the buffer holds no events at all — one
revision's events are never split (etcd's Atomic guarantee), so a revision
larger than the whole buffer still goes through, alone. Responses without
events are bounded separately: one ``created``, at most one terminal
(``canceled``) response, and consecutive progress notifications collapse into
the newest one, so at most one sits between two event responses.
"""
from __future__ import annotations

import asyncio
import enum
from collections import deque
from typing import TYPE_CHECKING, Optional

from .api import Event, EventType, ResponseHeader, WatchResponse

if TYPE_CHECKING:
    from .watch_hub import WatchHub


class WatchClosed(Exception):
    """Raised by ``Watcher.next`` once the terminal response (``canceled``)
    has been handed out: the watch delivers nothing more."""


class WatcherState(enum.Enum):
    SYNCED = "synced"  # has every event up to the store's revision; fed by on_apply
    UNSYNCED = "unsynced"  # behind, with room: catches up from the store's history
    VICTIM = "victim"  # behind, buffer full: waits for its consumer to drain it
    CLOSED = "closed"  # terminal response queued; the hub has forgotten it


# The event selection a watcher asks for; the hub computes it once per
# (bucket, variant) per revision and shares the resulting tuple.
Variant = tuple[bool, bool, bool]  # (prev_kv, no_put, no_delete)


def select_events(events: list[Event] | tuple[Event, ...], variant: Variant) -> tuple[Event, ...]:
    """``events`` with the watcher's filters applied and ``prev_kv`` dropped
    unless asked for (events are immutable, so unchanged ones are shared)."""
    prev_kv, no_put, no_delete = variant
    out = []
    for event in events:
        if event.type is EventType.PUT:
            if no_put:
                continue
        elif no_delete:
            continue
        if not prev_kv and event.prev_kv is not None:
            event = Event(event.type, event.kv)
        out.append(event)
    return tuple(out)


class Watcher:
    """A watch created by ``WatchHub.watch``.

    Consumer contract: exactly one consumer takes responses, either with
    ``poll()`` or by awaiting ``next()`` (or ``async for``). The first
    response is ``created``; then come event responses in revision order and
    progress notifications; the last one, if the watch ends, has
    ``canceled=True`` — with ``compact_revision`` set if the next revision it
    needed was compacted, or a ``cancel_reason`` when the hub gave up on it.
    A consumer that goes away must call ``cancel()`` so the hub forgets the
    watcher.
    """

    __slots__ = (
        "id",
        "key",
        "range_end",
        "variant",
        "progress_notify",
        "capacity",
        "low_water",
        "next_revision",
        "state",
        "resume_revision",
        "compact_revision",
        "cancel_reason",
        "_hub",
        "_buffer",
        "_buffered_events",
        "_tail_is_progress",
        "_events_since_progress",
        "_taken_terminal",
        "_waiter",
        "_history_reads",
    )

    def __init__(
        self,
        hub: Optional[WatchHub],
        watch_id: int,
        key: bytes,
        range_end: bytes,
        *,
        prev_kv: bool,
        no_put: bool,
        no_delete: bool,
        progress_notify: bool,
        capacity: int,
        next_revision: int,
    ) -> None:
        if capacity < 1:
            raise ValueError(f"a watcher's buffer must hold at least 1 event, got {capacity}")
        self.id = watch_id
        self.key = key
        self.range_end = range_end
        self.variant: Variant = (prev_kv, no_put, no_delete)
        self.progress_notify = progress_notify
        self.capacity = capacity
        # Catch-up reads resume once the buffer has drained to this many events,
        # so each history read fills at least half a buffer.
        self.low_water = capacity // 2
        # The lowest revision this watcher has not yet been given. For a synced
        # watcher it may lag (on_apply does not advance it, to keep fan-out
        # cheap); the hub's effective_next_revision() accounts for that.
        self.next_revision = next_revision
        self.state = WatcherState.SYNCED
        # Set when the watch ends: where a new watch should start to continue
        # exactly (0 when it cannot continue, i.e. after compaction).
        self.resume_revision = 0
        self.compact_revision = 0
        self.cancel_reason = ""
        self._hub = hub
        # WatchResponse objects, or (header, events) tuples that poll() turns
        # into event responses carrying this watcher's id
        self._buffer: deque[WatchResponse | tuple[ResponseHeader, tuple[Event, ...]]] = deque()
        self._buffered_events = 0
        self._tail_is_progress = False
        self._events_since_progress = False
        self._taken_terminal = False
        self._waiter: asyncio.Future[None] | None = None
        self._history_reads = 0  # counted by the hub; next() yields after one

    def __repr__(self) -> str:
        return (
            f"Watcher(id={self.id}, key={self.key!r}, range_end={self.range_end!r}, "
            f"state={self.state.value}, next_revision={self.next_revision}, "
            f"buffered={len(self._buffer)} responses/{self._buffered_events} events)"
        )

    # -- state the hub and tests read -----------------------------------------

    @property
    def buffered_events(self) -> int:
        return self._buffered_events

    @property
    def buffered_responses(self) -> int:
        return len(self._buffer)

    @property
    def closed(self) -> bool:
        """The watch has ended: its terminal response is queued or taken."""
        return self.state is WatcherState.CLOSED

    @property
    def done(self) -> bool:
        """The terminal response has been taken; nothing more will come."""
        return self._taken_terminal

    # -- consumer API ------------------------------------------------------------

    def poll(self) -> WatchResponse | None:
        """Take the next response without waiting. None means there is none:
        the watcher is synced (or ended) with an empty buffer. A watcher
        that fell behind first reads its next history chunk once its buffer
        is at or below the low-water mark — as many chunks as it takes to
        find a response or catch up, when filters leave chunks empty."""
        while True:
            response = self._take()
            if response is not None or self.state is not WatcherState.UNSYNCED:
                return response

    def _take(self) -> WatchResponse | None:
        """One step of ``poll``: at most one history read, then the head of
        the buffer if any."""
        if self._hub is not None and self.state in (WatcherState.UNSYNCED, WatcherState.VICTIM):
            if self._buffered_events <= self.low_water:
                self._hub._catch_up(self)
        if not self._buffer:
            return None
        item = self._buffer.popleft()
        if type(item) is tuple:
            # an event response queued by _offer, built only now: fan-out to
            # many watchers then costs a tuple per watcher, not a response
            header, events = item
            self._buffered_events -= len(events)
            response = WatchResponse(header=header, watch_id=self.id, events=events)
        else:
            response = item
            self._buffered_events -= len(response.events)
        if not self._buffer:
            self._tail_is_progress = False
        if response.canceled and self.state is WatcherState.CLOSED and not self._buffer:
            self._taken_terminal = True
        return response

    async def next(self) -> WatchResponse:
        """The next response, waiting for one if needed. Raises
        ``WatchClosed`` after the terminal response has been returned."""
        while True:
            reads = self._history_reads
            response = self._take()
            if self._history_reads != reads:
                # It read history: let the other tasks run first. One lagging
                # consumer then cannot hold the loop for a whole backlog, and
                # consumers of watchers overrun together advance in step, so
                # the hub reads each chunk once for all of them.
                await asyncio.sleep(0)
            if response is not None:
                return response
            if self._taken_terminal:
                raise WatchClosed(f"watch {self.id} has ended")
            if self.state is WatcherState.UNSYNCED:
                continue  # that chunk was all filtered out: read on
            if self._waiter is not None:
                raise RuntimeError(f"watch {self.id} already has a consumer waiting in next()")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None

    def __aiter__(self) -> Watcher:
        return self

    async def __anext__(self) -> WatchResponse:
        try:
            return await self.next()
        except WatchClosed:
            raise StopAsyncIteration from None

    def cancel(self) -> bool:
        """Cancel this watch (``WatchHub.cancel``); False if it had already
        ended."""
        return self._hub is not None and self._hub.cancel(self.id)

    def request_progress(self) -> bool:
        """Ask for a bookmark (``WatchHub.request_progress``): a progress
        response queued behind every event this watcher has been given, sent
        only while it is synced. True if one was queued."""
        return self._hub is not None and self._hub.request_progress(self.id)

    # -- producer side: called by the hub only -----------------------------------

    def _offer(self, header: ResponseHeader, events: tuple[Event, ...]) -> bool:
        """Queue an event response if it fits (see the module docstring);
        False, with nothing queued, if it does not. The hot path of fan-out."""
        buffered = self._buffered_events
        if buffered and buffered + len(events) > self.capacity:
            return False
        self._buffer.append((header, events))
        self._buffered_events = buffered + len(events)
        self._events_since_progress = True
        self._tail_is_progress = False
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        return True

    def _push(self, response: WatchResponse) -> None:
        """Queue ``response`` regardless of room (the hub checked it, or the
        response carries no events or is the terminal one)."""
        self._buffer.append(response)
        if response.events:
            self._buffered_events += len(response.events)
            self._events_since_progress = True
        self._tail_is_progress = False
        self._wake()

    def _push_progress(self, response: WatchResponse) -> bool:
        """Queue a progress notification, collapsing it into a progress
        notification still waiting at the tail. Skipped (False) when the
        buffer is full, as etcd skips a progress notification for a watcher
        whose channel is full: such a watcher has events coming anyway."""
        if self._tail_is_progress:
            self._buffer[-1] = response
        elif self._buffered_events >= self.capacity:
            return False
        else:
            self._buffer.append(response)
            self._tail_is_progress = True
        self._wake()
        return True

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
