"""One store watch per namespace in this process, pushing each change to
every subscription that has caught up, in one pass.

A ``LiveSubscription`` starts on a store watch of its own: it sends the
snapshot, or replays from ``since``, and catches up. Once it has sent
everything of the namespace up to some revision ``p`` (nothing of it
waiting to be sent), it can hand over to the namespace's ``NamespaceFeed``
(``join``). The feed has dispatched every change up to its own revision
``f`` and keeps the last changes it dispatched (``RING_SIZE``):

- ``p >= f``: the subscription joins and ignores the feed's changes up to
  ``p``, which it has sent itself;
- ``p < f`` and the ring holds every change after ``p``: those are sent
  to it from the ring, in order, and it joins;
- otherwise it stays on its own watch and tries again later.

From then on a change is read from the store and rendered once
(``ChangeRenderer``) and written to every joined subscription's socket in
one loop, with no task woken per subscriber: on this machine the task
switches had cost more than the writes, and while subscribers' replies
(acks) were read between them, the last subscriber waited for all of
them.

The feed lets go of a subscription (``_detach``), which goes back to a
watch of its own from exactly the revision after the last it was sent,
when:

- its socket's outbox is full (a slow reader): it then waits for room at
  its own pace, with the store's watch holding what it has not taken,
  as before it joined; the others are not held up;
- a revision starts, promotes or abandons a canary release: which items
  each instance gets then depends on its labels, and is worked out per
  subscription (``LiveSubscription._canary_move``); the ring is emptied,
  so nobody joins across that revision;
- the feed's watch ends (this member stopping, or compaction).

A feed is started only by a subscription that has caught up (a resumed
one, once it has replayed up to the store's revision at its start), so
nobody who joins waits through another's backlog. A subscription with an
item filter or on a canary joins too; one on a canary is let go at the
canary's next move, as above. A feed serves one
``reveal`` (secrets shown or masked), so there are at most two per
namespace; it stops when its last subscription leaves.
"""
from __future__ import annotations

import asyncio
import gc
import logging
from collections import deque
from typing import TYPE_CHECKING

from consensus.mvcc.api import WatchCreateRequest

from config_center.store import keys
from config_center.store.client import WatchClosed
from config_center.store.keys import prefix_end

from .context import ServiceContext
from .prefix_subscription import by_revision

if TYPE_CHECKING:
    from .subscriptions import ChangeRenderer, LiveSubscription

logger = logging.getLogger(__name__)

# Changes kept for subscriptions that join a little behind the feed.
RING_SIZE = 64


