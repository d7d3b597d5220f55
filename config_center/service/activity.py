"""A namespace's activity, live: every change anyone makes to it (a draft
saved or discarded, a publish, a rollback, a canary step, new settings), as
its audit log records it.

The console uses it to tell an operator that what they are looking at, or
editing, has changed since they opened it. It watches the namespace's audit
chain: every change writes exactly one audit entry in the same transaction
as the change, so one entry is one change, in order, and none is missed.
Only who did what to which target is sent, never content.
"""
from __future__ import annotations

from consensus.mvcc.api import EventType, RangeRequest

from config_center.store import keys, records

from .changes import read_head
from .context import ServiceContext
from .errors import NotFoundError
from .names import check_namespace
from .prefix_subscription import Delivery, PrefixSubscription, dumps

ACTIVITY = "activity"


class ActivitySubscription(PrefixSubscription):
    """``snapshot`` (the namespace's current revision; ``resync`` after a
    compacted resume point: changes may have been missed), then one
    ``activity`` message per change: ``action``, ``actor``, ``target``,
    ``time``, ``comment`` and the ``revision`` it was made at."""

    topic_field = "activity"

    def __init__(self, ctx: ServiceContext, ns: str, *, since: int | None = None) -> None:
        ns = check_namespace(ns)
        super().__init__(ctx, ns, keys.audit_chain(ns), since=since)

    async def _check_exists(self) -> int:
        response = await self.ctx.client.range(RangeRequest(key=keys.namespace(self.topic)))
        if not response.kvs:
            raise NotFoundError(f"namespace {self.topic!r} does not exist")
        return response.header.revision

    async def _snapshot(self, kind: str) -> Delivery:
        await self._check_exists()
        head, at = await read_head(self.ctx, self.topic)
        self._watch_from(at + 1)
        return Delivery(kind, self.topic, at, dumps({"type": kind, "activity": self.topic, "revision": at,
                                                     "namespace_revision": head.revision}))

    async def _queue_changes(self, events) -> None:
        for event in events:
            if event.type is EventType.DELETE:  # old entries pruned: not a change to the namespace
                continue
            entry = records.decode(event.kv.value)
            revision = event.kv.mod_revision
            self._queue.append(Delivery(ACTIVITY, self.topic, revision, dumps({
                "type": ACTIVITY, "activity": self.topic, "revision": revision, "action": entry.get("action"),
                "actor": entry.get("actor"), "target": entry.get("target"), "time": entry.get("time"),
                "comment": entry.get("comment") or "",
            })))
