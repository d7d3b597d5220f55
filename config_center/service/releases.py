"""Publishing drafts as a release, rolling back to any retained release,
and pruning history by the namespace's retention policy.

A release records the whole live item set it produced (name -> format,
content hash, size), so any retained release can be restored exactly.
Releases are plain keys (``keys.release``), not the MVCC history of the
item keys: compaction of the store never touches them. A publish and a
rollback each commit in one transaction: applications see the namespace
before or after, never between."""
from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from consensus.mvcc.api import RangeRequest

from config_center.content import formats, schema
from config_center.store import keys, records

from . import cursors, namespaces
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import ForbiddenError, InvalidError, NotFoundError, SchemaViolationError
from .items import DELETE, contents, drafts, live_items

logger = logging.getLogger(__name__)


def release_items(live: dict[str, dict]) -> dict[str, dict]:
    return {name: {"format": item["format"], "blob": item["blob"], "size": item["size"],
                   "secret": bool(item.get("secret"))}
            for name, item in sorted(live.items())}


async def check_schema(ctx: ServiceContext, ns: str, record: dict, items: dict[str, dict]) -> None:
    if not record.get("schema"):
        return
    structured = {name: item for name, item in items.items() if item["format"] in formats.STRUCTURED}
    texts = await contents(ctx, ns, structured, reveal=True)  # checked here, never shown
    broken = {}
    for name, item in structured.items():
        found = schema.violations(record["schema"], formats.parse(item["format"], texts[name]))
        if found:
            broken[name] = [v.as_dict() for v in found]
    if broken:
        count = sum(map(len, broken.values()))
        raise SchemaViolationError(
            f"{count} schema violation(s) in {len(broken)} item(s) of {ns!r}; nothing was published",
            {"items": broken},
        )


def check_comment(comment: Any) -> str:
    if not isinstance(comment, str) or len(comment) > 2000:
        raise InvalidError("comment must be a string of at most 2000 characters")
    return comment


def live_items_becoming(ns: str, live: dict[str, dict], target: dict[str, dict], *, seq: int, now: str,
                        updated_by: str, published_by: str) -> tuple[list, dict[str, str]]:
    """The writes that turn the ``live`` items into the release entries of
    ``target`` (name -> format, blob, size, secret) as release ``seq``, and
    what each item undergoes; items already equal are left alone."""
    ops: list = []
    changes: dict[str, str] = {}
    for name in sorted(set(live) - set(target)):
        ops.append(records.delete(keys.item(ns, name)))
        changes[name] = "deleted"
    for name, wanted in target.items():
        current = live.get(name)
        if current and release_items({name: current})[name] == wanted:
            continue
        changes[name] = "modified" if current else "added"
        ops.append(records.put(keys.item(ns, name), {
            "name": name, **wanted, "release": seq, "updated_at": now, "updated_by": updated_by,
            "published_by": published_by,
        }))
    return ops, changes


async def refuse_while_canary_runs(ctx: ServiceContext, ns: str, what: str) -> None:
    """No release but the canary's promotion while a canary runs: what
    promoting makes live must be what the canary instances ran."""
    running = await records.get(ctx.client, keys.canary(ns))
    if running is not None:
        seq = records.decode(running.value)["seq"]
        raise InvalidError(f"canary release {seq} of {ns!r} is running: promote or abandon it before {what}")


