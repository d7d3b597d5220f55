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
from typing import Any

import cachetools

from consensus.mvcc.api import CompactedError, EventType, RangeRequest

from config_center.store import keys, records

from . import items as items_module
from .context import ServiceContext
from .errors import InvalidError, NotFoundError
from .names import check_item, check_namespace
from .prefix_subscription import Delivery, PrefixSubscription, by_revision, dumps

CHANGE = "change"
DELETED = "deleted"

MAX_ITEM_FILTER = 1000
# A change's body is kept per item filter: subscribers mostly share a few.
MAX_BODIES_PER_CHANGE = 16
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
    # JSON bodies by item filter (None: every item), made by the first
    # subscriber with that filter and reused by the others.
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
                       record.get("time"))

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


def _change_size(change: _Change) -> int:
    return 256 + sum(len(item["content"]) + 64 for item in change.items.values())


def check_item_filter(value: Any) -> frozenset[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or len(value) > MAX_ITEM_FILTER:
        raise InvalidError(f"items must be a list of 1 to {MAX_ITEM_FILTER} item names")
    return frozenset(check_item(name) for name in value)


class LiveSubscription(PrefixSubscription):
    """One namespace's live config for one application (module docstring)."""

    topic_field = "namespace"

    def __init__(self, ctx: ServiceContext, renderer: ChangeRenderer, ns: str, *, reveal: bool,
                 items: frozenset[str] | None = None, since: int | None = None) -> None:
        super().__init__(ctx, check_namespace(ns), keys.live(ns), since=since)
        self.renderer = renderer
        self.namespace = ns
        self.reveal = reveal
        self.items = items

    async def _check_exists(self) -> int:
        response = await self.ctx.client.range(RangeRequest(key=keys.namespace(self.namespace)))
        if not response.kvs:
            raise NotFoundError(f"namespace {self.namespace!r} does not exist")
        return response.header.revision

    async def _snapshot(self, kind: str) -> Delivery:
        config, at = await items_module.live_config_at(self.ctx, self.namespace, reveal=self.reveal)
        self._watch_from(at + 1)
        shown = self._filtered(config["items"])
        body = dumps({"type": kind, "namespace": self.namespace, "revision": at, "release": config["release"],
                      "items": shown})
        return Delivery(kind, self.namespace, at, body, config["release"])

    def _filtered(self, shown: dict[str, dict]) -> dict[str, dict]:
        if self.items is None:
            return shown
        return {name: item for name, item in shown.items() if name in self.items}

    async def _queue_changes(self, events) -> None:
        for revision, group in by_revision(events):
            change = await self.renderer.change(self.namespace, revision, group, reveal=self.reveal)
            delivery = self._delivery(change)
            if delivery is not None:
                self._queue.append(delivery)
                if delivery.final:
                    return

    def _delivery(self, change: _Change) -> Delivery | None:
        if change.kind == DELETED:
            return self._end_after(Delivery(
                DELETED, self.namespace, change.revision,
                dumps({"type": DELETED, "namespace": self.namespace, "revision": change.revision}), final=True))
        body = change.bodies.get(self.items)
        if body is None:
            shown = self._filtered(change.items)
            deleted = [name for name in change.deleted if self.items is None or name in self.items]
            body = "" if not shown and not deleted else dumps({
                "type": CHANGE, "namespace": self.namespace, "revision": change.revision,
                "release": change.release, "kind": change.kind, "published_at": change.published_at,
                "items": shown, "deleted": deleted,
            })
            if len(change.bodies) < MAX_BODIES_PER_CHANGE:
                change.bodies[self.items] = body
        if not body:
            return None  # none of the items this subscription asked for
        return Delivery(CHANGE, self.namespace, change.revision, body, change.release, change.published_at)
