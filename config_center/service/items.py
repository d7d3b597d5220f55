"""Items, their drafts, and the content blobs both point at.

Applications only ever see live items; an edit writes a draft (a new
content, or the deletion of a live item) that a publish applies. Content
is parsed on every save and refused with its line and column when it does
not parse; it is stored once per namespace under its SHA-256
(``keys.blob``), and live items, drafts and releases refer to it by that
hash, which keeps a publish's transaction small however large the items.

An item's revision is the store revision of the version an edit would
replace: its draft's if it has one, else the live item's, 0 for a new
name. An edit carries the revision it was based on; a different current
revision is a conflict (409) whose details hold the current revision and
the diff from the current content to the submitted one — never a lost
update."""
from __future__ import annotations

import hashlib
from typing import Any

from config_center.content import diff, formats
from config_center.content.formats import ContentError
from config_center.store import keys, records

from . import namespaces
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import ConflictError, ContentInvalidError, InvalidError, LimitError, NotFoundError
from .names import check_item
from .secret_box import MASK, SecretBox

PUT = "put"
DELETE = "delete"


def digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


async def blob_bytes(ctx: ServiceContext, ns: str, shas: list[str]) -> dict[str, bytes]:
    """Stored blobs by hash: the cached ones from the cache, the rest in one read."""
    out: dict[str, bytes] = {}
    missing = []
    for sha in dict.fromkeys(shas):
        cached = ctx.blobs.get(keys.blob(ns, sha))
        if cached is None:
            missing.append(sha)
        else:
            out[sha] = cached
    kvs = await records.get_many(ctx.client, [keys.blob(ns, sha) for sha in missing])
    for sha, kv in zip(missing, kvs):
        if kv is None:
            raise NotFoundError(f"content {sha} of namespace {ns!r} is missing from the store")
        ctx.blobs.put(kv.key, kv.value)
        out[sha] = kv.value
    return out


def secret_box(ctx: ServiceContext) -> SecretBox:
    if ctx.secrets is None:
        raise InvalidError("secret items need a secrets key, and this service has none")
    return ctx.secrets


async def contents(ctx: ServiceContext, ns: str, refs: dict[str, dict], *, reveal: bool) -> dict[str, str]:
    """The content of each item reference (live item, draft or release
    entry), secret ones opened when ``reveal`` and masked otherwise."""
    shown = {name: ref for name, ref in refs.items() if reveal or not ref.get("secret")}
    stored = await blob_bytes(ctx, ns, [ref["blob"] for ref in shown.values()])
    out = {}
    for name, ref in refs.items():
        if name not in shown:
            out[name] = MASK
        elif ref.get("secret"):
            out[name] = secret_box(ctx).open(stored[ref["blob"]]).decode()
        else:
            out[name] = stored[ref["blob"]].decode()
    return out


async def content(ctx: ServiceContext, ns: str, ref: dict, *, reveal: bool) -> str:
    return (await contents(ctx, ns, {"item": ref}, reveal=reveal))["item"]


def check_content(fmt: str, content: Any, limit: int) -> bytes:
    """``content`` as stored bytes, after checking type, size and syntax."""
    if not isinstance(content, str):
        raise InvalidError("content must be a string (the file as written)")
    raw = content.encode()
    if len(raw) > limit:
        raise LimitError(f"content is {len(raw)} bytes; the limit is {limit}")
    try:
        formats.parse(fmt, content)
    except ContentError as error:
        raise ContentInvalidError(str(error), error.as_dict()) from None
    return raw


async def _current(ctx: ServiceContext, ns: str, name: str):
    draft_kv, live_kv = await records.get_many(ctx.client, [keys.draft(ns, name), keys.item(ns, name)])
    draft = records.decode(draft_kv.value) if draft_kv else None
    live = records.decode(live_kv.value) if live_kv else None
    revision = draft_kv.mod_revision if draft_kv else (live_kv.mod_revision if live_kv else 0)
    return draft, live, revision


async def _conflict(ctx: ServiceContext, ns: str, name: str, draft, live, revision: int, submitted: str | None,
                    reveal: bool = False):
    current = draft if draft is not None else live
    current_text = ""
    secret = bool(current and current.get("secret"))
    if current is not None and current.get("op", PUT) == PUT:
        current_text = await content(ctx, ns, current, reveal=reveal)
    details: dict[str, Any] = {"current_revision": revision}
    if submitted is not None:
        details["diff"] = (diff.unified(current_text, submitted, "current", "submitted")
                           if reveal or not secret else "(secret item: content not shown)")
    return ConflictError(f"item {ns}/{name} changed since the revision this edit is based on (now {revision})",
                         details)


def _check_revision(value: Any) -> int:
    if value is None:
        return 0
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise InvalidError("revision must be a non-negative integer")
    return value


