"""``AccessWatch`` against a real one-member store: a follower is called
when a record its principal rests on changes (its user, its token, its
session) and not for anyone else's, at its token's expiry, at once when a
change slipped in between reading the principal and following it, and no
more once it has closed."""
from __future__ import annotations

import asyncio
import dataclasses
import time

from config_center.service import access_watch as access_watch_module
from config_center.service.access import Principal
from config_center.service.access_watch import AccessWatch
from config_center.store import keys, records

from .service_support import with_service


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_followers_are_called_for_their_own_records_only(tmp_path):
    async def body(ctx, store):
        watch = AccessWatch(ctx)
        watch.generation()  # opens the watch
        calls: list[str] = []
        bob = Principal("bob", (("viewer", "*"),), token_id="t1")
        carol = dataclasses.replace(Principal("carol", ()), session=keys.session("carol", "d1").decode())
        for key, record in ((keys.user("bob"), {"name": "bob"}), (keys.token("t1"), {"expires_at": None}),
                            (keys.session("carol", "d1"), {"expires": ctx.clock() + 3600})):
            await records.txn(ctx.client, [], [records.put(key, record)])
        await settle()
        since = watch.generation()
        followed = [await watch.follow(bob, lambda: calls.append("bob"), since=since),
                    await watch.follow(carol, lambda: calls.append("carol"), since=since)]
        for key, who in ((keys.token("t1"), "bob"), (keys.user("bob"), "bob"), (keys.user("dave"), None),
                         (keys.token("t2"), None), (keys.session("carol", "d1"), "carol"),
                         (keys.session("carol", "d2"), None), (keys.namespace("x"), None)):
            calls.clear()
            await records.txn(ctx.client, [], [records.put(key, {"changed": True})])
            await settle()
            assert calls == ([who] if who else []), (key, calls)
        for following in followed:
            following.close()
        await records.txn(ctx.client, [], [records.delete(keys.user("bob"))])
        await settle()
        assert calls == []
        watch.stop()

    with_service(tmp_path, body)


def test_a_change_between_reading_and_following_calls_at_once(tmp_path):
    async def body(ctx, store):
        watch = AccessWatch(ctx)
        since = watch.generation()
        await settle()
        await records.txn(ctx.client, [], [records.put(keys.user("someone"), {"name": "someone"})])
        await settle()
        calls = []
        following = await watch.follow(Principal("bob", ()), lambda: calls.append(1), since=since)
        assert calls == [1]
        following.close()
        watch.stop()

    with_service(tmp_path, body)


def test_a_token_follower_is_called_just_after_its_token_expires(tmp_path, monkeypatch):
    monkeypatch.setattr(access_watch_module, "EXPIRY_MARGIN", 0.05)

    async def body(ctx, store):
        watch = AccessWatch(ctx)
        now = ctx.clock()
        expires = now + 0.5
        iso = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(expires))
        iso += f".{int(expires * 1000) % 1000:03d}Z"
        await records.txn(ctx.client, [], [records.put(keys.token("t1"), {"expires_at": iso})])
        watch.generation()
        await settle()
        since = watch.generation()
        calls = []
        following = await watch.follow(Principal("bob", (), token_id="t1"), lambda: calls.append(ctx.clock()),
                                       since=since)
        await asyncio.sleep(0.3)
        assert calls == []
        await asyncio.sleep(0.5)
        assert len(calls) == 1 and calls[0] >= expires
        following.close()
        watch.stop()

    with_service(tmp_path, body, clock=time.time)
