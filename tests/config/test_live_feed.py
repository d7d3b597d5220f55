"""Namespace feeds (``service.live_feed``) against a real one-member store:
subscriptions that caught up are written to by one feed per namespace,
each change rendered once; one that joins behind is sent what it missed
from the ring; one whose socket has no room, or that a canary concerns,
goes on by itself and loses nothing; bookmarks, deletion, leaving.

Each subscription here is consumed the way the live websocket consumes
it: a task takes ``next()`` (its own watch) while a sink takes what the
feed pushes, both into one list, and either waits while the "socket" has
no room."""
from __future__ import annotations

import asyncio
import json

from .test_subscriptions import ROOT, change, run


class Reader:
    """One application's socket: every message, in arrival order."""

    def __init__(self, subscription) -> None:
        self.subscription = subscription
        self.messages: list[dict] = []
        self.room = True
        subscription.push_to(self.push)
        self.task = asyncio.create_task(self.pump())

    def push(self, delivery) -> bool:
        if not self.room:
            return False
        self.messages.append(json.loads(delivery.body))
        return True

    async def pump(self) -> None:
        while True:
            delivery = await self.subscription.next()
            while not self.room:
                await asyncio.sleep(0.005)
            self.messages.append(json.loads(delivery.body))
            if delivery.final:
                return

    def releases(self) -> list[int]:
        return [m["release"] for m in self.messages if m["type"] in ("snapshot", "change", "resync")]

    def close(self) -> None:
        self.subscription.close()
        self.task.cancel()


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def joined(service, readers) -> None:
    await until(lambda: all(r.subscription._feed is not None for r in readers))


