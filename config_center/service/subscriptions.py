"""Live delivery: an application's subscription to one namespace's live
config, as a sequence of messages ready to send.

A subscription is one store watch of the namespace's live keys
(``keys.live``), so it inherits the watch's guarantees: every change after
its start, in revision order, exactly once, or an explicit end. What the
application receives:

- ``snapshot``: the whole live config and the store revision it was read
  at (a new subscription without ``since``);
- ``change``: one publish or rollback — the items it added or changed,
  with content, and the names it deleted, with the release number, its
  kind, when it was made (``published_at``) and the store revision;
- ``resync``: like ``snapshot``, when the application resumed from a
  revision the store has compacted away: what it missed can no longer be
  replayed change by change, so it gets everything, explicitly;
- ``deleted``: the namespace was deleted; the subscription ends;
- ``progress``: nothing changed up to ``revision`` (a bookmark), with
  whether this member follows a leader (``leader``; when it does not, the
  store it serves may be behind the cluster's).

Every message carries ``revision``: resuming with ``since=<revision>``
continues exactly after it. ``since`` may be ahead of this member (the
application was served by a member further along): the watch then waits
for this member to get there and repeats nothing. A ``since`` ahead of
the cluster itself is refused.

Rendering a change reads its items' content, which costs more than the
fan-out. ``ChangeRenderer`` renders each (namespace, revision, reveal)
once per process, however many subscriptions ask for it at the same time,
and keeps the bodies in a bounded cache.
"""
from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import cachetools

from consensus.mvcc.api import CompactedError, EventType, RangeRequest

from config_center.store import keys, records

from . import items as items_module
from .context import ServiceContext
from .errors import InvalidError, NotFoundError
from .canary import selects
from .names import check_item, check_namespace
from .prefix_subscription import RESYNC, Delivery, PrefixSubscription, by_revision, dumps

if TYPE_CHECKING:
    from .live_feed import LiveFeeds, NamespaceFeed

CHANGE = "change"
DELETED = "deleted"

MAX_ITEM_FILTER = 1000
# A change's body is kept per item filter: subscribers mostly share a few.
MAX_BODIES_PER_CHANGE = 16
_UNSET = object()
RENDER_CACHE_BYTES = 32 * 1024 * 1024


@dataclass(frozen=True)
class _Change:
    """A rendered change before filtering: what every subscriber of the
    namespace with the same ``reveal`` is sent (or ``deleted``)."""

    revision: int
    release: int
    kind: str  # publish | rollback, or DELETED for the namespace's deletion
    items: dict[str, dict]
    deleted: tuple[str, ...]
    published_at: str | None = None  # the release's time (RFC 3339), when known
    # name -> what the item is (format, blob, secret) for each item put: a
    # subscription keeps the set it serves to work out a canary's changes
    refs: dict = field(default_factory=dict, compare=False)
    # Messages (``Delivery``, or None: nothing) by item filter (None: every
    # item), made by the first subscriber with that filter and reused by
    # the others.
    bodies: dict = field(default_factory=dict, compare=False)


