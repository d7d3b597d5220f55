"""Live subscriptions in the service layer, against a real one-member
store: snapshot then changes in order, resume from a revision, resync after
compaction, item filters, secret masking, namespace deletion, progress."""
from __future__ import annotations

import asyncio
import json
import os

import pytest

from config_center.service.access import Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import ForbiddenError, InvalidError, NotFoundError
from config_center.service.secret_box import MASK, SecretBox
from consensus.mvcc.api import CompactionRequest

from .service_support import with_service
from .test_access import FastHasher

ROOT = Principal("root", (("admin", "*"),))
VIEWER = Principal("vic", (("viewer", "shop/*"),))


def run(tmp_path, body):
    async def with_ctx(ctx, store):
        ctx.passwords = FastHasher()
        ctx.secrets = SecretBox(os.urandom(32))
        return await body(ConfigService(ctx), store)

    return with_service(tmp_path, with_ctx)


async def change(service, ns, name, text, **options):
    """Draft ``text`` for ``name`` (None: delete it) and publish; the release."""
    current = await service.get_namespace(ROOT, ns)
    listing = {i["name"]: i for i in await service.list_items(ROOT, ns)}
    base = listing[name]["revision"] if name in listing else 0
    if text is None:
        await service.draft_delete(ROOT, ns, name, revision=base)
    else:
        await service.save_draft(ROOT, ns, name, text, revision=base, **options)
    current = await service.get_namespace(ROOT, ns)
    return await service.publish(ROOT, ns, comment="c", revision=current["revision"])


async def take(subscription, timeout=5.0):
    delivery = await asyncio.wait_for(subscription.next(), timeout)
    return delivery, json.loads(delivery.body)


