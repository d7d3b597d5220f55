"""Namespaces: create, read, list (search, pages), update, delete.

A namespace's settings: ``description``, ``owners`` (user names),
``format`` (the default format of new items), ``schema`` (a JSON Schema
every structured item must satisfy on publish, or null), ``retention``
(``max_releases`` and ``max_age_days``, 0 meaning no bound, and
``min_releases``, the floor pruning never goes below) and ``four_eyes``
(the author of a draft may not publish it).

Deleting refuses a namespace that still has items or drafts unless the
caller confirms with ``archive=True``: then the items and drafts go, and
the release history and audit chain stay, readable and restorable — a
namespace created again under the same name continues them."""
from __future__ import annotations

from typing import Any, Callable

from consensus.mvcc.api import RangeRequest

from config_center.content import formats
from config_center.content.schema import InvalidSchemaError, check_schema
from config_center.store import keys, records

from . import cursors
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import AlreadyExistsError, ConflictError, InvalidError, LimitError, NotFoundError
from .names import check_namespace

DEFAULT_RETENTION = {"max_releases": 100, "max_age_days": 0, "min_releases": 10}
EDITABLE = ("description", "owners", "format", "schema", "retention", "four_eyes")


def check_settings(data: Any, *, partial: bool) -> dict:
    """The settings in ``data``, validated; every field is optional when
    ``partial`` (an update), and unknown fields are refused."""
    if not isinstance(data, dict):
        raise InvalidError("namespace settings must be a JSON object")
    unknown = sorted(set(data) - set(EDITABLE))
    if unknown:
        raise InvalidError(f"unknown namespace field(s): {', '.join(unknown)}")
    out: dict[str, Any] = {}
    if "description" in data or not partial:
        description = data.get("description", "")
        if not isinstance(description, str) or len(description) > 2000:
            raise InvalidError("description must be a string of at most 2000 characters")
        out["description"] = description
    if "owners" in data or not partial:
        owners = data.get("owners", [])
        if not isinstance(owners, list) or not all(isinstance(o, str) and o for o in owners):
            raise InvalidError("owners must be a list of user names")
        out["owners"] = sorted(set(owners))
    if "format" in data or not partial:
        fmt = data.get("format", formats.YAML)
        if fmt not in formats.FORMATS:
            raise InvalidError(f"format must be one of {', '.join(formats.FORMATS)}")
        out["format"] = fmt
    if "schema" in data or not partial:
        schema = data.get("schema")
        if schema is not None:
            try:
                check_schema(schema)
            except InvalidSchemaError as error:
                raise InvalidError(str(error)) from None
        out["schema"] = schema
    if "retention" in data or not partial:
        out["retention"] = _check_retention(data.get("retention", DEFAULT_RETENTION))
    if "four_eyes" in data or not partial:
        four_eyes = data.get("four_eyes", False)
        if not isinstance(four_eyes, bool):
            raise InvalidError("four_eyes must be true or false")
        out["four_eyes"] = four_eyes
    return out


def _check_retention(value: Any) -> dict:
    if not isinstance(value, dict):
        raise InvalidError("retention must be an object with max_releases, max_age_days and min_releases")
    unknown = sorted(set(value) - set(DEFAULT_RETENTION))
    if unknown:
        raise InvalidError(f"unknown retention field(s): {', '.join(unknown)}")
    out = {**DEFAULT_RETENTION, **value}
    for name, number in out.items():
        if not isinstance(number, int) or isinstance(number, bool) or number < 0:
            raise InvalidError(f"retention.{name} must be a whole number >= 0")
    if out["min_releases"] < 1:
        raise InvalidError("retention.min_releases must be at least 1: the live release is always kept")
    if out["max_releases"] and out["max_releases"] < out["min_releases"]:
        raise InvalidError("retention.max_releases must be 0 (no bound) or at least min_releases")
    return out


def view(record: dict, head: Head) -> dict:
    return {**record, "revision": head.revision, "release": head.release_seq}


async def load(ctx: ServiceContext, name: str, head: Head | None = None) -> tuple[dict, Head]:
    """The namespace record and its head (``head`` when the caller has just
    read it: a change's plan); ``NotFoundError`` if it does not exist."""
    check_namespace(name)
    if head is not None:
        ns_kv = await records.get(ctx.client, keys.namespace(name))
        if ns_kv is None:
            raise NotFoundError(f"namespace {name!r} does not exist")
        return records.decode(ns_kv.value), head
    ns_kv, head_kv = await records.get_many(ctx.client, [keys.namespace(name), keys.head(name)])
    if ns_kv is None:
        raise NotFoundError(f"namespace {name!r} does not exist")
    head = Head(name)
    if head_kv is not None:
        value = records.decode(head_kv.value)
        head = Head(name, head_kv.mod_revision, value["audit_seq"], value["audit_hash"], value["release_seq"])
    return records.decode(ns_kv.value), head


