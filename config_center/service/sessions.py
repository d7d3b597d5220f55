"""Login sessions that can be ended: by logging out, and for every session
of a user at once when the password changes or the account is disabled or
deleted — on every member, from the moment it applies the change.

The browser holds a signed cookie (Django's signed-cookie sessions) with the
user name and a random session secret. Signing stops anyone without the
cluster's SECRET_KEY from making one up, but a signed cookie alone is valid
until it expires, wherever it was copied to. So the session also lives in
the replicated store, under

    config/session/<user>//<digest>     {user, created_at, expires_at, address}

(the digest is SHA-256 of the secret: a store backup or a root reader of the
store learns no usable session), and a request is let in only while that
record exists and has not expired. Ending a session deletes its record;
changing a password, disabling or deleting a user deletes every record
under the user's prefix in the same transaction as the change
(``users.update``, ``users.delete``), so no request is served between the
two.

Each login is one store write and each request one local read at the
revision its user record was read (linearizably) at. Records are not on
leases: a login removes its user's expired records, and a user keeps at
most ``MAX_PER_USER`` sessions (the oldest is ended), so the records of a
user are bounded; a user who never logs in again leaves at most that many.

Sessions are not audited: a login is not a change of configuration, and a
record per login in the audit chain would serialise every login on it.
"""
from __future__ import annotations

import hashlib
import secrets
from dataclasses import replace
from typing import Any

from config_center.store import keys, records

from . import users
from .access import Principal
from .context import ServiceContext
from .errors import NotAuthenticatedError

MAX_PER_USER = 64
SECRET_BYTES = 24


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()[:32]


async def start(ctx: ServiceContext, principal: Principal, *, lifetime: float) -> str:
    """A new session of ``principal``'s user for ``lifetime`` seconds; the
    secret the cookie holds (never stored)."""
    secret = secrets.token_urlsafe(SECRET_BYTES)
    now = ctx.clock()
    record = {"user": principal.user, "created_at": ctx.now(), "created": now, "expires": now + lifetime,
              "address": principal.address}
    held, _ = await records.scan(ctx.client, keys.sessions(principal.user))
    live = sorted((records.decode(kv.value)["created"], kv.key) for kv in held
                  if records.decode(kv.value)["expires"] > now)
    ended = [kv.key for kv in held if records.decode(kv.value)["expires"] <= now]
    ended += [key for _, key in live[:max(0, len(live) - MAX_PER_USER + 1)]]
    await records.txn(ctx.client, [], [records.put(keys.session(principal.user, digest(secret)), record)]
                      + [records.delete(key) for key in ended])
    return secret


async def end(ctx: ServiceContext, user: Any, secret: Any) -> None:
    """End one session (nothing happens for one that is not running)."""
    if isinstance(user, str) and isinstance(secret, str) and users.valid_name(user):
        await ctx.client.delete_range(records.delete(keys.session(user, digest(secret))))


async def principal(ctx: ServiceContext, user: Any, secret: Any, address: str = "") -> Principal:
    """The principal of the running session ``secret`` of ``user``, with
    the user's grants as of now. ``NotAuthenticatedError`` once the session
    has ended or expired, or the user is gone or disabled."""
    if not (isinstance(user, str) and isinstance(secret, str) and users.valid_name(user)):
        raise NotAuthenticatedError("not logged in")
    key = keys.session(user, digest(secret))
    user_kv, session_kv = await records.get_many(ctx.client, [keys.user(user), key])
    if session_kv is None or records.decode(session_kv.value)["expires"] <= ctx.clock():
        raise NotAuthenticatedError("the session has ended: log in again")
    found = users.principal_of(records.decode(user_kv.value) if user_kv else None, address)
    return replace(found, session=key.decode())