async def save_draft(
    ctx: ServiceContext, actor: Actor, ns: str, name: str, text: Any, *, format: str | None = None,
    comment: str = "", base_revision: Any = None, secret: Any = None, reveal: bool = False,
) -> dict:
    """Draft new content for item ``name`` (created on publish if new).
    ``base_revision`` None or 0: the item must not exist yet. ``secret``:
    store it sealed (``secret_box``); None keeps what the item was."""
    check_item(name)
    base = _check_revision(base_revision)
    if secret is not None and not isinstance(secret, bool):
        raise InvalidError("secret must be true or false")

    async def plan(head: Head) -> Plan:
        record, head = await namespaces.load(ctx, ns, head)
        draft, live, revision = await _current(ctx, ns, name)
        fmt = format or (live or {}).get("format") or record["format"]
        if fmt not in formats.FORMATS:
            raise InvalidError(f"format must be one of {', '.join(formats.FORMATS)}")
        raw = check_content(fmt, text, ctx.limits.max_item_bytes)
        if base != revision:
            raise await _conflict(ctx, ns, name, draft, live, revision, text, reveal)
        if live is None and draft is None:
            await _check_item_count(ctx, ns)
        sealed = secret if secret is not None else bool((draft or live or {}).get("secret"))
        stored = secret_box(ctx).seal(raw) if sealed else raw
        sha = digest(stored)
        new_draft = {"name": name, "op": PUT, "format": fmt, "blob": sha, "size": len(raw), "secret": sealed,
                     "author": actor.name, "updated_at": ctx.now(), "comment": comment}
        ops = [records.put(keys.blob(ns, sha), stored), records.put(keys.draft(ns, name), new_draft)]
        details = {"format": fmt, "size": len(raw), "sha256": sha, "new_item": live is None, "secret": sealed}
        return Plan("draft.save", f"{ns}/{name}", ops=ops, comment=comment, details=details, result=new_draft)

    done = await apply_change(ctx, ns, actor, plan)
    shown = text if reveal or not done.plan.result["secret"] else MASK
    return {**done.plan.result, "revision": done.revision, "content": shown}


async def draft_delete(ctx: ServiceContext, actor: Actor, ns: str, name: str, *, comment: str = "",
                       base_revision: Any = None) -> dict:
    """Draft the deletion of a live item (applied on publish)."""
    check_item(name)
    base = _check_revision(base_revision)

    async def plan(head: Head) -> Plan:
        await namespaces.load(ctx, ns, head)
        draft, live, revision = await _current(ctx, ns, name)
        if live is None:
            raise NotFoundError(f"item {ns}/{name} is not live; discard its draft instead")
        if base != revision:
            raise await _conflict(ctx, ns, name, draft, live, revision, None)
        new_draft = {"name": name, "op": DELETE, "format": live["format"], "secret": bool(live.get("secret")),
                     "author": actor.name,
                     "updated_at": ctx.now(), "comment": comment}
        return Plan("draft.delete", f"{ns}/{name}", ops=[records.put(keys.draft(ns, name), new_draft)],
                    comment=comment, result=new_draft)

    done = await apply_change(ctx, ns, actor, plan)
    return {**done.plan.result, "revision": done.revision}


async def discard_draft(ctx: ServiceContext, actor: Actor, ns: str, name: str, *, base_revision: Any = None) -> dict:
    check_item(name)
    base = _check_revision(base_revision)

    async def plan(head: Head) -> Plan:
        await namespaces.load(ctx, ns, head)
        draft, live, revision = await _current(ctx, ns, name)
        if draft is None:
            raise NotFoundError(f"item {ns}/{name} has no draft")
        if base != revision:
            raise await _conflict(ctx, ns, name, draft, live, revision, None)
        return Plan("draft.discard", f"{ns}/{name}", ops=[records.delete(keys.draft(ns, name))],
                    details={"op": draft["op"]})

    done = await apply_change(ctx, ns, actor, plan)
    return {"name": name, "discarded": True, "revision": done.revision}


async def _check_item_count(ctx: ServiceContext, ns: str) -> None:
    live, _ = await records.scan(ctx.client, keys.items(ns))
    drafts, _ = await records.scan(ctx.client, keys.drafts(ns))
    names = {keys.name_after(keys.items(ns), kv.key) for kv in live}
    names |= {keys.name_after(keys.drafts(ns), kv.key) for kv in drafts}
    if len(names) >= ctx.limits.max_items_per_namespace:
        raise LimitError(f"namespace {ns!r} has {len(names)} items (limit {ctx.limits.max_items_per_namespace})")


