"""Users of the console and the API: passwords (hashed by the edge's
hasher, off the event loop), grants (``access``), login, and the first
administrator of a new cluster.

Users live in the replicated store so every member agrees on them; their
changes and every failed login are entries of the ``_global`` audit chain.
"""
from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any

from config_center.store import keys, records

from . import access, cursors
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import AlreadyExistsError, InvalidError, NotAuthenticatedError, NotFoundError

GLOBAL = keys.GLOBAL_CHAIN
MIN_PASSWORD = 10
ADMIN = "admin"
_NAME = re.compile(r"[a-z0-9][a-z0-9._@-]{0,63}\Z")
# Checked against when the user does not exist, so a wrong name costs as
# long as a wrong password.
_DUMMY_PASSWORD = "not-a-password-" + secrets.token_hex(8)


def check_name(name: Any) -> str:
    if not isinstance(name, str) or not _NAME.match(name):
        raise InvalidError("a user name is 1-64 characters: lower-case letters, digits, '.', '_', '@', '-'")
    return name


def check_password(password: Any) -> str:
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise InvalidError(f"a password must be a string of at least {MIN_PASSWORD} characters")
    return password


def public(user: dict) -> dict:
    return {k: v for k, v in user.items() if k != "password"}


async def _hash(ctx: ServiceContext, password: str) -> str:
    if ctx.passwords is None:
        raise RuntimeError("no password hasher configured")
    return await asyncio.to_thread(ctx.passwords.make, password)


async def get(ctx: ServiceContext, name: str) -> dict | None:
    kv = await records.get(ctx.client, keys.user(check_name(name)))
    return records.decode(kv.value) if kv else None


async def listing(ctx: ServiceContext, *, cursor: str = "", limit: int = 100) -> dict:
    """Users in name order, ``limit`` (1-500) after ``cursor`` (the
    ``next`` of the previous page, ``cursors``)."""
    position = cursors.decode(cursors.USERS, cursor, cursors.is_name)
    if not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidError("limit must be between 1 and 500")
    after = keys.user(position) if position is not None else b""
    kvs, more = await records.scan(ctx.client, keys.USERS, start_after=after, limit=limit)
    found = [public(records.decode(kv.value)) for kv in kvs]
    return {"results": found, "next": cursors.encode(cursors.USERS, found[-1]["name"]) if more and found else None}


async def create(ctx: ServiceContext, actor: Actor, name: str, password: Any, grants: Any) -> dict:
    check_name(name)
    encoded = await _hash(ctx, check_password(password))
    grants = access.check_grants(grants)

    async def plan(head: Head) -> Plan:
        if await get(ctx, name) is not None:
            raise AlreadyExistsError(f"user {name!r} already exists")
        now = ctx.now()
        user = {"name": name, "password": encoded, "grants": grants, "disabled": False, "created_at": now,
                "created_by": actor.name, "updated_at": now}
        return Plan("user.create", name, ops=[records.put(keys.user(name), user)], details={"grants": grants},
                    result=user)

    return public((await apply_change(ctx, GLOBAL, actor, plan)).plan.result)


async def update(ctx: ServiceContext, actor: Actor, name: str, *, password: Any = None, grants: Any = None,
                 disabled: Any = None) -> dict:
    encoded = await _hash(ctx, check_password(password)) if password is not None else None
    grants = access.check_grants(grants) if grants is not None else None
    if disabled is not None and not isinstance(disabled, bool):
        raise InvalidError("disabled must be true or false")

    async def plan(head: Head) -> Plan:
        user = await get(ctx, name)
        if user is None:
            raise NotFoundError(f"user {name!r} does not exist")
        changed: dict[str, Any] = {}
        if encoded is not None:
            user["password"] = encoded
            changed["password"] = "changed"
        if grants is not None:
            changed["grants"] = {"before": user["grants"], "after": grants}
            user["grants"] = grants
        if disabled is not None:
            changed["disabled"] = disabled
            user["disabled"] = disabled
        user["updated_at"] = ctx.now()
        ops = [records.put(keys.user(name), user)]
        if encoded is not None or disabled:
            # A new password or a disabled account ends every session of the
            # user in the same transaction (``sessions``).
            ops.append(records.delete_prefix(keys.sessions(name)))
        return Plan("user.update", name, ops=ops, details=changed, result=user)

    return public((await apply_change(ctx, GLOBAL, actor, plan)).plan.result)


async def delete(ctx: ServiceContext, actor: Actor, name: str) -> None:
    async def plan(head: Head) -> Plan:
        if await get(ctx, name) is None:
            raise NotFoundError(f"user {name!r} does not exist")
        return Plan("user.delete", name, ops=[records.delete(keys.user(name)),
                                              records.delete_prefix(keys.sessions(name))])

    await apply_change(ctx, GLOBAL, actor, plan)


async def authenticate(ctx: ServiceContext, name: Any, password: Any, address: str = "") -> access.Principal:
    """The principal for a correct name and password; a failure is audited
    and answered with one message whatever was wrong."""
    user = await get(ctx, name) if isinstance(name, str) and _NAME.match(name) else None
    encoded = user["password"] if user else await _hash(ctx, _DUMMY_PASSWORD)
    ok = isinstance(password, str) and await asyncio.to_thread(ctx.passwords.check, password, encoded)
    if user is None or user.get("disabled") or not ok:
        who = name if isinstance(name, str) else ""

        async def plan(head: Head) -> Plan:
            return Plan("login.failure", who[:64], details={"known_user": user is not None})

        await apply_change(ctx, GLOBAL, Actor(who[:64] or "anonymous", address), plan)
        raise NotAuthenticatedError("wrong user name or password")
    return access.principal_for(user, address)


async def principal(ctx: ServiceContext, name: str, address: str = "") -> access.Principal:
    """The principal of a logged-in user as of now (grants re-read, so a
    change of grants or a disabled account takes effect at once)."""
    return principal_of(await get(ctx, name), address)


def principal_of(user: dict | None, address: str = "") -> access.Principal:
    """The principal of ``user`` (a user record, or None when there is none)."""
    if user is None or user.get("disabled"):
        raise NotAuthenticatedError("the session's user no longer exists or is disabled")
    return access.principal_for(user, address)


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


class _AdminExists(Exception):
    pass


async def bootstrap_admin(ctx: ServiceContext, password: str | None = None) -> str | None:
    """On a cluster with no users: create ``admin`` (admin on ``*``) with a
    random password (or ``password``) and return the password. ``None`` when
    users exist already — whoever created the first one holds it."""
    kvs, _ = await records.scan(ctx.client, keys.USERS, limit=1)
    if kvs:
        return None
    password = password if password is not None else secrets.token_urlsafe(18)
    encoded = await _hash(ctx, check_password(password))

    async def plan(head: Head) -> Plan:
        existing, _ = await records.scan(ctx.client, keys.USERS, limit=1)
        if existing:
            raise _AdminExists()
        now = ctx.now()
        user = {"name": ADMIN, "password": encoded, "grants": [{"role": "admin", "namespaces": access.EVERYTHING}],
                "disabled": False, "created_at": now, "created_by": "bootstrap", "updated_at": now}
        return Plan("user.create", ADMIN, ops=[records.put(keys.user(ADMIN), user)],
                    details={"grants": user["grants"], "bootstrap": True})

    try:
        await apply_change(ctx, GLOBAL, Actor("bootstrap"), plan)
    except _AdminExists:
        return None
    return password
