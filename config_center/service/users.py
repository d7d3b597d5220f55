"""Users of the console and the API: passwords (hashed by the edge's
hasher, off the event loop), grants (``access``), login, and the first
administrator of a new cluster.

Users live in the replicated store so every member agrees on them; their
changes and failed logins are entries of the ``_global`` audit chain (failed
logins in bounded number: ``LoginFailureLog``).
"""
from __future__ import annotations

import asyncio
import logging
import re
import secrets
import weakref
from dataclasses import dataclass, field
from typing import Any

from config_center.store import keys, records

from . import access, cursors
from .changes import Head, Plan, apply_change
from .context import Actor, ServiceContext
from .errors import AlreadyExistsError, InvalidError, NotAuthenticatedError, NotFoundError
from .login_throttle import PasswordChecks

logger = logging.getLogger(__name__)

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


async def authenticate(ctx: ServiceContext, name: Any, password: Any, address: str = "", *,
                       checks: PasswordChecks, trusted: bool = False,
                       failures: "LoginFailureLog") -> access.Principal:
    """The principal for a correct name and password; a failure is recorded
    in ``failures`` and answered with one message whatever was wrong.

    The hash runs under ``checks`` (``trusted``: the name has logged in from
    ``address`` before, see ``login_throttle``); when they are full this
    raises ``TooManyAttemptsError`` at once, and nothing is hashed or
    recorded. An unknown name is checked against a dummy hash under the same
    bounds, at the same cost as a real one."""
    checks.check(address, trusted)  # before the lookup: a refusal costs no store read either
    user = await get(ctx, name) if isinstance(name, str) and _NAME.match(name) else None
    encoded = user["password"] if user else await _dummy_hash(ctx, checks, address, trusted)
    ok = isinstance(password, str) and await checks.run(address, trusted, ctx.passwords.check, password, encoded)
    if user is None or user.get("disabled") or not ok:
        # The check's slot is back before this write: a slow store must not
        # hold hashing capacity.
        await failures.failed(name if isinstance(name, str) else "", address, known=user is not None)
        raise NotAuthenticatedError("wrong user name or password")
    return access.principal_for(user, address)


# The dummy password hashed once per hasher: hashing it again for every
# unknown name would make a wrong name cost two hashes to a right name's one.
_dummy_hashes: "weakref.WeakKeyDictionary[Any, str]" = weakref.WeakKeyDictionary()


async def _dummy_hash(ctx: ServiceContext, checks: PasswordChecks, address: str, trusted: bool) -> str:
    if ctx.passwords is None:
        raise RuntimeError("no password hasher configured")
    encoded = _dummy_hashes.get(ctx.passwords)
    if encoded is None:
        encoded = await checks.run(address, trusted, ctx.passwords.make, _DUMMY_PASSWORD)
        _dummy_hashes[ctx.passwords] = encoded
    return encoded


FAILURE_INTERVAL_SECONDS = 60.0
FIRST_WRITTEN = 3  # failures of one group written as they happen, per interval
WRITTEN_PER_INTERVAL = 20  # the same, over all groups
MAX_FAILURE_GROUPS = 100
SAMPLE_SIZE = 5


@dataclass
class _FailureGroup:
    """Failures of one interval that one summary entry will stand for."""

    name: str | None  # the known user's; None for unknown names (and for the overflow group)
    address: str | None  # None for the overflow group: addresses beyond ``max_groups``
    since: str
    written: int = 0  # written as they happened
    unwritten: int = 0  # left for the summary
    names: list[str] = field(default_factory=list)  # a sample of the names tried
    addresses: list[str] = field(default_factory=list)  # the overflow group's sample

    def sample(self, name: str, address: str) -> None:
        if name not in self.names and len(self.names) < SAMPLE_SIZE:
            self.names.append(name)
        if self.address is None and address not in self.addresses and len(self.addresses) < SAMPLE_SIZE:
            self.addresses.append(address)