class ChangeRenderer:
    """Changes of namespaces, rendered once per (namespace, revision,
    reveal) in this process (module docstring)."""

    def __init__(self, ctx: ServiceContext, max_bytes: int = RENDER_CACHE_BYTES) -> None:
        self.ctx = ctx
        self._rendered: cachetools.LRUCache = cachetools.LRUCache(maxsize=max_bytes, getsizeof=_change_size)
        self._in_flight: dict[tuple[str, int, bool], asyncio.Future] = {}
        self.renders = 0  # how many changes were actually rendered (tests, metrics)

    async def change(self, ns: str, revision: int, events: list, *, reveal: bool) -> _Change:
        key = (ns, revision, reveal)
        done = self._rendered.get(key)
        if done is not None:
            return done
        pending = self._in_flight.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            change = await self._render(ns, revision, events, reveal)
        except BaseException as error:
            future.set_exception(error)
            future.exception()  # retrieved: the waiters, if any, get it too
            raise
        finally:
            self._in_flight.pop(key, None)
        future.set_result(change)
        self._rendered[key] = change
        return change

    async def _render(self, ns: str, revision: int, events: list, reveal: bool) -> _Change:
        self.renders += 1
        prefix = keys.items(ns)
        puts: dict[str, dict] = {}
        deleted: list[str] = []
        for event in events:
            if not event.kv.key.startswith(prefix):
                continue  # the canary record: not part of the live items
            name = keys.name_after(prefix, event.kv.key)
            if event.type is EventType.DELETE:
                deleted.append(name)
            else:
                puts[name] = {**records.decode(event.kv.value), "revision": event.kv.mod_revision}
        if not puts and not await self._namespace_exists_at(ns, revision):
            return _Change(revision, 0, DELETED, {}, tuple(deleted))
        release = next((item["release"] for item in puts.values()), None)
        if release is None:
            release = await self._release_at(ns, revision)
        texts = await items_module.contents(self.ctx, ns, puts, reveal=reveal)
        rendered = {name: {"format": item["format"], "content": texts[name], "revision": item["revision"],
                           "secret": bool(item.get("secret"))} for name, item in puts.items()}
        record = await self._release_record(ns, release)
        return _Change(revision, release, record.get("kind", "publish"), rendered, tuple(sorted(deleted)),
                       record.get("time"), refs={name: item_ref(item) for name, item in puts.items()})

    async def _read_at(self, key: bytes, revision: int):
        try:
            return await records.get(self.ctx.client, key, revision=revision, serializable=True)
        except CompactedError:
            return await records.get(self.ctx.client, key, serializable=True)

    async def _namespace_exists_at(self, ns: str, revision: int) -> bool:
        return await self._read_at(keys.namespace(ns), revision) is not None

    async def _release_at(self, ns: str, revision: int) -> int:
        head = await self._read_at(keys.head(ns), revision)
        return records.decode(head.value)["release_seq"] if head is not None else 0

    async def _release_record(self, ns: str, release: int) -> dict:
        # Release records are kept apart from the item keys; a pruned one
        # leaves kind and time unknown ("publish", no time).
        record = await records.get(self.ctx.client, keys.release(ns, release), serializable=True) if release else None
        return records.decode(record.value) if record is not None else {}


def item_ref(item: dict) -> tuple:
    """What makes two versions of an item the same for an application."""
    return item["format"], item["blob"], bool(item.get("secret"))


def _change_size(change: _Change) -> int:
    return 256 + sum(len(item["content"]) + 64 for item in change.items.values())


