"""Diffs an operator asks for: the drafts against the live config, two
releases, two versions of one item. Each changed item gets a unified text
diff and, when both sides parse as structured data, a structural diff
(``content.diff``), the same for JSON, YAML and properties."""
from __future__ import annotations

from typing import Any

from config_center.content import diff, formats
from config_center.content.formats import ContentError

from . import items, namespaces, releases
from .context import ServiceContext
from .errors import InvalidError, NotFoundError
from .secret_box import MASK

ADDED, MODIFIED, DELETED = "added", "modified", "deleted"


def _structural(old_format: str, old: str, new_format: str, new: str) -> list[dict] | None:
    if old_format not in formats.STRUCTURED or new_format not in formats.STRUCTURED:
        return None
    try:
        return [c.as_dict() for c in diff.structural(formats.parse(old_format, old), formats.parse(new_format, new))]
    except ContentError:
        return None


def item_change(name: str, old: dict | None, new: dict | None, old_label: str, new_label: str) -> dict | None:
    """The change of one item between two sides (each ``{format, content,
    blob, secret}`` or None when absent there); None when both sides are
    equal. A secret side whose content is masked is compared by its stored
    blob and described without content."""
    if old is None and new is None:
        return None
    if old is not None and new is not None and old["format"] == new["format"] and (
            old["blob"] == new["blob"] or (MASK not in (old["content"], new["content"]) and old["content"] == new["content"])):
        return None
    op = ADDED if old is None else DELETED if new is None else MODIFIED
    if any(side is not None and side["content"] == MASK and side["secret"] for side in (old, new)):
        return {"name": name, "op": op, "format": (new or old)["format"], "secret": True,
                "unified": "(secret item: content not shown)", "structural": None}
    old_text = old["content"] if old else ""
    new_text = new["content"] if new else ""
    change: dict[str, Any] = {
        "name": name, "op": op,
        "format": (new or old)["format"],
        "unified": diff.unified(old_text, new_text, f"{old_label}/{name}", f"{new_label}/{name}"),
        "structural": None,
    }
    if old is not None and new is not None:
        change["structural"] = _structural(old["format"], old_text, new["format"], new_text)
    return change


async def with_content(ctx: ServiceContext, ns: str, refs: dict[str, dict], reveal: bool) -> dict[str, dict]:
    texts = await items.contents(ctx, ns, refs, reveal=reveal)
    return {name: {"format": ref["format"], "content": texts[name], "blob": ref["blob"],
                   "secret": bool(ref.get("secret"))} for name, ref in refs.items()}


def compare(old: dict[str, dict], new: dict[str, dict], old_label: str, new_label: str) -> list[dict]:
    changes = []
    for name in sorted(set(old) | set(new)):
        change = item_change(name, old.get(name), new.get(name), old_label, new_label)
        if change is not None:
            changes.append(change)
    return changes


async def drafts_vs_live(ctx: ServiceContext, ns: str, *, reveal: bool = False) -> dict:
    """What publishing now would change."""
    _, head = await namespaces.load(ctx, ns)
    old, _ = await side_refs(ctx, ns, "live")
    new, _ = await side_refs(ctx, ns, "draft")
    names = differing(old, new)  # only drafted items' content is read
    old = await with_content(ctx, ns, {n: old[n] for n in names if n in old}, reveal)
    new = await with_content(ctx, ns, {n: new[n] for n in names if n in new}, reveal)
    return {"namespace": ns, "revision": head.revision, "changes": compare(old, new, "live", "draft")}


async def side(ctx: ServiceContext, ns: str, ref: Any, reveal: bool = False) -> tuple[dict[str, dict], str]:
    """The item set ``ref`` names: ``"live"``, ``"draft"`` (live with drafts
    applied) or a release number; with a label for diff headers."""
    refs, label = await side_refs(ctx, ns, ref)
    return await with_content(ctx, ns, refs, reveal), label


async def side_refs(ctx: ServiceContext, ns: str, ref: Any) -> tuple[dict[str, dict], str]:
    """``side`` without the content: each item's format and blob."""
    if ref == "live":
        return await items.live_items(ctx, ns), "live"
    if ref == "draft":
        return await items.draft_view(ctx, ns), "draft"
    seq = _release_number(ref)
    release = await releases.get(ctx, ns, seq)
    return release["items"], f"release-{seq}"


def differing(old: dict[str, dict], new: dict[str, dict]) -> list[str]:
    """Names whose stored version differs between two item sets, in name
    order, judged by format and blob alone (no content is read). A secret
    item sealed again with the same text differs here and is dropped by
    ``item_change`` once its content is compared."""
    return [name for name in sorted(set(old) | set(new))
            if name not in old or name not in new
            or (old[name]["format"], old[name]["blob"]) != (new[name]["format"], new[name]["blob"])]


def _release_number(ref: Any) -> int:
    if isinstance(ref, str) and ref.isdigit():
        ref = int(ref)
    if not isinstance(ref, int) or isinstance(ref, bool) or ref < 1:
        raise InvalidError(f"{ref!r} is not a version: use 'live', 'draft' or a release number")
    return ref


async def between(ctx: ServiceContext, ns: str, old_ref: Any, new_ref: Any, *, item: str | None = None,
                  reveal: bool = False, offset: int = 0, limit: int | None = None) -> dict:
    """Changes from ``old_ref`` to ``new_ref`` (see ``side``), of the whole
    namespace or of one item. With ``limit``, only the changed items from
    ``offset`` on (in name order) are read and diffed — a release touching
    hundreds of items is reviewed a page at a time — and ``total`` and
    ``names`` tell all that differ."""
    await namespaces.load(ctx, ns)
    old, old_label = await side_refs(ctx, ns, old_ref)
    new, new_label = await side_refs(ctx, ns, new_ref)
    if item is not None:
        if item not in old and item not in new:
            raise NotFoundError(f"item {item!r} exists in neither {old_label} nor {new_label}")
        old = {item: old[item]} if item in old else {}
        new = {item: new[item]} if item in new else {}
    names = differing(old, new)
    shown = names[offset:offset + limit] if limit is not None else names
    old = await with_content(ctx, ns, {n: old[n] for n in shown if n in old}, reveal)
    new = await with_content(ctx, ns, {n: new[n] for n in shown if n in new}, reveal)
    return {"namespace": ns, "from": old_label, "to": new_label, "changes": compare(old, new, old_label, new_label),
            "total": len(names), "names": names}