class LoginFailureLog:
    """Failed logins as ``login.failure`` entries of the ``_global`` chain,
    in bounded number whatever the rate of failures.

    Failures are grouped per interval (``interval`` seconds from the first
    failure after a quiet one): a known user's by (name, address), unknown
    names' by address alone, and once ``max_groups`` groups exist, every
    further one in a single overflow group. The first ``FIRST_WRITTEN`` of
    a group, up to ``WRITTEN_PER_INTERVAL`` over all groups, are written as
    they happen, each naming its user, as a single mistyped password
    deserves. The rest are counted, and when the interval ends each group
    with any left writes one summary entry (details: ``failures``, the
    count; ``since``; ``names``, a sample of the names tried; ``summary``:
    true). So an interval writes at most ``WRITTEN_PER_INTERVAL +
    max_groups + 1`` entries, and memory holds at most ``max_groups + 1``
    groups of at most ``SAMPLE_SIZE`` names each.

    The interval's end is a timer on the loop, so the summary is written
    even when the failures stop; ``flush()`` writes what is pending at once,
    for shutdown. A summary the store will not take is logged and dropped:
    no login waits for it.
    """

    def __init__(self, ctx: ServiceContext, *, interval: float = FAILURE_INTERVAL_SECONDS,
                 max_groups: int = MAX_FAILURE_GROUPS) -> None:
        self.ctx = ctx
        self.interval = interval
        self.max_groups = max_groups
        self._groups: dict[tuple[str | None, str | None], _FailureGroup] = {}
        self._written = 0
        self._timer: asyncio.TimerHandle | None = None
        self._summaries: set[asyncio.Task] = set()

    async def failed(self, name: str, address: str, *, known: bool) -> None:
        """Record one failure of ``name`` (``known``: a user by that name
        exists) from ``address``; returns once its entry is written, if it
        gets one of its own."""
        key = (name if known else None, address)
        group = self._groups.get(key)
        if group is None:
            if len(self._groups) >= self.max_groups:
                key = (None, None)
                group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = _FailureGroup(key[0], key[1], since=self.ctx.now())
        group.sample(name[:64], address)
        if self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.interval, self._start_summaries)
        if group.written < FIRST_WRITTEN and self._written < WRITTEN_PER_INTERVAL:
            # Counted before the write, so concurrent failures cannot all take the last place.
            group.written += 1
            self._written += 1
            await self._write(Actor(name[:64] or "anonymous", address), name[:64], {"known_user": known})
        else:
            group.unwritten += 1

    async def flush(self) -> None:
        """Write the summaries of the interval so far now, and wait for those
        of earlier intervals still being written."""
        if self._timer is not None:
            self._timer.cancel()
        self._start_summaries()
        if self._summaries:
            await asyncio.gather(*self._summaries, return_exceptions=True)

    def _start_summaries(self) -> None:
        """End the interval: its groups' summaries are written by a task of their own."""
        groups = [group for group in self._groups.values() if group.unwritten]
        self._groups, self._written, self._timer = {}, 0, None
        if groups:
            task = asyncio.get_running_loop().create_task(self._write_summaries(groups))
            self._summaries.add(task)
            task.add_done_callback(self._summaries.discard)

    async def _write_summaries(self, groups: list[_FailureGroup]) -> None:
        for group in groups:
            details: dict[str, Any] = {"summary": True, "failures": group.unwritten, "since": group.since,
                                       "known_user": group.name is not None, "names": group.names}
            if group.address is None:
                details["addresses"] = group.addresses
            actor = Actor(group.name or "anonymous", group.address or "")
            try:
                await self._write(actor, group.name or "", details)
            except Exception as error:  # no leader, a timeout: the store cannot take it now
                logger.warning("login failures not audited (%d from %s for %s, since %s): %s", group.unwritten,
                               group.address or group.addresses, group.name or group.names, group.since, error)

    async def _write(self, actor: Actor, target: str, details: dict) -> None:
        async def plan(head: Head) -> Plan:
            return Plan("login.failure", target, details=details)

        await apply_change(self.ctx, GLOBAL, actor, plan)


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
