"""A subscription to a key prefix of the store, as messages ready to send:
the shared part of live config (``subscriptions``) and service discovery
(``registry``).

It is one store watch of the prefix, so it inherits the watch's
guarantees: every change after its start, in revision order, exactly once,
or an explicit end. A subclass reads the prefix's current state (the first
message, and the ``resync`` after a compacted resume point) and turns one
revision's events into a message. This class does the rest:

- ``since``: resume after that revision (nothing repeated); one ahead of
  the cluster is refused, one ahead of this member waits for it;
- ``resync``: the resume point was compacted away, so the application is
  sent the whole current state, explicitly, and the watch goes on from it;
- ``progress``: a bookmark on request (``request_progress``), queued
  behind every change already on its way, with whether this member
  follows a leader (``leader``: when it does not, what it serves may be
  behind the cluster);
- the end: ``SubscriptionEnded`` with the revision to resume from when the
  store ends the watch (its member stopping).

Every message carries ``revision``, a store revision: resuming with
``since=<revision>`` on any member continues exactly after it.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from typing import Any

from consensus.mvcc.api import RangeRequest, WatchCreateRequest

from config_center.store.client import WatchClosed
from config_center.store.keys import prefix_end

from .context import ServiceContext
from .errors import InvalidError

SNAPSHOT = "snapshot"
RESYNC = "resync"
PROGRESS = "progress"


@dataclass(frozen=True)
class Delivery:
    """One message for the application: ``body`` is its JSON text;
    ``topic`` the namespace or service it is about."""

    type: str
    topic: str
    revision: int
    body: str
    release: int = 0
    published_at: str | None = None  # of a config change: when its release was made
    final: bool = False  # nothing follows it on this subscription


class SubscriptionEnded(Exception):
    """The store ended the watch (its member is stopping); resume from
    ``resume_revision`` on any member."""

    def __init__(self, message: str, resume_revision: int) -> None:
        super().__init__(message)
        self.resume_revision = resume_revision


class SinceAheadError(InvalidError):
    """``since`` is a revision this cluster never reached: the client's
    state comes from another cluster (rebuilt, restored): subscribe again
    without ``since``."""

    code = "since_ahead"


def dumps(message: dict) -> str:
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def check_since(value: Any) -> int | None:
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidError("since must be a store revision (an integer, 0 or more)")
    return value


class PrefixSubscription:
    """``await start()`` once, then ``await next()`` for each message; only
    one consumer. ``close()`` when done. Subclasses set ``topic_field``
    and implement ``_snapshot``, ``_queue_changes`` and ``_check_exists``."""

    topic_field = "topic"

    def __init__(self, ctx: ServiceContext, topic: str, prefix: bytes, *, since: int | None = None) -> None:
        self.ctx = ctx
        self.topic = topic
        self.prefix = prefix
        self.since = since
        # The revision the application has everything up to, once the
        # message carrying it has been taken from ``next``.
        self.revision = 0
        # Every change up to this revision has been queued (and, once the
        # queue is empty, taken): a watch that goes on from ``complete + 1``
        # repeats and skips nothing.
        self.complete = 0
        # The store's revision when a resumed subscription started: once
        # ``complete`` reaches it, it has caught up with what it missed.
        self.caught_up_at = 0
        self._watch = None
        self._queue: deque[Delivery] = deque()
        self._ended = False

    async def start(self) -> None:
        if self.since is None:
            self._queue.append(await self._snapshot(SNAPSHOT))
            return
        # A linearizable read: this member has now applied at least every
        # revision the cluster had acknowledged, so a ``since`` beyond it
        # was never given out.
        at = await self._check_exists()
        if self.since > at:
            raise SinceAheadError(
                f"since={self.since} is ahead of the store's revision {at}; resume from a revision this "
                "cluster gave you"
            )
        self.revision = self.since
        self.caught_up_at = at
        self._watch_from(self.since + 1)

    async def _check_exists(self) -> int:
        """Raise ``NotFoundError`` if the topic does not exist; else the
        store revision, read linearizably."""
        response = await self.ctx.client.range(RangeRequest(key=self.prefix, range_end=prefix_end(self.prefix),
                                                            limit=1, keys_only=True))
        return response.header.revision

    async def _snapshot(self, kind: str) -> Delivery:
        """The whole current state as a ``kind`` message, read at a revision
        R; calls ``_watch_from(R + 1)``."""
        raise NotImplementedError

    async def _queue_changes(self, events) -> None:
        """Append the messages for ``events`` (one or more revisions, in
        order) to ``_queue``."""
        raise NotImplementedError

    def _watch_from(self, start: int) -> None:
        """Go on from revision ``start``."""
        self._stop_watch()
        self.complete = start - 1
        self._open_watch()

    def _stop_watch(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None

    def _end_after(self, delivery: Delivery) -> Delivery:
        """``delivery`` is the last message: the watch stops here."""
        self._ended = True
        self._stop_watch()
        return delivery

    def request_progress(self) -> bool:
        if self._ended:
            return False
        return self._open_watch().request_progress()

    def _open_watch(self):
        """The store watch, made from ``complete + 1`` if there is none (a
        feed let go of the subscription)."""
        if self._watch is None:
            self._watch = self.ctx.client.watch(WatchCreateRequest(
                key=self.prefix, range_end=prefix_end(self.prefix), start_revision=self.complete + 1))
        return self._watch

    def close(self) -> None:
        self._ended = True
        self._stop_watch()

    def progress_message(self, revision: int) -> Delivery:
        """A bookmark: nothing changed up to ``revision`` (at least this
        subscription's own revision)."""
        revision = max(self.revision, revision)
        return Delivery(PROGRESS, self.topic, revision, dumps({
            "type": PROGRESS, self.topic_field: self.topic, "revision": revision,
            "leader": self.ctx.client.leader_known(),
        }))

    async def next(self) -> Delivery:
        """The next message. Raises ``SubscriptionEnded`` when the store
        ends the watch; after a ``final`` message there is nothing more to
        take."""
        while not self._queue:
            await self._take_response()
        return self._take_queued()

    def _take_queued(self) -> Delivery:
        delivery = self._queue.popleft()
        self.revision = max(self.revision, delivery.revision)
        return delivery

    async def _take_response(self) -> None:
        """Turn the watch's next response into queued messages (maybe none)."""
        if self._ended:
            raise SubscriptionEnded(f"the subscription to {self.topic!r} has ended", self.revision + 1)
        try:
            response = await self._open_watch().next()
        except WatchClosed:
            raise SubscriptionEnded("the store ended the watch", self.revision + 1) from None
        if response.compact_revision:
            self._queue.append(await self._snapshot(RESYNC))
        elif response.canceled:
            self._ended = True
            raise SubscriptionEnded(response.cancel_reason or "the store ended the watch", self.revision + 1)
        elif response.events:
            await self._queue_changes(response.events)
            if not self._ended:
                self.complete = max(self.complete, response.events[-1].kv.mod_revision)
        elif not response.created:
            self.complete = max(self.complete, response.header.revision)
            self._queue.append(self.progress_message(response.header.revision))


def by_revision(events) -> list[tuple[int, list]]:
    """``events`` grouped by revision, in order: one response is one
    revision when it comes from the fan-out, but a catch-up read may hold
    several, and each is its own change."""
    groups: dict[int, list] = {}
    for event in events:
        groups.setdefault(event.kv.mod_revision, []).append(event)
    return sorted(groups.items())
