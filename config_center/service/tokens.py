"""API tokens for applications and pipelines.

A token is ``cct_<id>_<secret>``. It is shown once, when created; the store
keeps only the SHA-256 of its secret (a random 256-bit secret needs no slow
hash: nothing can be guessed from it). Each token has a namespace pattern,
an access (``read`` or ``write``), an optional expiry, and acts for the
user who created it (``access.Principal``). Revoked and expired tokens are
refused like unknown ones."""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from datetime import datetime, timezone
from typing import Any

from config_center.store import keys, records

from . import access, cursors, users
from .changes import Head, Plan, apply_change
from .context import ServiceContext
from .errors import ForbiddenError, InvalidError, NotAuthenticatedError, NotFoundError

PREFIX = "cct_"
_TOKEN = re.compile(r"cct_([0-9a-f]{12})_([A-Za-z0-9_-]{43})\Z")
MAX_DAYS = 3650


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def public(record: dict) -> dict:
    return {k: v for k, v in record.items() if k != "hash"}


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


def epoch(iso: str) -> float:
    return datetime.strptime(iso, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc).timestamp()


async def create(ctx: ServiceContext, principal: access.Principal, *, name: Any, namespaces: Any, access_level: Any,
                 expires_in_days: Any = None) -> dict:
    """A new token for ``principal``'s user; the result's ``token`` is the
    only time the secret is shown."""
    if principal.token_id is not None:
        raise ForbiddenError("a token cannot create tokens; log in as a user")
    if not isinstance(name, str) or not 1 <= len(name) <= 100:
        raise InvalidError("a token needs a name of 1-100 characters (what it is for)")
    pattern = access.check_pattern(namespaces)
    if access_level not in access.TOKEN_ACCESS:
        raise InvalidError(f"access must be one of {', '.join(access.TOKEN_ACCESS)}")
    if expires_in_days is not None and (not isinstance(expires_in_days, int) or isinstance(expires_in_days, bool)
                                        or not 1 <= expires_in_days <= MAX_DAYS):
        raise InvalidError(f"expires_in_days must be a whole number from 1 to {MAX_DAYS} (or null: never)")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    now = ctx.clock()

    async def plan(head: Head) -> Plan:
        record = {"id": token_id, "name": name, "owner": principal.user, "namespaces": pattern,
                  "access": access_level, "created_at": _iso(now),
                  "expires_at": _iso(now + expires_in_days * 86400) if expires_in_days else None,
                  "revoked_at": None, "hash": _digest(secret)}
        return Plan("token.create", token_id, ops=[records.put(keys.token(token_id), record)],
                    compares=[records.absent(keys.token(token_id))], details=public(record), result=record)

    done = await apply_change(ctx, users.GLOBAL, principal.actor, plan)
    return {**public(done.plan.result), "token": f"{PREFIX}{token_id}_{secret}"}


async def listing(ctx: ServiceContext, principal: access.Principal, *, cursor: str = "", limit: int = 100) -> dict:
    """The caller's tokens (every token for an administrator) in id order,
    ``limit`` (1-500) after ``cursor`` (the ``next`` of the previous page,
    ``cursors``)."""
    position = cursors.decode(cursors.TOKENS, cursor, cursors.is_name)
    if not isinstance(limit, int) or not 1 <= limit <= 500:
        raise InvalidError("limit must be between 1 and 500")
    found: list[dict] = []
    after = keys.token(position) if position is not None else b""
    while True:
        kvs, more = await records.scan(ctx.client, keys.TOKENS, start_after=after, limit=max(limit, 100))
        for kv in kvs:
            after = kv.key
            token = records.decode(kv.value)
            if principal.is_superuser or token["owner"] == principal.user:
                found.append(public(token))
                if len(found) == limit:
                    following = cursors.encode(cursors.TOKENS, token["id"]) if (more or kv is not kvs[-1]) else None
                    return {"results": found, "next": following}
        if not more:
            return {"results": found, "next": None}


async def revoke(ctx: ServiceContext, principal: access.Principal, token_id: Any) -> dict:
    async def plan(head: Head) -> Plan:
        kv = await records.get(ctx.client, keys.token(str(token_id))) if isinstance(token_id, str) else None
        if kv is None:
            raise NotFoundError(f"token {token_id!r} does not exist")
        record = records.decode(kv.value)
        if record["owner"] != principal.user and not principal.is_superuser:
            raise ForbiddenError(f"token {token_id} belongs to {record['owner']}")
        if record["revoked_at"]:
            return Plan("token.revoke", token_id, result=record, details={"already": True})
        record["revoked_at"] = ctx.now()
        return Plan("token.revoke", token_id, ops=[records.put(keys.token(token_id), record)], result=record)

    done = await apply_change(ctx, users.GLOBAL, principal.actor, plan)
    return public(done.plan.result)


async def authenticate(ctx: ServiceContext, raw: Any, address: str = "") -> access.Principal:
    """The principal a token acts as; ``NotAuthenticatedError`` for a
    malformed, unknown, revoked or expired token or a disabled owner."""
    match = _TOKEN.match(raw) if isinstance(raw, str) else None
    refused = NotAuthenticatedError("invalid, expired or revoked API token")
    if match is None:
        raise refused
    token_id, secret = match.groups()
    kv = await records.get(ctx.client, keys.token(token_id))
    if kv is None:
        raise refused
    record = records.decode(kv.value)
    if not hmac.compare_digest(record["hash"], _digest(secret)) or record["revoked_at"]:
        raise refused
    if record["expires_at"] and epoch(record["expires_at"]) <= ctx.clock():
        raise refused
    owner = await users.get(ctx, record["owner"])
    if owner is None or owner.get("disabled"):
        raise refused
    user = access.principal_for(owner, address)
    return access.Principal(user.user, user.grants, address, token_id, record["namespaces"], record["access"])