async def get(ctx: ServiceContext, name: str) -> dict:
    record, head = await load(ctx, name)
    return view(record, head)


def check_base(head: Head, base_revision: Any, what: str, details: dict | None = None) -> None:
    """Refuse a change based on another revision than the namespace's current one."""
    if base_revision is None:
        raise InvalidError(f"{what} needs the namespace revision it is based on ('revision' or If-Match)")
    if not isinstance(base_revision, int) or isinstance(base_revision, bool):
        raise InvalidError("revision must be an integer")
    if base_revision != head.revision:
        raise ConflictError(
            f"namespace {head.chain!r} changed since revision {base_revision} (now {head.revision})",
            {"current_revision": head.revision, **(details or {})},
        )


async def create(ctx: ServiceContext, actor: Actor, name: str, settings: Any) -> dict:
    check_namespace(name)
    record = check_settings(settings if settings is not None else {}, partial=False)

    async def plan(head: Head) -> Plan:
        if await records.get(ctx.client, keys.namespace(name)) is not None:
            raise AlreadyExistsError(f"namespace {name!r} already exists")
        count = (await ctx.client.range(_count_namespaces())).count
        if count >= ctx.limits.max_namespaces:
            raise LimitError(f"there are already {count} namespaces (limit {ctx.limits.max_namespaces})")
        now = ctx.now()
        full = {"name": name, **record, "created_at": now, "created_by": actor.name, "updated_at": now,
                "updated_by": actor.name}
        return Plan("namespace.create", name, ops=[records.put(keys.namespace(name), full)],
                    details={"settings": record}, result=full)

    await apply_change(ctx, name, actor, plan)
    return await get(ctx, name)


def _count_namespaces() -> RangeRequest:
    return RangeRequest(key=keys.NAMESPACES, range_end=keys.prefix_end(keys.NAMESPACES), count_only=True)


async def update(ctx: ServiceContext, actor: Actor, name: str, changes: Any, base_revision: Any) -> dict:
    fields = check_settings(changes, partial=True)

    async def plan(head: Head) -> Plan:
        record, head = await load(ctx, name, head)
        check_base(head, base_revision, "an update")
        before = {k: record.get(k) for k in fields}
        updated = {**record, **fields, "updated_at": ctx.now(), "updated_by": actor.name}
        return Plan("namespace.update", name, ops=[records.put(keys.namespace(name), updated)],
                    details={"before": before, "after": fields}, result=updated)

    await apply_change(ctx, name, actor, plan)
    return await get(ctx, name)


async def list_page(ctx: ServiceContext, *, search: str = "", cursor: str = "", limit: int = 50,
                    visible: Callable[[str], bool] = lambda ns: True, format: str = "") -> dict:
    """Namespaces in name order whose name or description contains
    ``search`` (case-insensitive), whose format is ``format`` (any when
    empty) and that ``visible`` admits, ``limit`` per
    page after ``cursor`` (the ``next`` of the previous page, ``cursors``)."""
    if not 1 <= limit <= 500:
        raise InvalidError("limit must be between 1 and 500")
    position = cursors.decode(cursors.NAMESPACES, cursor, cursors.is_name)
    needle = search.lower()
    found: list[dict] = []
    after = keys.namespace(position) if position is not None else b""
    while True:
        kvs, more = await records.scan(ctx.client, keys.NAMESPACES, start_after=after, limit=max(limit * 2, 100))
        for kv in kvs:
            after = kv.key
            record = records.decode(kv.value)
            if not visible(record["name"]):
                continue
            if needle and needle not in record["name"].lower() and needle not in record.get("description", "").lower():
                continue
            if format and record.get("format") != format:
                continue
            found.append(record)
            if len(found) == limit:
                last_in_batch = kv is kvs[-1]
                following = cursors.encode(cursors.NAMESPACES, record["name"]) if (more or not last_in_batch) else None
                return {"results": found, "next": following}
        if not more:
            return {"results": found, "next": None}


async def delete(ctx: ServiceContext, actor: Actor, name: str, base_revision: Any, *, archive: bool = False) -> dict:
    async def plan(head: Head) -> Plan:
        record, head = await load(ctx, name, head)
        check_base(head, base_revision, "a delete")
        items, _ = await records.scan(ctx.client, keys.items(name), limit=1)
        drafts, _ = await records.scan(ctx.client, keys.drafts(name), limit=1)
        if (items or drafts) and not archive:
            raise ConflictError(
                f"namespace {name!r} still has items or drafts; delete them first, or confirm with archive=true "
                "to remove them and keep the release history",
                {"current_revision": head.revision},
            )
        ops = [records.delete(keys.namespace(name)), records.delete_prefix(keys.live(name)),
               records.delete_prefix(keys.drafts(name))]
        return Plan("namespace.delete", name, ops=ops, details={"archived": archive, "settings": record})

    done = await apply_change(ctx, name, actor, plan)
    return {"name": name, "deleted": True, "archived": archive, "revision": done.revision}
