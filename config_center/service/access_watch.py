"""Telling live connections that what let them in has changed.

A websocket is authenticated once, when it opens, and may stay open for
days. What let it in is a handful of records: its user (grants, disabled),
its API token (revoked, expiry) or its login session (``sessions``). When
one of them changes, the connection's principal must be worked out again
and the connection closed, or its subscriptions narrowed, before anything
more is pushed to it: otherwise a revoked token, a disabled user or a
removed grant keeps receiving changes (secrets included) for as long as
the socket lives.

``AccessWatch`` is one store watch per process over the user, token and
session records. A connection ``follow``s the records its principal rests
on with a callback; the watch calls it, on the loop, as soon as this member
has applied a change of one of them, and also at the token's or session's
expiry. The callback must stop pushing at once (synchronously) and then
work the principal out again (``LiveConfigConsumer`` holds its outbox).

No change may slip between authenticating and following: a connection
takes ``generation()`` before it reads its principal and passes it to
``follow``; if any record was dispatched meanwhile, ``follow`` calls the
callback once at once (the principal may have been read before that
change). The watch runs from the moment ``generation()`` is first asked
for, so a change applied after that is dispatched to whoever follows by
then. If the watch ends (the member stopping, compaction under it), it is
opened again from the current revision and every follower is called:
whatever it missed, each checks again.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

from consensus.mvcc.api import WatchCreateRequest

from config_center.store import keys, records
from config_center.store.client import WatchClosed
from config_center.store.keys import prefix_end

from . import tokens
from .access import Principal
from .context import ServiceContext

logger = logging.getLogger(__name__)

# The watched range: ``session/``, ``token/`` and ``user/`` follow each other
# under the config root, so one range holds the three (anything else that
# falls in it is ignored).
_FIRST, _LAST = keys.SESSIONS, keys.USERS
_KINDS = (keys.SESSIONS, keys.TOKENS, keys.USERS)
# Before the watch is opened again after it ended.
RESTART_DELAY = 0.5
# How long after a token's or session's expiry its followers are called.
EXPIRY_MARGIN = 0.05


class Following:
    """A connection's registration; ``close()`` when the connection ends."""

    def __init__(self, watch: "AccessWatch", keys_: tuple[bytes, ...], callback: Callable[[], None]) -> None:
        self._watch = watch
        self.keys = keys_
        self.callback = callback
        self.timer: asyncio.TimerHandle | None = None

    def close(self) -> None:
        self._watch._forget(self)


class AccessWatch:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._followers: dict[bytes, set[Following]] = {}
        self._generation = 0
        self._task: asyncio.Task | None = None
        self._stopped = False

    def generation(self) -> int:
        """A counter of the changes dispatched so far; opens the watch."""
        if self._task is None and not self._stopped:
            watch = self._open()
            self._task = asyncio.get_running_loop().create_task(self._run(watch), name="access-watch")
        return self._generation

    async def follow(self, principal: Principal, callback: Callable[[], None], *, since: int) -> Following:
        """Call ``callback`` when a record ``principal`` rests on changes, or
        its token or session expires. ``since``: ``generation()`` as it was
        before ``principal`` was read."""
        rests_on = [keys.user(principal.user)]
        if principal.token_id is not None:
            rests_on.append(keys.token(principal.token_id))
        if principal.session is not None:
            rests_on.append(principal.session.encode())
        following = Following(self, tuple(rests_on), callback)
        for key in following.keys:
            self._followers.setdefault(key, set()).add(following)
        try:
            deadline = await self._deadline(principal)
        except BaseException:
            following.close()  # cancelled, or the store failed: no registration left behind
            raise
        if deadline is not None:
            # Just after: a check made at the very instant could still find it valid.
            loop = asyncio.get_running_loop()
            following.timer = loop.call_later(max(0.0, deadline - self.ctx.clock()) + EXPIRY_MARGIN, callback)
        if self._generation != since:
            callback()
        return following

    async def _deadline(self, principal: Principal) -> float | None:
        """When the token or session of ``principal`` expires, if ever."""
        found = []
        if principal.token_id is not None:
            kv = await records.get(self.ctx.client, keys.token(principal.token_id), serializable=True)
            expires = records.decode(kv.value).get("expires_at") if kv else None
            if expires:
                found.append(tokens.epoch(expires))
        if principal.session is not None:
            kv = await records.get(self.ctx.client, principal.session.encode(), serializable=True)
            if kv is not None:
                found.append(records.decode(kv.value)["expires"])
        return min(found) if found else None

    def _forget(self, following: Following) -> None:
        if following.timer is not None:
            following.timer.cancel()
        for key in following.keys:
            held = self._followers.get(key)
            if held is not None:
                held.discard(following)
                if not held:
                    del self._followers[key]

    def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()

    # -- the watch ---------------------------------------------------------------------------------

    def _open(self, start: int = 0):
        return self.ctx.client.watch(WatchCreateRequest(key=_FIRST, range_end=prefix_end(_LAST),
                                                        start_revision=start))

    async def _run(self, watch) -> None:
        while not self._stopped:
            try:
                while True:
                    try:
                        response = await watch.next()
                    except WatchClosed:
                        break
                    if response.canceled or response.compact_revision:
                        break
                    for event in response.events:
                        self._dispatch(event.kv.key)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("the access watch failed; opening it again")
            watch.cancel()
            if self._stopped:
                return
            # Whatever happened while no watch ran, every follower checks again.
            await asyncio.sleep(RESTART_DELAY)
            try:
                watch = self._open()
            except Exception:
                logger.exception("the access watch cannot be opened; retrying")
                continue
            self._generation += 1
            for following in {f for held in self._followers.values() for f in held}:
                following.callback()

    def _dispatch(self, key: bytes) -> None:
        if not key.startswith(_KINDS):
            return
        self._generation += 1
        for following in list(self._followers.get(key, ())):
            following.callback()