class NamespaceFeed:
    def __init__(self, feeds: LiveFeeds, ns: str, reveal: bool, start: int) -> None:
        self.feeds = feeds
        self.namespace = ns
        self.reveal = reveal
        # Every change up to ``revision`` has been dispatched; the ring
        # holds every change after ``ring_floor`` up to it.
        self.revision = start - 1
        self.ring_floor = self.revision
        self._ring: deque = deque(maxlen=RING_SIZE)
        self.subscribers: dict[LiveSubscription, None] = {}  # in the order they joined
        self._progress_wanted: set[LiveSubscription] = set()
        self._watch = feeds.ctx.client.watch(WatchCreateRequest(
            key=keys.live(ns), range_end=prefix_end(keys.live(ns)), start_revision=start))
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"live-feed-{ns}")
        self.stopped = False

    # -- subscriptions joining and leaving -------------------------------------------------------

    def join(self, subscription: LiveSubscription, complete: int) -> bool:
        """Take over ``subscription``, which has sent every change up to
        ``complete`` (module docstring); False if it cannot join now."""
        if self.stopped:
            return False
        if complete < self.revision:
            if complete < self.ring_floor:
                return False
            for revision, change in self._ring:
                if revision > complete and not subscription._offer(change):
                    # Full already: it goes on at its own pace, after what it took.
                    subscription._left(subscription.complete)
                    return False
            if subscription._ended:
                return False  # the namespace was deleted: that was its last message
        subscription._joined(self, max(complete, self.revision))
        self.subscribers[subscription] = None
        return True

    def leave(self, subscription: LiveSubscription) -> None:
        self.subscribers.pop(subscription, None)
        self._progress_wanted.discard(subscription)
        if not self.subscribers:
            self.stop()

    def _detach(self, subscription: LiveSubscription, complete: int) -> None:
        self.leave(subscription)
        subscription._left(complete)

    def _detach_all(self, complete: int) -> None:
        for subscription in list(self.subscribers):
            self._detach(subscription, complete)

    def request_progress(self, subscription: LiveSubscription) -> bool:
        """A bookmark for ``subscription`` after what it has been sent."""
        if self.stopped:
            return False
        self._progress_wanted.add(subscription)
        return self._watch.request_progress()

    def stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        self.feeds._forget(self)
        self._watch.cancel()
        if self._task is not asyncio.current_task():
            self._task.cancel()

    # -- the dispatch loop ---------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self.stopped:
                try:
                    response = await self._watch.next()
                except WatchClosed:
                    break
                if response.compact_revision or response.canceled:
                    break
                if response.events:
                    for revision, group in by_revision(response.events):
                        await self._dispatch(revision, group)
                        if self.stopped:
                            return
                elif not response.created:
                    self._progress(response.header.revision)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("live feed of %r failed; its subscriptions go on their own", self.namespace)
        self._detach_all(self.revision)
        self.stop()

    async def _dispatch(self, revision: int, group: list) -> None:
        canary_key = keys.canary(self.namespace)
        if any(event.kv.key == canary_key for event in group):
            # Each subscription works out what this means for its instance.
            self._detach_all(revision - 1)
            self._ring.clear()
            self.revision = self.ring_floor = revision
            return
        change = await self.feeds.renderer.change(self.namespace, revision, group, reveal=self.reveal)
        # The loop makes only short-lived objects, which reference counting
        # frees; a cyclic collection that happened to start in it would walk
        # the whole heap (1.6 million objects with 10,000 subscribers) in
        # the middle of a fan-out. It runs after, if it is due.
        collecting = gc.isenabled()
        gc.disable()
        try:
            for subscription in list(self.subscribers):
                if subscription.canary_release is not None:
                    # Its items are the canary's; a live change cannot happen under
                    # a running canary (releases.publish), so this is the canary's end.
                    self._detach(subscription, revision - 1)
                elif not subscription._offer(change):
                    self._detach(subscription, revision - 1)
        finally:
            if collecting:
                gc.enable()
        self._ring.append((revision, change))
        if len(self._ring) == RING_SIZE:
            self.ring_floor = self._ring[0][0] - 1
        self.revision = revision

    def _progress(self, revision: int) -> None:
        self.revision = max(self.revision, revision)
        wanted, self._progress_wanted = self._progress_wanted, set()
        shared = None  # one message for all (heartbeats ask for thousands a second)
        for subscription in wanted:
            if subscription not in self.subscribers:
                continue
            if shared is None:
                shared = subscription.progress_message(self.revision)
            if not subscription._progress(self.revision, shared):
                self._detach(subscription, subscription.complete)


class LiveFeeds:
    """The feeds of this process, by (namespace, reveal)."""

    def __init__(self, ctx: ServiceContext, renderer: ChangeRenderer) -> None:
        self.ctx = ctx
        self.renderer = renderer
        self._feeds: dict[tuple[str, bool], NamespaceFeed] = {}

    def join(self, subscription: LiveSubscription) -> bool:
        key = (subscription.namespace, subscription.reveal)
        feed = self._feeds.get(key)
        if feed is None:
            if subscription.complete < subscription.caught_up_at:
                # Still replaying what it missed: a feed started here would
                # make everyone who joins it wait through that backlog too.
                return False
            feed = self._feeds[key] = NamespaceFeed(self, *key, start=subscription.complete + 1)
        return feed.join(subscription, subscription.complete)

    def _forget(self, feed: NamespaceFeed) -> None:
        if self._feeds.get((feed.namespace, feed.reveal)) is feed:
            del self._feeds[(feed.namespace, feed.reveal)]

    def __len__(self) -> int:
        return len(self._feeds)
