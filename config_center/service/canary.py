"""Canary (gray) releases: the drafts of a namespace published to some of
its subscribers first.

``start`` takes every draft, as a publish would, but instead of changing
the live items it records a canary release (kind ``canary``, with its own
release number, in the history like any other) and the canary record
``keys.canary(ns)``: the full item set the canary serves and the selector
of who gets it — instance ``labels`` that must all match, and/or a
``percent`` of instances, chosen by a stable hash of the namespace and the
instance id so an instance stays in or out across reconnects. Selected
subscribers switch to the canary's content at once; the others see
nothing. Delivery tracking shows its adoption like any release's.

While a canary runs, the namespace takes no other publish or rollback:
what ``promote`` would make live must be what the canary instances ran.
``promote`` makes the canary's item set live as a new release (kind
``publish``, ``promoted_from`` the canary) for everyone; ``abandon``
deletes the canary and records a release of the unchanged live items
(kind ``canary_abandoned``), which the instances on the canary move to.
While a canary runs, the live config's ``release`` is the one it started
from (``base_release``).
All three are audited changes of the namespace, guarded by its revision.
"""
from __future__ import annotations

import hashlib
from typing import Any

from config_center.store import keys, records

from . import namespaces
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import InvalidError, NotFoundError
from .items import DELETE, drafts, live_items
from .releases import check_comment, check_schema, live_items_becoming, refuse_while_canary_runs, release_items

MAX_SELECTOR_LABELS = 16


def check_selector(labels: Any, percent: Any) -> dict:
    if labels is None and percent is None:
        raise InvalidError("a canary needs a selector: labels (all must match), percent (0-100), or both")
    if labels is not None and (not isinstance(labels, dict) or not labels or len(labels) > MAX_SELECTOR_LABELS
                               or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in labels.items())):
        raise InvalidError(f"labels must be an object of 1 to {MAX_SELECTOR_LABELS} string keys to string values")
    if percent is not None and (not isinstance(percent, int) or isinstance(percent, bool) or not 0 < percent <= 100):
        raise InvalidError("percent must be a whole number from 1 to 100")
    return {"labels": labels or {}, "percent": percent}


def selects(selector: dict, ns: str, instance: dict) -> bool:
    """Whether the canary of ``ns`` with ``selector`` serves ``instance``."""
    labels = instance.get("labels", {})
    if any(labels.get(key) != value for key, value in selector.get("labels", {}).items()):
        return False
    percent = selector.get("percent")
    if percent is None:
        return True
    digest = hashlib.sha256(f"{ns}\0{instance.get('id', '')}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


async def current(ctx: ServiceContext, ns: str) -> dict | None:
    kv = await records.get(ctx.client, keys.canary(ns))
    return {**records.decode(kv.value), "revision": kv.mod_revision} if kv is not None else None


async def start(ctx: ServiceContext, actor: Actor, ns: str, *, labels: Any = None, percent: Any = None,
                comment: Any = "", base_revision: Any = None) -> dict:
    selector = check_selector(labels, percent)
    comment = check_comment(comment)

    async def plan(head: Head) -> Plan:
        record, head = await namespaces.load(ctx, ns, head)
        namespaces.check_base(head, base_revision, "a canary")
        await refuse_while_canary_runs(ctx, ns, "starting another")
        drafted = await drafts(ctx, ns)
        if not drafted:
            raise InvalidError(f"namespace {ns!r} has no drafts to release as a canary")
        live = await live_items(ctx, ns)
        view = dict(live)
        changes: dict[str, str] = {}
        for name, draft in sorted(drafted.items()):
            if draft["op"] == DELETE:
                view.pop(name, None)
                changes[name] = "deleted"
            else:
                changes[name] = "modified" if name in live else "added"
                view[name] = draft
        await check_schema(ctx, ns, record, view)
        seq = head.release_seq + 1
        now = ctx.now()
        release = {"seq": seq, "kind": "canary", "base_release": head.release_seq, "author": actor.name,
                   "time": now, "comment": comment, "selector": selector, "changes": changes,
                   "items": release_items(view)}
        canary = {"seq": seq, "base_release": head.release_seq, "selector": selector, "author": actor.name,
                  "time": now, "comment": comment, "items": release["items"]}
        ops = [records.delete_prefix(keys.drafts(ns)), records.put(keys.release(ns, seq), release),
               records.put(keys.canary(ns), canary)]
        return Plan("release.canary", ns, ops=ops, comment=comment,
                    details={"seq": seq, "selector": selector, "changes": changes}, release_seq=seq, result=release)

    done = await apply_change(ctx, ns, actor, plan)
    return {**done.plan.result, "revision": done.revision}


async def _running(ctx: ServiceContext, ns: str, head: Head, base_revision: Any, what: str) -> tuple[Head, dict]:
    """For promote and abandon: the namespace's head, checked against the
    client's revision, and the running canary (``NotFoundError`` if none)."""
    _, head = await namespaces.load(ctx, ns, head)
    namespaces.check_base(head, base_revision, what)
    canary = await current(ctx, ns)
    if canary is None:
        raise NotFoundError(f"namespace {ns!r} has no canary release running")
    return head, canary


async def promote(ctx: ServiceContext, actor: Actor, ns: str, *, comment: Any = "", base_revision: Any = None) -> dict:
    comment = check_comment(comment)

    async def plan(head: Head) -> Plan:
        head, canary = await _running(ctx, ns, head, base_revision, "promoting a canary")
        live = await live_items(ctx, ns)
        seq = head.release_seq + 1
        now = ctx.now()
        ops, changes = live_items_becoming(ns, live, canary["items"], seq=seq, now=now,
                                           updated_by=canary["author"], published_by=actor.name)
        release = {"seq": seq, "kind": "publish", "promoted_from": canary["seq"], "author": actor.name,
                   "time": now, "comment": comment, "changes": changes, "items": canary["items"]}
        ops += [records.delete(keys.canary(ns)), records.put(keys.release(ns, seq), release)]
        return Plan("release.canary_promote", ns, ops=ops, comment=comment,
                    details={"seq": seq, "promoted_from": canary["seq"], "changes": changes}, release_seq=seq,
                    result=release)

    done = await apply_change(ctx, ns, actor, plan)
    return {**done.plan.result, "revision": done.revision}


async def abandon(ctx: ServiceContext, actor: Actor, ns: str, *, comment: Any = "", base_revision: Any = None) -> dict:
    comment = check_comment(comment)

    async def plan(head: Head) -> Plan:
        head, canary = await _running(ctx, ns, head, base_revision, "abandoning a canary")
        # A release of its own: the instances that ran the canary move to it,
        # and the history says what happened.
        seq = head.release_seq + 1
        release = {"seq": seq, "kind": "canary_abandoned", "abandoned": canary["seq"], "author": actor.name,
                   "time": ctx.now(), "comment": comment, "changes": {},
                   "items": release_items(await live_items(ctx, ns))}
        ops = [records.delete(keys.canary(ns)), records.put(keys.release(ns, seq), release)]
        return Plan("release.canary_abandon", ns, ops=ops, comment=comment,
                    details={"seq": seq, "abandoned": canary["seq"]}, release_seq=seq, result=release)

    done = await apply_change(ctx, ns, actor, plan)
    return {**done.plan.result, "revision": done.revision}