async def publish(ctx: ServiceContext, actor: Actor, ns: str, *, comment: Any = "", base_revision: Any = None) -> dict:
    """Apply every draft of ``ns`` at once and record the release."""
    comment = check_comment(comment)
    retention: dict = {}

    async def plan(head: Head) -> Plan:
        record, head = await namespaces.load(ctx, ns, head)
        retention.update(record["retention"])
        drafted = await drafts(ctx, ns)
        namespaces.check_base(head, base_revision, "a publish", {"drafts": sorted(drafted)})
        await refuse_while_canary_runs(ctx, ns, "publishing")
        if not drafted:
            raise InvalidError(f"namespace {ns!r} has no drafts to publish")
        if record.get("four_eyes") and any(d["author"] == actor.name for d in drafted.values()):
            raise ForbiddenError(
                f"namespace {ns!r} requires four eyes: {actor.name!r} drafted some of these changes "
                "and may not publish them"
            )
        live = await live_items(ctx, ns)
        seq = head.release_seq + 1
        now = ctx.now()
        new_live = dict(live)
        changes: dict[str, str] = {}
        ops: list = []
        for name, draft in sorted(drafted.items()):
            if draft["op"] == DELETE:
                new_live.pop(name, None)
                changes[name] = "deleted"
                ops.append(records.delete(keys.item(ns, name)))
                continue
            changes[name] = "modified" if name in live else "added"
            item = {"name": name, "format": draft["format"], "blob": draft["blob"], "size": draft["size"],
                    "secret": bool(draft.get("secret")), "release": seq, "updated_at": now, "updated_by": draft["author"], "published_by": actor.name}
            new_live[name] = item
            ops.append(records.put(keys.item(ns, name), item))
        await check_schema(ctx, ns, record, new_live)
        release = {"seq": seq, "kind": "publish", "author": actor.name, "time": now, "comment": comment,
                   "changes": changes, "items": release_items(new_live)}
        ops += [records.delete_prefix(keys.drafts(ns)), records.put(keys.release(ns, seq), release)]
        return Plan("release.publish", ns, ops=ops, comment=comment, details={"seq": seq, "changes": changes},
                    release_seq=seq, result=release)

    done = await apply_change(ctx, ns, actor, plan)
    release = {**done.plan.result, "revision": done.revision}
    if _due_for_pruning(release["seq"], retention):
        prune_soon(ctx, actor, ns, retention)
    return release


async def rollback(ctx: ServiceContext, actor: Actor, ns: str, to_seq: Any, *, comment: Any = "",
                   base_revision: Any = None) -> dict:
    """A new release whose items equal release ``to_seq``'s. Drafts stay as
    they are; ``drafts_pending`` says how many there are."""
    comment = check_comment(comment)
    if not isinstance(to_seq, int) or isinstance(to_seq, bool) or to_seq < 1:
        raise InvalidError("the release to roll back to must be a release number (1 or more)")
    retention: dict = {}

    async def plan(head: Head) -> Plan:
        record, head = await namespaces.load(ctx, ns, head)
        retention.update(record["retention"])
        namespaces.check_base(head, base_revision, "a rollback")
        await refuse_while_canary_runs(ctx, ns, "rolling back")
        target_kv = await records.get(ctx.client, keys.release(ns, to_seq))
        if target_kv is None:
            raise NotFoundError(f"release {to_seq} of {ns!r} does not exist (never made, or pruned)")
        target = records.decode(target_kv.value)["items"]
        live = await live_items(ctx, ns)
        if release_items(live) == target:
            raise InvalidError(f"the live config of {ns!r} already equals release {to_seq}")
        seq = head.release_seq + 1
        now = ctx.now()
        ops, changes = live_items_becoming(ns, live, target, seq=seq, now=now, updated_by=actor.name,
                                           published_by=actor.name)
        release = {"seq": seq, "kind": "rollback", "rollback_of": to_seq, "author": actor.name, "time": now,
                   "comment": comment, "changes": changes, "items": target}
        ops.append(records.put(keys.release(ns, seq), release))
        pending = len(await drafts(ctx, ns))
        # A prune (which does not move the namespace's head) must not delete
        # the release, and the content it names, under this rollback.
        still_there = records.mod_revision_is(keys.release(ns, to_seq), target_kv.mod_revision)
        return Plan("release.rollback", ns, ops=ops, comment=comment, compares=[still_there],
                    details={"seq": seq, "rollback_of": to_seq, "changes": changes}, release_seq=seq,
                    result={**release, "drafts_pending": pending})

    done = await apply_change(ctx, ns, actor, plan)
    result = {**done.plan.result, "revision": done.revision}
    if _due_for_pruning(result["seq"], retention):
        prune_soon(ctx, actor, ns, retention)
    return result