def test_one_feed_renders_each_change_once_for_every_subscription(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        first = await change(service, "shop/prod", "a.yaml", "a: 1\n")
        readers = [Reader(await service.subscribe(ROOT, "shop/prod")) for _ in range(40)]
        await joined(service, readers)
        assert len(service.live_feeds) == 1
        renders = service.change_renderer.renders
        published = [await change(service, "shop/prod", "a.yaml", f"a: {n}\n") for n in range(2, 6)]
        want = [first["seq"]] + [r["seq"] for r in published]
        await until(lambda: all(r.releases() == want for r in readers))
        assert service.change_renderer.renders - renders == len(published)
        assert all(r.messages[-1]["items"]["a.yaml"]["content"] == "a: 5\n" for r in readers)
        for reader in readers:
            reader.close()
        assert len(service.live_feeds) == 0, "the last one to leave stops the feed"

    run(tmp_path, body)


def test_a_subscription_resuming_behind_the_feed_gets_the_missed_changes_from_its_ring(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        await change(service, "shop/prod", "a.yaml", "a: 0\n")
        ahead = Reader(await service.subscribe(ROOT, "shop/prod"))
        await joined(service, [ahead])
        published = [await change(service, "shop/prod", "a.yaml", f"a: {n}\n") for n in range(1, 5)]
        await until(lambda: len(ahead.releases()) == 5)
        late = Reader(await service.subscribe(ROOT, "shop/prod", since=published[1]["revision"]))
        await joined(service, [late])
        assert late.releases() == [r["seq"] for r in published[2:]]
        after = await change(service, "shop/prod", "a.yaml", "a: 5\n")
        await until(lambda: late.releases()[-1:] == [after["seq"]])
        assert late.releases() == [r["seq"] for r in published[2:]] + [after["seq"]]
        for reader in (ahead, late):
            reader.close()

    run(tmp_path, body)


def test_a_subscription_without_room_goes_on_by_itself_and_loses_nothing(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        first = await change(service, "shop/prod", "a.yaml", "a: 0\n")
        slow = Reader(await service.subscribe(ROOT, "shop/prod"))
        quick = Reader(await service.subscribe(ROOT, "shop/prod"))
        await joined(service, [slow, quick])
        slow.room = False
        published = [await change(service, "shop/prod", "a.yaml", f"a: {n}\n") for n in range(1, 4)]
        want = [first["seq"]] + [r["seq"] for r in published]
        await until(lambda: quick.releases() == want)  # not held up
        assert slow.subscription._feed is None and slow.releases() == [first["seq"]]
        slow.room = True
        await until(lambda: slow.releases() == want)
        # Caught up again: back on the feed.
        await joined(service, [slow])
        last = await change(service, "shop/prod", "a.yaml", "a: 9\n")
        await until(lambda: slow.releases() == want + [last["seq"]])
        for reader in (slow, quick):
            reader.close()

    run(tmp_path, body)


def test_a_canary_is_worked_out_per_subscription_then_they_rejoin(tmp_path):
    async def body(service, store):
        ns = "shop/prod"
        await service.create_namespace(ROOT, ns, {})
        await change(service, ns, "a.yaml", "a: 1\n")
        zone_a = Reader(await service.subscribe(ROOT, ns, instance={"id": "i-a", "labels": {"zone": "a"}}))
        zone_b = Reader(await service.subscribe(ROOT, ns, instance={"id": "i-b", "labels": {"zone": "b"}}))
        await joined(service, [zone_a, zone_b])
        listing = {i["name"]: i for i in await service.list_items(ROOT, ns)}
        await service.save_draft(ROOT, ns, "a.yaml", "a: 2\n", revision=listing["a.yaml"]["revision"])
        revision = (await service.get_namespace(ROOT, ns))["revision"]
        canary = await service.start_canary(ROOT, ns, labels={"zone": "a"}, revision=revision)
        await until(lambda: zone_a.releases()[-1] == canary["seq"])
        assert zone_a.messages[-1]["canary"] is True and zone_a.messages[-1]["items"]["a.yaml"]["content"] == "a: 2\n"
        revision = (await service.get_namespace(ROOT, ns))["revision"]
        promoted = await service.promote_canary(ROOT, ns, comment="good", revision=revision)
        await until(lambda: zone_b.releases()[-1:] == [promoted["seq"]] and zone_a.releases()[-1] == promoted["seq"])
        assert zone_b.messages[-1]["items"]["a.yaml"]["content"] == "a: 2\n"
        assert zone_a.messages[-1]["items"] == {}, "zone a had these items already"
        assert canary["seq"] not in zone_b.releases()
        await joined(service, [zone_a, zone_b])
        after = await change(service, ns, "a.yaml", "a: 3\n")
        await until(lambda: zone_a.releases()[-1] == after["seq"] and zone_b.releases()[-1] == after["seq"])
        for reader in (zone_a, zone_b):
            assert reader.releases().count(after["seq"]) == 1
            reader.close()

    run(tmp_path, body)


def test_bookmarks_and_the_namespace_deletion_come_through_the_feed(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        first = await change(service, "shop/prod", "a.yaml", "a: 1\n")
        readers = [Reader(await service.subscribe(ROOT, "shop/prod")) for _ in range(3)]
        await joined(service, readers)
        assert all(r.subscription.request_progress() for r in readers)
        await until(lambda: all(r.messages[-1]["type"] == "progress" for r in readers))
        assert all(r.messages[-1]["revision"] >= first["revision"] for r in readers)
        namespace = await service.get_namespace(ROOT, "shop/prod")
        await service.delete_namespace(ROOT, "shop/prod", namespace["revision"], archive=True)
        await until(lambda: all(r.messages[-1]["type"] == "deleted" for r in readers))
        assert all(sum(m["type"] == "deleted" for m in r.messages) == 1 for r in readers)
        await until(lambda: len(service.live_feeds) == 0)
        for reader in readers:
            reader.close()

    run(tmp_path, body)


def test_only_a_subscription_that_has_caught_up_starts_a_feed(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        published = [await change(service, "shop/prod", "a.yaml", f"a: {n}\n") for n in range(4)]
        # The store moves on elsewhere: the resumed subscription's watch sees
        # none of it, so only a bookmark can tell it that it has caught up.
        await service.create_namespace(ROOT, "shop/dev", {})
        await change(service, "shop/dev", "a.yaml", "other: 1\n")
        resumed = Reader(await service.subscribe(ROOT, "shop/prod", since=published[0]["revision"]))
        await until(lambda: resumed.releases() == [r["seq"] for r in published[1:]])
        await asyncio.sleep(0.05)
        assert len(service.live_feeds) == 0 and resumed.subscription._feed is None
        assert resumed.subscription.request_progress()
        await joined(service, [resumed])
        assert len(service.live_feeds) == 1
        after = await change(service, "shop/prod", "a.yaml", "a: 9\n")
        await until(lambda: resumed.releases()[-1:] == [after["seq"]])
        assert resumed.releases() == [r["seq"] for r in published[1:]] + [after["seq"]]
        resumed.close()

    run(tmp_path, body)