async def get(ctx: ServiceContext, ns: str, name: str, *, draft: bool = False, reveal: bool = False) -> dict:
    """The live item, or with ``draft`` the version an edit would start
    from (its draft if any), with content (masked if secret and not
    ``reveal``) and revision."""
    check_item(name)
    await namespaces.load(ctx, ns)
    draft_rec, live, revision = await _current(ctx, ns, name)
    if draft and draft_rec is not None:
        if draft_rec["op"] == DELETE:
            return {**draft_rec, "revision": revision, "content": None, "drafted": True}
        return {**draft_rec, "revision": revision, "content": await content(ctx, ns, draft_rec, reveal=reveal),
                "drafted": True}
    if live is None:
        raise NotFoundError(f"item {ns}/{name} does not exist" + ("" if draft else " (it may be drafted only)"))
    live_revision = (await records.get(ctx.client, keys.item(ns, name))).mod_revision if draft_rec else revision
    return {**live, "revision": revision if draft else live_revision,
            "content": await content(ctx, ns, live, reveal=reveal), "drafted": draft_rec is not None}


async def live_items(ctx: ServiceContext, ns: str, *, revision: int = 0) -> dict[str, dict]:
    kvs, _ = await records.scan(ctx.client, keys.items(ns), revision=revision)
    return {keys.name_after(keys.items(ns), kv.key): {**records.decode(kv.value), "revision": kv.mod_revision}
            for kv in kvs}


async def drafts(ctx: ServiceContext, ns: str) -> dict[str, dict]:
    kvs, _ = await records.scan(ctx.client, keys.drafts(ns))
    return {keys.name_after(keys.drafts(ns), kv.key): {**records.decode(kv.value), "revision": kv.mod_revision}
            for kv in kvs}


async def draft_view(ctx: ServiceContext, ns: str) -> dict[str, dict]:
    """What the namespace would hold if published now: name -> reference
    (the live items with every draft applied)."""
    view = dict(await live_items(ctx, ns))
    for name, draft in (await drafts(ctx, ns)).items():
        if draft["op"] == DELETE:
            view.pop(name, None)
        else:
            view[name] = draft
    return view


async def listing(ctx: ServiceContext, ns: str) -> list[dict]:
    """Every item with its live and drafted state, in name order: ``state``
    is ``unchanged``, ``modified``, ``added`` (drafted only) or ``deleted``
    (deletion drafted)."""
    await namespaces.load(ctx, ns)
    live = await live_items(ctx, ns)
    drafted = await drafts(ctx, ns)
    out = []
    for name in sorted(set(live) | set(drafted)):
        item, draft = live.get(name), drafted.get(name)
        if draft is None:
            state = "unchanged"
        elif draft["op"] == DELETE:
            state = "deleted"
        else:
            state = "modified" if item else "added"
        current = draft if draft is not None else item
        out.append({"name": name, "format": current["format"], "state": state, "secret": bool(current.get("secret")),
                    "revision": current["revision"], "size": (draft or item).get("size"),
                    "live_revision": item["revision"] if item else None,
                    "live_release": item.get("release") if item else None,
                    "draft_author": draft["author"] if draft else None})
    return out


async def live_config(ctx: ServiceContext, ns: str, *, reveal: bool = False) -> dict:
    """What applications read: every live item with its content (secret
    ones masked unless ``reveal``), and the namespace's revision and release."""
    config, _ = await live_config_at(ctx, ns, reveal=reveal)
    return config


async def live_config_at(ctx: ServiceContext, ns: str, *, reveal: bool = False) -> tuple[dict, int]:
    """``live_config`` and the store revision it was read at: a watch of
    the namespace's live keys from the revision after it misses nothing."""
    # One linearizable read of the items (a publish changes them in one
    # transaction, so this is one release, whole), then the namespace and
    # its head as of that same revision, locally.
    namespaces.check_namespace(ns)
    prefix = keys.items(ns)
    kvs, at = await records.scan_all(ctx.client, prefix)
    if await records.get(ctx.client, keys.namespace(ns), revision=at, serializable=True) is None:
        raise NotFoundError(f"namespace {ns!r} does not exist")
    head_kv = await records.get(ctx.client, keys.head(ns), revision=at, serializable=True)
    head = records.decode(head_kv.value) if head_kv else {"release_seq": 0}
    canary_kv = await records.get(ctx.client, keys.canary(ns), revision=at, serializable=True)
    if canary_kv is not None:
        # The head counts the canary's release; the live items are the ones
        # it started from.
        head["release_seq"] = records.decode(canary_kv.value)["base_release"]
    live = {keys.name_after(prefix, kv.key): (records.decode(kv.value), kv.mod_revision) for kv in kvs}
    texts = await contents(ctx, ns, {name: item for name, (item, _) in live.items()}, reveal=reveal)
    return {"namespace": ns, "revision": head_kv.mod_revision if head_kv else 0, "release": head["release_seq"],
            "items": {name: {"format": item["format"], "content": texts[name], "revision": revision,
                             "secret": bool(item.get("secret"))}
                      for name, (item, revision) in live.items()}}, at