def _age_days(time: str, now: float) -> float:
    then = datetime.strptime(time, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()
    return (now - then) / 86400


async def prune(ctx: ServiceContext, actor: Actor, ns: str, *, automatic: bool = False,
                policy: dict | None = None) -> dict:
    """Delete the releases the retention policy no longer keeps, and the
    content only they referred to. Audited when it deletes anything.
    ``automatic`` (after a publish): only once the count is ``prune_slack``
    past the limit. ``policy``: the retention the caller just read.

    Pruning is maintenance, not a change of the namespace's config: it is
    recorded in the ``_global`` audit chain and leaves the namespace's
    revision alone, so it never makes a client's edit or publish based on
    that revision a conflict. What it deletes is guarded directly instead:
    each blob only if untouched since it was found unused (a draft saving
    the same content again rewrites it), and a rollback to a release
    commits only if that release still exists."""

    async def plan(head: Head) -> Plan:
        record, _ = await namespaces.load(ctx, ns)
        policy = record["retention"]
        kvs = await _all_releases_newest_first(ctx, ns)
        now = ctx.clock()
        doomed, kept = [], []
        for position, kv in enumerate(kvs):
            release = records.decode(kv.value)
            too_many = policy["max_releases"] and position >= policy["max_releases"]
            too_old = policy["max_age_days"] and _age_days(release["time"], now) > policy["max_age_days"]
            if position >= policy["min_releases"] and (too_many or too_old):
                doomed.append(release["seq"])
            else:
                kept.append(release)
        if not doomed:
            raise _NothingToPrune()
        referenced = {item["blob"] for release in kept for item in release["items"].values()}
        referenced |= {item["blob"] for item in (await live_items(ctx, ns)).values()}
        referenced |= {d["blob"] for d in (await drafts(ctx, ns)).values() if d["op"] != DELETE}
        blob_kvs, _ = await records.scan(ctx.client, keys.blobs(ns), keys_only=True)
        unused = [kv for kv in blob_kvs if keys.name_after(keys.blobs(ns), kv.key) not in referenced]
        unused = unused[:MAX_BLOBS_PER_PRUNE]  # compares are not nested: the rest goes next time
        ops = [records.delete(keys.release(ns, seq)) for seq in doomed] + [records.delete(kv.key) for kv in unused]
        compares = [records.mod_revision_is(kv.key, kv.mod_revision) for kv in unused]
        return Plan("release.prune", ns, ops=ops, compares=compares,
                    details={"releases": sorted(doomed), "blobs": len(unused)}, result={"pruned": sorted(doomed)})

    # Nothing to prune is the common case: find that out cheaply (a count,
    # at most one record) before planning, which reads every release.
    if not await _may_prune(ctx, ns, automatic, policy):
        return {"pruned": []}
    try:
        done = await apply_change(ctx, keys.GLOBAL_CHAIN, actor, plan)
    except _NothingToPrune:
        return {"pruned": []}
    return done.plan.result


# Releases read per store call while pruning: each call runs on the loop in
# one piece, so pages let other requests in between.
PRUNE_PAGE = 25
# etcd takes at most 128 compares in a txn (they cannot be nested).
MAX_BLOBS_PER_PRUNE = 100


async def _all_releases_newest_first(ctx: ServiceContext, ns: str) -> list:
    found: list = []
    after = b""
    while True:
        kvs, more = await records.scan(ctx.client, keys.releases(ns), start_after=after, limit=PRUNE_PAGE,
                                       descending=True)
        found += kvs
        if not more or not kvs:
            return found
        after = kvs[-1].key


class _NothingToPrune(Exception):
    """The plan found nothing to delete: no change, no audit entry."""


_background_prunes: dict[tuple[int, str], asyncio.Task] = {}


def prune_soon(ctx: ServiceContext, actor: Actor, ns: str, policy: dict) -> None:
    """The automatic pruning after a publish, in the background: the publish
    is answered without waiting for it, and a namespace has at most one
    running at a time (a later publish finds the work done or in hand)."""
    key = (id(ctx), ns)
    if key in _background_prunes:
        return

    async def run() -> None:
        try:
            await prune(ctx, actor, ns, automatic=True, policy=policy)
        except Exception:
            logger.warning("automatic pruning of %s failed; the next publish tries again", ns, exc_info=True)
        finally:
            _background_prunes.pop(key, None)

    _background_prunes[key] = asyncio.get_running_loop().create_task(run(), name=f"prune {ns}")


async def background_prunes_done() -> None:
    """Wait for the automatic prunes running now (tests, orderly shutdown)."""
    while _background_prunes:
        await asyncio.gather(*list(_background_prunes.values()), return_exceptions=True)


def prune_slack(max_releases: int) -> int:
    """How far past ``max_releases`` a namespace may grow before the
    automatic pruning after a publish runs: pruning reads every kept release
    (to know which content is still used), so it runs once per slack's
    worth of publishes rather than after each. ``prune`` itself (the API's)
    always prunes down to the limit."""
    return max(1, max_releases // 5)


def _due_for_pruning(seq: int, policy: dict) -> bool:
    """Whether the publish that made release ``seq`` checks retention: every
    ``prune_slack``-th one (for age, every tenth), so the check's count of
    releases is not paid on every publish."""
    if policy.get("max_releases"):
        return seq % prune_slack(policy["max_releases"]) == 0
    return bool(policy.get("max_age_days")) and seq % 10 == 0


async def _may_prune(ctx: ServiceContext, ns: str, automatic: bool, policy: dict | None) -> bool:
    if not policy:
        record, _ = await namespaces.load(ctx, ns)
        policy = record["retention"]
    prefix = keys.releases(ns)
    count = (await ctx.client.range(RangeRequest(key=prefix, range_end=keys.prefix_end(prefix),
                                                 count_only=True, serializable=True))).count
    if count <= policy["min_releases"]:
        return False
    slack = prune_slack(policy["max_releases"]) if automatic else 1
    if policy["max_releases"] and count >= policy["max_releases"] + slack:
        return True
    if not policy["max_age_days"]:
        return False
    oldest, _ = await records.scan(ctx.client, prefix, limit=1)
    return bool(oldest) and _age_days(records.decode(oldest[0].value)["time"], ctx.clock()) > policy["max_age_days"]


def _release_view(kv) -> dict:
    return {**records.decode(kv.value), "revision": kv.mod_revision}


async def list_page(ctx: ServiceContext, ns: str, *, cursor: str | None = None, limit: int = 50) -> dict:
    """Releases newest first, without their item lists; ``cursor``: the
    ``next`` of the previous page (``cursors``)."""
    listing = cursors.listing(cursors.RELEASES, ns)
    position = cursors.decode(listing, cursor, cursors.is_seq)
    await namespaces.load(ctx, ns)
    if not 1 <= limit <= 500:
        raise InvalidError("limit must be between 1 and 500")
    results, more = await _newest_before(ctx, ns, position, limit)
    more = more and bool(results)
    return {"results": results, "next": cursors.encode(listing, results[-1]["seq"]) if more else None}


async def summary(ctx: ServiceContext, ns: str, seq: int) -> dict:
    """Release ``seq`` of ``ns`` as listings show it (no item list, no
    content: one read); ``NotFoundError`` when never made or pruned."""
    await namespaces.load(ctx, ns)
    found, _ = await _newest_before(ctx, ns, seq + 1, 1) if cursors.is_seq(seq) else ([], False)
    if not found or found[0]["seq"] != seq:
        raise NotFoundError(f"release {seq} of {ns!r} does not exist (never made, or pruned)")
    return found[0]


async def _newest_before(ctx: ServiceContext, ns: str, before: int | None, limit: int) -> tuple[list[dict], bool]:
    """At most ``limit`` releases newest first, older than release
    ``before`` (None: from the newest), and whether there are more."""
    after = keys.release(ns, before) if before is not None else b""
    kvs, more = await records.scan(ctx.client, keys.releases(ns), start_after=after, limit=limit, descending=True)
    results = []
    for kv in kvs:
        release = _release_view(kv)
        release["item_count"] = len(release.pop("items"))
        results.append(release)
    return results, more


async def get(ctx: ServiceContext, ns: str, seq: Any, *, with_content: bool = False, reveal: bool = False) -> dict:
    await namespaces.load(ctx, ns)
    if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
        raise InvalidError("a release number is 1 or more")
    kv = await records.get(ctx.client, keys.release(ns, seq))
    if kv is None:
        raise NotFoundError(f"release {seq} of {ns!r} does not exist (never made, or pruned)")
    release = _release_view(kv)
    if with_content:
        texts = await contents(ctx, ns, release["items"], reveal=reveal)
        for name, item in release["items"].items():
            item["content"] = texts[name]
    return release
