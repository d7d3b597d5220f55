"""Moving config in and out of a namespace: export a bundle, import one
(with a dry run that only shows the diff), and promote one namespace's live
config into another (``payments/staging`` -> ``payments/prod``).

Imports and promotions write *drafts*, never live config: the operator
reviews the diff and publishes as usual. They stage every item in one
transaction (one audit entry), based on the target namespace's revision.
Items the source does not have are left alone unless ``prune`` asks to
draft their deletion.

A bundle is ``{"kind": "config_center/namespace", "version": 1,
"namespace", "release", "settings", "items": {name: {"format", "content",
"secret"}}}``. A secret item is exported only for a caller who may see it;
otherwise it is listed with ``"content": null`` and an import leaves it
alone. A promotion copies secret items sealed, as stored, without opening
them (both namespaces are sealed with the cluster's one key)."""
from __future__ import annotations

from typing import Any

from config_center.content import formats
from config_center.store import keys, records

from . import diffs, items, namespaces
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import InvalidError, LimitError
from .secret_box import MASK

KIND = "config_center/namespace"
VERSION = 1
# What one staging transaction may carry: under the store's 1.5 MiB request
# limit with room for the records around the content.
MAX_STAGED_BYTES = 1024 * 1024 + 256 * 1024
SETTINGS = ("description", "owners", "format", "schema", "retention", "four_eyes")


async def export(ctx: ServiceContext, ns: str, *, reveal: bool) -> dict:
    record, head = await namespaces.load(ctx, ns)
    live = await items.live_items(ctx, ns)
    texts = await items.contents(ctx, ns, live, reveal=reveal)
    bundle_items = {}
    for name, item in sorted(live.items()):
        hidden = item.get("secret") and texts[name] == MASK
        bundle_items[name] = {"format": item["format"], "content": None if hidden else texts[name],
                              "secret": bool(item.get("secret"))}
    return {"kind": KIND, "version": VERSION, "namespace": ns, "release": head.release_seq,
            "settings": {k: record.get(k) for k in SETTINGS}, "items": bundle_items}


def _check_bundle(bundle: Any) -> dict[str, dict]:
    """The bundle's items, each checked (format known, content parses)."""
    if not isinstance(bundle, dict) or bundle.get("kind") != KIND or bundle.get("version") != VERSION:
        raise InvalidError(f"not a namespace bundle: expected kind {KIND!r} and version {VERSION}")
    found = bundle.get("items")
    if not isinstance(found, dict):
        raise InvalidError("a bundle's items must be an object of name -> {format, content, secret}")
    out = {}
    for name, item in found.items():
        items.check_item(name)
        if not isinstance(item, dict) or item.get("format") not in formats.FORMATS:
            raise InvalidError(f"bundle item {name!r}: needs a format, one of {', '.join(formats.FORMATS)}")
        secret = item.get("secret", False)
        if not isinstance(secret, bool):
            raise InvalidError(f"bundle item {name!r}: secret must be true or false")
        if item.get("content") is None:
            if not secret:
                raise InvalidError(f"bundle item {name!r}: content is missing")
            continue  # a secret the exporter could not see: left alone
        out[name] = {"format": item["format"], "text": item["content"], "secret": secret}
    return out