def test_snapshot_then_every_change_in_order_with_release_and_kind(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        first = await change(service, "shop/prod", "a.yaml", "a: 1\n")
        sub = await service.subscribe(ROOT, "shop/prod")
        _, snap = await take(sub)
        assert snap["type"] == "snapshot" and snap["release"] == first["seq"]
        assert snap["items"]["a.yaml"]["content"] == "a: 1\n" and snap["revision"] >= first["revision"]

        second = await change(service, "shop/prod", "b.json", '{"x": 1}', format="json")
        third = await change(service, "shop/prod", "a.yaml", None)
        back = await service.rollback(ROOT, "shop/prod", first["seq"], comment="undo",
                                      revision=(await service.get_namespace(ROOT, "shop/prod"))["revision"])
        got = [(await take(sub))[1] for _ in range(3)]
        assert [(m["type"], m["release"], m["kind"], m["revision"]) for m in got] == [
            ("change", second["seq"], "publish", second["revision"]),
            ("change", third["seq"], "publish", third["revision"]),
            ("change", back["seq"], "rollback", back["revision"]),
        ]
        assert got[0]["items"] == {"b.json": {"format": "json", "content": '{"x": 1}', "secret": False,
                                              "revision": second["revision"]}}
        assert got[0]["deleted"] == [] and got[1]["items"] == {} and got[1]["deleted"] == ["a.yaml"]
        assert set(got[2]["items"]) == {"a.yaml"} and got[2]["deleted"] == ["b.json"]
        assert sub.revision == back["revision"]
        sub.close()

    run(tmp_path, body)


def test_resume_from_a_revision_gets_exactly_what_was_missed(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        releases = [await change(service, "shop/prod", "a.yaml", f"a: {n}\n") for n in range(6)]
        # Changes of another namespace in between must not show up.
        await service.create_namespace(ROOT, "shop/dev", {})
        await change(service, "shop/dev", "a.yaml", "other: 1\n")
        since = releases[2]["revision"]
        sub = await service.subscribe(ROOT, "shop/prod", since=since)
        got = [(await take(sub))[1] for _ in range(3)]
        assert [m["release"] for m in got] == [r["seq"] for r in releases[3:]]
        assert [m["items"]["a.yaml"]["content"] for m in got] == ["a: 3\n", "a: 4\n", "a: 5\n"]
        # Nothing more: a progress bookmark comes next, at the store's revision.
        assert sub.request_progress()
        delivery, progress = await take(sub)
        assert progress["type"] == "progress" and progress["leader"] is True
        assert progress["revision"] >= releases[-1]["revision"] and delivery.revision == progress["revision"]

        with pytest.raises(InvalidError, match="ahead of the store"):
            await service.subscribe(ROOT, "shop/prod", since=progress["revision"] + 1000)
        with pytest.raises(InvalidError, match="since must be"):
            await service.subscribe(ROOT, "shop/prod", since="12")
        sub.close()

    run(tmp_path, body)


def test_a_compacted_resume_point_gets_an_explicit_resync_with_everything(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        old = await change(service, "shop/prod", "a.yaml", "a: 1\n")
        await change(service, "shop/prod", "b.yaml", "b: 1\n")
        latest = await change(service, "shop/prod", "a.yaml", "a: 2\n")
        await store.compact(CompactionRequest(revision=latest["revision"], physical=True))
        sub = await service.subscribe(ROOT, "shop/prod", since=old["revision"])
        _, resync = await take(sub)
        assert resync["type"] == "resync" and resync["release"] == latest["seq"]
        assert {n: i["content"] for n, i in resync["items"].items()} == {"a.yaml": "a: 2\n", "b.yaml": "b: 1\n"}
        after = await change(service, "shop/prod", "b.yaml", "b: 2\n")
        _, next_change = await take(sub)
        assert next_change["type"] == "change" and next_change["release"] == after["seq"]
        sub.close()

    run(tmp_path, body)


def test_item_filter_secret_masking_and_access(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        await change(service, "shop/prod", "a.yaml", "a: 1\n")
        await change(service, "shop/prod", "db.yaml", "password: x\n", secret=True)
        only_a = await service.subscribe(ROOT, "shop/prod", items=["a.yaml"])
        viewer = await service.subscribe(VIEWER, "shop/prod")
        _, snap = await take(only_a)
        assert set(snap["items"]) == {"a.yaml"}
        _, masked = await take(viewer)
        assert masked["items"]["db.yaml"]["content"] == MASK and masked["items"]["db.yaml"]["secret"] is True

        await change(service, "shop/prod", "db.yaml", "password: y\n")
        after = await change(service, "shop/prod", "a.yaml", "a: 2\n")
        _, seen = await take(only_a)  # the db.yaml change is not for it
        assert seen["release"] == after["seq"] and set(seen["items"]) == {"a.yaml"}
        _, db_change = await take(viewer)
        assert db_change["items"]["db.yaml"]["content"] == MASK
        root = await service.subscribe(ROOT, "shop/prod")
        _, full = await take(root)
        assert full["items"]["db.yaml"]["content"] == "password: y\n"

        with pytest.raises(ForbiddenError):
            await service.subscribe(VIEWER, "other/prod")
        with pytest.raises(NotFoundError):
            await service.subscribe(ROOT, "nope/prod")
        with pytest.raises(InvalidError):
            await service.subscribe(ROOT, "shop/prod", items=["bad name"])
        for sub in (only_a, viewer, root):
            sub.close()

    run(tmp_path, body)


def test_namespace_deletion_ends_the_subscription(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        await change(service, "shop/prod", "a.yaml", "a: 1\n")
        sub = await service.subscribe(ROOT, "shop/prod")
        await take(sub)
        current = await service.get_namespace(ROOT, "shop/prod")
        gone = await service.delete_namespace(ROOT, "shop/prod", current["revision"], archive=True)
        delivery, message = await take(sub)
        assert message == {"type": "deleted", "namespace": "shop/prod", "revision": gone["revision"]}
        assert delivery.final

    run(tmp_path, body)


def test_one_render_per_change_however_many_subscribers(tmp_path):
    async def body(service, store):
        await service.create_namespace(ROOT, "shop/prod", {})
        await change(service, "shop/prod", "a.yaml", "a: 1\n")
        subs = [await service.subscribe(VIEWER, "shop/prod") for _ in range(50)]
        for sub in subs:
            await take(sub)
        before = service.change_renderer.renders
        await change(service, "shop/prod", "a.yaml", "a: 2\n")
        bodies = await asyncio.gather(*(take(sub) for sub in subs))
        assert {delivery.body for delivery, _ in bodies} == {bodies[0][0].body}
        assert service.change_renderer.renders == before + 1
        for sub in subs:
            sub.close()

    run(tmp_path, body)


def test_a_canary_reaches_only_the_selected_instances_until_promoted_or_abandoned(tmp_path):
    async def body(service, store):
        ns = "shop/prod"
        await service.create_namespace(ROOT, ns, {})
        first = await change(service, ns, "a.yaml", "a: 1\n")
        zone_a = await service.subscribe(ROOT, ns, instance={"id": "i-a", "labels": {"zone": "a"}})
        zone_b = await service.subscribe(ROOT, ns, instance={"id": "i-b", "labels": {"zone": "b"}})
        for sub in (zone_a, zone_b):
            assert (await take(sub))[1]["release"] == first["seq"]

        async def draft_both(text):
            listing = {i["name"]: i for i in await service.list_items(ROOT, ns)}
            await service.save_draft(ROOT, ns, "a.yaml", text, revision=listing["a.yaml"]["revision"])
            await service.save_draft(ROOT, ns, "b.yaml", "b: 1\n",
                                     revision=listing["b.yaml"]["revision"] if "b.yaml" in listing else 0)

        async def revision():
            return (await service.get_namespace(ROOT, ns))["revision"]

        await draft_both("a: 2\n")
        canary = await service.start_canary(ROOT, ns, labels={"zone": "a"}, comment="try", revision=await revision())
        assert canary["kind"] == "canary" and canary["seq"] == first["seq"] + 1
        _, moved = await take(zone_a)
        assert (moved["kind"], moved["canary"], moved["release"]) == ("canary", True, canary["seq"])
        assert {n: i["content"] for n, i in moved["items"].items()} == {"a.yaml": "a: 2\n", "b.yaml": "b: 1\n"}
        assert zone_b.request_progress()
        assert (await take(zone_b))[1]["type"] == "progress", "the canary is not for zone b"
        late = await service.subscribe(ROOT, ns, instance={"id": "i-a2", "labels": {"zone": "a"}})
        _, snapshot = await take(late)
        assert snapshot["canary"] is True and snapshot["items"]["a.yaml"]["content"] == "a: 2\n"
        with pytest.raises(InvalidError, match="canary release .* is running"):
            await change(service, ns, "c.yaml", "c: 1\n")
        assert (await service.get_canary(ROOT, ns))["canary"]["seq"] == canary["seq"]

        assert (await service.live_config(ROOT, ns))["release"] == first["seq"], "the canary is not live"
        abandoned = await service.abandon_canary(ROOT, ns, comment="no", revision=await revision())
        assert abandoned["abandoned"] == canary["seq"] and abandoned["seq"] == canary["seq"] + 1
        _, back = await take(zone_a)
        assert (back["kind"], back["canary"], back["release"]) == ("canary_abandoned", False, abandoned["seq"])
        assert back["items"]["a.yaml"]["content"] == "a: 1\n" and back["deleted"] == ["b.yaml"]
        assert (await service.get_canary(ROOT, ns)) == {"running": False}

        await draft_both("a: 3\n")
        second = await service.start_canary(ROOT, ns, labels={"zone": "a"}, revision=await revision())
        assert (await take(zone_a))[1]["release"] == second["seq"]
        promoted = await service.promote_canary(ROOT, ns, comment="good", revision=await revision())
        assert promoted["promoted_from"] == second["seq"] and promoted["kind"] == "publish"
        _, on_a = await take(zone_a)
        assert (on_a["kind"], on_a["canary"], on_a["release"], on_a["items"]) == ("publish", False, promoted["seq"], {})
        _, on_b = await take(zone_b)
        assert on_b["release"] == promoted["seq"] and on_b["items"]["a.yaml"]["content"] == "a: 3\n"
        # c.yaml was drafted while the first canary ran (its publish was refused)
        assert set(on_b["items"]) == {"a.yaml", "b.yaml", "c.yaml"}
        # Everyone is on the live release again: a publish reaches both.
        after = await change(service, ns, "a.yaml", "a: 4\n")
        for sub in (zone_a, zone_b):
            assert (await take(sub))[1]["release"] == after["seq"]
        for sub in (zone_a, zone_b, late):
            sub.close()

    run(tmp_path, body)


def test_canary_selectors():
    from config_center.service.canary import check_selector, selects

    assert selects({"labels": {"zone": "a"}}, "ns", {"id": "x", "labels": {"zone": "a", "tier": "web"}})
    assert not selects({"labels": {"zone": "a"}}, "ns", {"id": "x", "labels": {}})
    chosen = [selects({"percent": 30}, "ns", {"id": f"i-{n}"}) for n in range(2000)]
    assert 500 < sum(chosen) < 700, "about 30% of instances"
    assert chosen == [selects({"percent": 30}, "ns", {"id": f"i-{n}"}) for n in range(2000)], "stable"
    for labels, percent in [(None, None), ({}, None), (None, 0), (None, 101), ({"zone": 1}, None), (None, True)]:
        with pytest.raises(InvalidError):
            check_selector(labels, percent)