def check_item_filter(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_ITEM_FILTER:
        raise InvalidError(f"items must be a list of 1 to {MAX_ITEM_FILTER} item names")
    return frozenset(check_item(name) for name in value)


class LiveSubscription(PrefixSubscription):
    """One namespace's live config for one application (module docstring).

    ``instance`` (id and labels, as delivery tracking checked them) decides
    whether a running canary release serves it (``canary``): if so it gets
    the canary's items instead of the live ones, from the moment the canary
    starts until it is promoted (then it gets the new release) or abandoned
    (then the live items again). Such moves are worked out for each
    subscription from the item set it was last sent (``_view``)."""

    topic_field = "namespace"

    def __init__(self, ctx: ServiceContext, renderer: ChangeRenderer, ns: str, *, reveal: bool,
                 items: frozenset[str] | None = None, since: int | None = None, instance: dict | None = None,
                 feeds: LiveFeeds | None = None) -> None:
        super().__init__(ctx, check_namespace(ns), keys.live(ns), since=since)
        self.renderer = renderer
        self.feeds = feeds
        # Set by ``push_to``: where a feed writes this subscription's messages.
        self._sink: Callable[[Delivery], bool] | None = None
        self._feed: NamespaceFeed | None = None
        self._left_feed = asyncio.Event()
        # False from when a feed lets go until the watch of its own has
        # given something: whatever made the feed let go (a full outbox, a
        # canary, compaction) is then dealt with before joining again.
        self._may_join = True
        self.namespace = ns
        self.reveal = reveal
        self.items = items
        self.instance = instance or {}
        self._canary_key = keys.canary(ns)
        self._view: dict[str, tuple] | None = None  # name -> item_ref of what it was last sent; None: unknown
        self.canary_release: int | None = None  # the canary release it is on, if any

    async def _check_exists(self) -> int:
        response = await self.ctx.client.range(RangeRequest(key=keys.namespace(self.namespace)))
        if not response.kvs:
            raise NotFoundError(f"namespace {self.namespace!r} does not exist")
        return response.header.revision

    async def _snapshot(self, kind: str) -> Delivery:
        config, at = await items_module.live_config_at(self.ctx, self.namespace, reveal=self.reveal)
        self._watch_from(at + 1)
        canary_kv = await records.get(self.ctx.client, keys.canary(self.namespace), revision=at, serializable=True)
        canary = records.decode(canary_kv.value) if canary_kv is not None else None
        release = config["release"]
        if canary is not None and selects(canary["selector"], self.namespace, self.instance):
            texts = await items_module.contents(self.ctx, self.namespace, canary["items"], reveal=self.reveal)
            shown = {name: {"format": ref["format"], "content": texts[name], "revision": canary_kv.mod_revision,
                            "secret": bool(ref["secret"])} for name, ref in canary["items"].items()}
            self._view = {name: item_ref(ref) for name, ref in canary["items"].items()}
            self.canary_release = release = canary["seq"]
        else:
            shown = config["items"]
            live = await items_module.live_items(self.ctx, self.namespace, revision=at)
            self._view = {name: item_ref(item) for name, item in live.items()}
            self.canary_release = None
        body = dumps({"type": kind, "namespace": self.namespace, "revision": at, "release": release,
                      "canary": self.canary_release is not None, "items": self._filtered(shown)})
        return Delivery(kind, self.namespace, at, body, release)

    def _filtered(self, shown: dict[str, dict]) -> dict[str, dict]:
        if self.items is None:
            return shown
        return {name: item for name, item in shown.items() if name in self.items}

    async def _queue_changes(self, events) -> None:
        canary_key = self._canary_key
        for revision, group in by_revision(events):
            canary_event = next((e for e in group if e.kv.key == canary_key), None)
            if canary_event is not None or self.canary_release is not None:
                try:
                    delivery = await self._canary_move(revision, group, canary_event)
                except CompactedError:
                    delivery = await self._snapshot(RESYNC)
                    self._queue.append(delivery)
                    return
            else:
                change = await self.renderer.change(self.namespace, revision, group, reveal=self.reveal)
                delivery = self._delivery(change)
                self._seen(change)
            if delivery is not None:
                self._queue.append(delivery)
                if delivery.final:
                    self._end_after(delivery)
                    return

    async def _canary_move(self, revision: int, group: list, canary_event) -> Delivery | None:
        """The message for a revision that starts, promotes or abandons a
        canary, or any revision while this subscription is on one."""
        ns = self.namespace
        if canary_event is None:
            return None  # the live items cannot change under a running canary (releases.publish)
        canary = records.decode(canary_event.kv.value) if canary_event.type is not EventType.DELETE else None
        if canary is not None and selects(canary["selector"], ns, self.instance):
            target = canary["items"]
            target_view = {name: item_ref(ref) for name, ref in target.items()}
            release, kind, on_canary, item_revision = canary["seq"], "canary", canary["seq"], revision
        elif canary is not None and self.canary_release is None:
            return None  # a canary that does not serve this instance
        else:
            if not await self.renderer._namespace_exists_at(ns, revision):
                return self._end_after(Delivery(DELETED, ns, revision, dumps(
                    {"type": DELETED, "namespace": ns, "revision": revision}), final=True))
            live = await items_module.live_items(self.ctx, ns, revision=revision)
            target = live
            target_view = {name: item_ref(item) for name, item in live.items()}
            promoted = any(e.kv.key != canary_event.kv.key for e in group)
            release = await self.renderer._release_at(ns, revision)
            kind = "publish" if promoted else "canary_abandoned"
            on_canary, item_revision = None, None
        view = self._view or {}
        changed = {name: target[name] for name, ref in target_view.items() if view.get(name) != ref}
        deleted = sorted(name for name in view if name not in target_view)
        texts = await items_module.contents(self.ctx, ns, changed, reveal=self.reveal)
        shown = {name: {"format": ref["format"], "content": texts[name],
                        "revision": item_revision or ref.get("revision", revision), "secret": bool(ref.get("secret"))}
                 for name, ref in changed.items()}
        moved = on_canary != self.canary_release
        self._view, self.canary_release = target_view, on_canary
        shown = self._filtered(shown)
        deleted = [name for name in deleted if self.items is None or name in self.items]
        if not shown and not deleted and not moved and kind != "publish":
            return None
        record = await self.renderer._release_record(ns, release)
        return Delivery(CHANGE, ns, revision, dumps({
            "type": CHANGE, "namespace": ns, "revision": revision, "release": release, "kind": kind,
            "canary": on_canary is not None, "published_at": record.get("time"), "items": shown, "deleted": deleted,
        }), release, record.get("time"))

    def _seen(self, change: _Change) -> None:
        """``change`` was sent (or had nothing for this subscription)."""
        if self._view is not None and change.kind != DELETED:
            self._view.update(change.refs)
            for name in change.deleted:
                self._view.pop(name, None)

    # -- with a feed (``live_feed``) -----------------------------------------------------------------

    def push_to(self, sink: Callable[[Delivery], bool]) -> None:
        """Let a feed write this subscription's messages to ``sink`` once
        it has caught up; ``sink`` answers False when it has no room (the
        message is then not taken). ``next`` waits while a feed does so."""
        self._sink = sink

    async def next(self) -> Delivery:
        while True:
            if self._queue:
                return self._take_queued()
            if self._ended:
                return await super().next()  # raises
            if self._feed is not None or self._join_feed():
                self._left_feed.clear()
                await self._left_feed.wait()
                continue
            before = self.complete
            await self._take_response()
            if self._queue or self.complete > before:
                self._may_join = True

    def _join_feed(self) -> bool:
        if self._sink is None or self.feeds is None or not self._may_join:
            return False
        return self.feeds.join(self)

    def _joined(self, feed: NamespaceFeed, complete: int) -> None:
        self._feed = feed
        self.complete = max(self.complete, complete)
        self._stop_watch()

    def _left(self, complete: int) -> None:
        """The feed let go: go on from the revision after the last change
        sent, on a watch of its own."""
        self._feed = None
        self._may_join = False
        self.complete = max(self.complete, complete)
        self._stop_watch()
        self._left_feed.set()

    def _offer(self, change: _Change) -> bool:
        """Send ``change`` through the sink; False if it had no room."""
        if change.revision <= self.complete or self._ended:
            return True
        delivery = self._delivery(change)
        if delivery is not None and not self._sink(delivery):
            return False
        self._seen(change)
        self.complete = change.revision
        if delivery is not None:
            self.revision = max(self.revision, delivery.revision)
            if delivery.final:
                self.close()
        return True

    def _progress(self, revision: int, shared: Delivery | None = None) -> bool:
        """A bookmark at ``revision`` through the sink (``shared``: the
        same bookmark for other subscriptions, used if it is not behind)."""
        delivery = shared if shared is not None and shared.revision >= self.revision else None
        if delivery is None:
            delivery = self.progress_message(revision)
        if not self._sink(delivery):
            return False
        self.revision = delivery.revision
        self.complete = max(self.complete, revision)
        return True

    def request_progress(self) -> bool:
        if self._feed is not None:
            return self._feed.request_progress(self)
        return super().request_progress()

    def close(self) -> None:
        if self._feed is not None:
            self._feed.leave(self)
            self._feed = None
        super().close()

    def _delivery(self, change: _Change) -> Delivery | None:
        if change.kind == DELETED:
            return Delivery(DELETED, self.namespace, change.revision,
                            dumps({"type": DELETED, "namespace": self.namespace, "revision": change.revision}),
                            final=True)
        # One message object per item filter, shared by every subscription
        # with that filter (a fan-out sends the same object to thousands).
        delivery = change.bodies.get(self.items, _UNSET)
        if delivery is _UNSET:
            shown = self._filtered(change.items)
            deleted = [name for name in change.deleted if self.items is None or name in self.items]
            delivery = None if not shown and not deleted else Delivery(
                CHANGE, self.namespace, change.revision, dumps({
                    "type": CHANGE, "namespace": self.namespace, "revision": change.revision,
                    "release": change.release, "kind": change.kind, "canary": False,
                    "published_at": change.published_at, "items": shown, "deleted": deleted,
                }), change.release, change.published_at)
            if len(change.bodies) < MAX_BODIES_PER_CHANGE:
                change.bodies[self.items] = delivery
        return delivery  # None: none of the items this subscription asked for