async def _stage(ctx: ServiceContext, actor: Actor, ns: str, wanted: dict[str, dict], *, prune: bool,
                 dry_run: bool, base_revision: Any, action: str, details: dict, reveal: bool) -> dict:
    """Draft whatever makes ``ns`` (drafts included) hold ``wanted``
    (name -> {format, secret, and "text" to seal/store or "stored" bytes
    to copy}); the diff, and whether anything was written."""

    async def plan(head: Head) -> Plan:
        await namespaces.load(ctx, ns, head)
        namespaces.check_base(head, base_revision, "an import or promotion")
        current = await items.draft_view(ctx, ns)
        ops: list = []
        new_refs: dict[str, dict] = {}
        staged_bytes = 0
        for name, want in sorted(wanted.items()):
            if "stored" in want:
                stored = want["stored"]
                size = want["size"]
            else:
                raw = items.check_content(want["format"], want["text"], ctx.limits.max_item_bytes)
                stored = items.secret_box(ctx).seal(raw) if want["secret"] else raw
                size = len(raw)
            ref = {"format": want["format"], "secret": want["secret"], "blob": items.digest(stored), "size": size}
            have = current.get(name)
            if have is not None and have["format"] == ref["format"] and bool(have.get("secret")) == ref["secret"] \
                    and (have["blob"] == ref["blob"] or await _same_text(ctx, ns, have, want)):
                continue
            staged_bytes += len(stored)
            new_refs[name] = ref
            ops.append(records.put(keys.blob(ns, ref["blob"]), stored))
            ops.append(records.put(keys.draft(ns, name), {
                "name": name, "op": items.PUT, **ref, "author": actor.name, "updated_at": ctx.now(),
                "comment": details.get("comment", "")}))
        deleted = sorted(set(current) - set(wanted)) if prune else []
        for name in deleted:
            if name in await items.live_items(ctx, ns):
                ops.append(records.put(keys.draft(ns, name), {
                    "name": name, "op": items.DELETE, "format": current[name]["format"],
                    "secret": bool(current[name].get("secret")), "author": actor.name, "updated_at": ctx.now(),
                    "comment": details.get("comment", "")}))
            else:
                ops.append(records.delete(keys.draft(ns, name)))
        if staged_bytes > MAX_STAGED_BYTES:
            raise LimitError(f"this would stage {staged_bytes} bytes in one transaction (limit {MAX_STAGED_BYTES}); "
                             "split it into several imports")
        new_names = set(new_refs) - set(current)
        if new_names and len(set(current) | new_names) > ctx.limits.max_items_per_namespace:
            raise LimitError(f"namespace {ns!r} would have more than {ctx.limits.max_items_per_namespace} items")
        changes = await _diff(ctx, ns, current, new_refs, deleted, wanted, reveal)
        summary = {"changes": [{"name": c["name"], "op": c["op"]} for c in changes], **details}
        return Plan(action, ns, ops=ops, comment=details.get("comment", ""), details=summary,
                    result={"namespace": ns, "dry_run": dry_run, "changes": changes})

    if dry_run:
        _, head = await namespaces.load(ctx, ns)
        return (await plan(head)).result
    probe = await plan((await namespaces.load(ctx, ns))[1])
    if not probe.result["changes"]:
        return {**probe.result, "revision": (await namespaces.get(ctx, ns))["revision"]}
    done = await apply_change(ctx, ns, actor, plan)
    return {**done.plan.result, "revision": done.revision}


async def _same_text(ctx: ServiceContext, ns: str, have: dict, want: dict) -> bool:
    """A secret re-sealed differs in its blob even when equal in content."""
    if "text" not in want or not have.get("secret"):
        return False
    return await items.content(ctx, ns, have, reveal=True) == want["text"]


async def _diff(ctx, ns, current, new_refs, deleted, wanted, reveal) -> list[dict]:
    changed = set(new_refs) | set(deleted)
    old = await diffs.with_content(ctx, ns, {n: current[n] for n in changed if n in current}, reveal)
    new = {}
    for name, ref in new_refs.items():
        want = wanted[name]
        if ref["secret"] and not reveal:
            text = MASK
        elif "text" in want:
            text = want["text"]
        else:
            text = items.secret_box(ctx).open(want["stored"]).decode()
        new[name] = {"format": ref["format"], "content": text, "blob": ref["blob"], "secret": ref["secret"]}
    return diffs.compare(old, new, "current", "incoming")


async def import_bundle(ctx: ServiceContext, actor: Actor, ns: str, bundle: Any, *, dry_run: bool = True,
                        prune: bool = False, base_revision: Any = None, comment: str = "", reveal: bool = False) -> dict:
    wanted = _check_bundle(bundle)
    return await _stage(ctx, actor, ns, wanted, prune=prune, dry_run=dry_run, base_revision=base_revision,
                        action="namespace.import", details={"comment": comment, "prune": prune}, reveal=reveal)


async def promote(ctx: ServiceContext, actor: Actor, source: str, target: str, *, dry_run: bool = True,
                  prune: bool = False, base_revision: Any = None, comment: str = "", reveal: bool = False) -> dict:
    """Stage ``source``'s live config as drafts of ``target``."""
    if source == target:
        raise InvalidError("a namespace cannot be promoted into itself")
    _, source_head = await namespaces.load(ctx, source)
    live = await items.live_items(ctx, source)
    stored = await items.blob_bytes(ctx, source, [item["blob"] for item in live.values()])
    wanted = {}
    for name, item in live.items():
        want: dict[str, Any] = {"format": item["format"], "secret": bool(item.get("secret"))}
        if item.get("secret"):
            want.update(stored=stored[item["blob"]], size=item["size"])
        else:
            want["text"] = stored[item["blob"]].decode()
        wanted[name] = want
    details = {"comment": comment, "prune": prune, "source": source, "source_release": source_head.release_seq}
    return await _stage(ctx, actor, target, wanted, prune=prune, dry_run=dry_run, base_revision=base_revision,
                        action="namespace.promote", details=details, reveal=reveal)
