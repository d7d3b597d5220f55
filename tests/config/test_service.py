"""The config service's rules, each against a real one-member store:
namespaces, drafts and publish, optimistic concurrency, validation, schema,
four eyes, rollback, diffs, retention, audit chain, compaction, limits."""
from __future__ import annotations

import asyncio

import pytest

from consensus.mvcc.api import CompactionRequest, PutRequest
from config_center.service import audit, diffs, items, namespaces, releases
from config_center.service.context import Limits
from config_center.service.errors import (
    AlreadyExistsError,
    ConflictError,
    ContentInvalidError,
    ForbiddenError,
    InvalidError,
    LimitError,
    NotFoundError,
    SchemaViolationError,
)
from config_center.store import keys, records

from .service_support import ALICE, BOB, with_service

DB_SCHEMA = {
    "type": "object",
    "required": ["port"],
    "properties": {"port": {"type": "integer", "maximum": 65535}, "hosts": {"type": "array", "items": {"type": "string"}}},
}


async def publish(ctx, ns, actor=ALICE, comment="ship it"):
    current = await namespaces.get(ctx, ns)
    return await releases.publish(ctx, actor, ns, comment=comment, base_revision=current["revision"])


# -- namespaces ---------------------------------------------------------------------------------------


def test_namespace_lifecycle_search_and_pages(tmp_path):
    async def body(ctx, store):
        created = await namespaces.create(ctx, ALICE, "payments/prod", {"description": "Payments, production"})
        assert created["format"] == "yaml" and created["four_eyes"] is False
        assert created["created_by"] == "alice" and created["revision"] > 0 and created["release"] == 0
        with pytest.raises(AlreadyExistsError):
            await namespaces.create(ctx, BOB, "payments/prod", {})
        for name in ("payments/staging", "search/prod", "payments"):
            await namespaces.create(ctx, ALICE, name, {})
        page1 = await namespaces.list_page(ctx, limit=2)
        page2 = await namespaces.list_page(ctx, limit=2, cursor=page1["next"])
        assert [n["name"] for n in page1["results"] + page2["results"]] == [
            "payments", "payments/prod", "payments/staging", "search/prod"]
        assert page2["next"] is None
        found = await namespaces.list_page(ctx, search="PRODUCTION")
        assert [n["name"] for n in found["results"]] == ["payments/prod"]
        await namespaces.create(ctx, ALICE, "payments/flags", {"format": "json"})
        found = await namespaces.list_page(ctx, search="payments", format="json")
        assert [n["name"] for n in found["results"]] == ["payments/flags"]

        updated = await namespaces.update(ctx, BOB, "payments/prod", {"four_eyes": True}, created["revision"])
        assert updated["four_eyes"] is True and updated["updated_by"] == "bob"
        with pytest.raises(ConflictError) as stale:
            await namespaces.update(ctx, BOB, "payments/prod", {"description": "x"}, created["revision"])
        assert stale.value.details["current_revision"] == updated["revision"]
        assert stale.value.status == 409

        await namespaces.delete(ctx, ALICE, "search/prod", (await namespaces.get(ctx, "search/prod"))["revision"])
        with pytest.raises(NotFoundError):
            await namespaces.get(ctx, "search/prod")

    with_service(tmp_path, body)


@pytest.mark.parametrize("bad", ["", "Payments", "a//b", "/a", "a/", "a/../b", "a b", "x" * 201, "a/" * 8 + "a"])
def test_bad_namespace_names_are_refused(tmp_path, bad):
    async def body(ctx, store):
        with pytest.raises(InvalidError):
            await namespaces.create(ctx, ALICE, bad, {})
        assert (await namespaces.list_page(ctx))["results"] == []

    with_service(tmp_path, body)


def test_bad_settings_are_refused_with_the_field_named(tmp_path):
    async def body(ctx, store):
        cases = [
            ({"colour": "red"}, "unknown namespace field"),
            ({"format": "toml"}, "format must be one of"),
            ({"schema": {"type": "integerish"}}, "invalid JSON Schema"),
            ({"retention": {"min_releases": 0}}, "min_releases must be at least 1"),
            ({"retention": {"max_releases": 2, "min_releases": 5}}, "max_releases must be 0"),
            ({"four_eyes": "yes"}, "four_eyes must be"),
            ({"owners": "alice"}, "owners must be a list"),
        ]
        for settings, message in cases:
            with pytest.raises(InvalidError, match=message):
                await namespaces.create(ctx, ALICE, "app/prod", settings)
        with pytest.raises(NotFoundError):
            await namespaces.get(ctx, "app/prod")

    with_service(tmp_path, body)


def test_a_namespace_with_items_is_deleted_only_with_archive_and_keeps_its_history(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        await items.save_draft(ctx, ALICE, "app/prod", "a.yaml", "a: 1\n")
        await publish(ctx, "app/prod")
        ns = await namespaces.get(ctx, "app/prod")
        with pytest.raises(ConflictError, match="archive=true"):
            await namespaces.delete(ctx, ALICE, "app/prod", ns["revision"])
        await namespaces.delete(ctx, ALICE, "app/prod", ns["revision"], archive=True)
        assert await records.get(ctx.client, keys.item("app/prod", "a.yaml")) is None
        # Created again: the history continues.
        again = await namespaces.create(ctx, ALICE, "app/prod", {})
        assert again["release"] == 1
        assert (await releases.get(ctx, "app/prod", 1))["items"]["a.yaml"]["format"] == "yaml"
        assert (await audit.verify(ctx, "app/prod")).ok

    with_service(tmp_path, body)


# -- drafts and publish -------------------------------------------------------------------------------


def test_drafts_are_invisible_until_published_and_publish_applies_them_all_at_once(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "shop/prod", {"format": "json"})
        await items.save_draft(ctx, ALICE, "shop/prod", "db.json", '{"port": 5432}')
        await items.save_draft(ctx, ALICE, "shop/prod", "flags.yaml", "beta: true\n", format="yaml")
        assert (await items.live_config(ctx, "shop/prod"))["items"] == {}
        listing = await items.listing(ctx, "shop/prod")
        assert [(i["name"], i["state"], i["format"]) for i in listing] == [
            ("db.json", "added", "json"), ("flags.yaml", "added", "yaml")]

        release = await publish(ctx, "shop/prod", comment="first")
        assert release["seq"] == 1 and release["changes"] == {"db.json": "added", "flags.yaml": "added"}
        live = await items.live_config(ctx, "shop/prod")
        assert live["release"] == 1
        assert {name: i["content"] for name, i in live["items"].items()} == {
            "db.json": '{"port": 5432}', "flags.yaml": "beta: true\n"}
        # Every live item changed in the publish's one transaction.
        assert {i["revision"] for i in live["items"].values()} == {release["revision"]}
        assert await items.drafts(ctx, "shop/prod") == {}

        # Edit one, delete the other, publish: both at one revision.
        db = await items.get(ctx, "shop/prod", "db.json", draft=True)
        await items.save_draft(ctx, BOB, "shop/prod", "db.json", '{"port": 6432}', base_revision=db["revision"])
        flags = await items.get(ctx, "shop/prod", "flags.yaml", draft=True)
        await items.draft_delete(ctx, BOB, "shop/prod", "flags.yaml", base_revision=flags["revision"])
        assert (await items.get(ctx, "shop/prod", "db.json"))["content"] == '{"port": 5432}'
        second = await publish(ctx, "shop/prod")
        assert second["changes"] == {"db.json": "modified", "flags.yaml": "deleted"}
        live = await items.live_config(ctx, "shop/prod")
        assert list(live["items"]) == ["db.json"] and live["items"]["db.json"]["content"] == '{"port": 6432}'

        with pytest.raises(InvalidError, match="no drafts"):
            await publish(ctx, "shop/prod")

    with_service(tmp_path, body)


def test_concurrent_edits_get_409_with_the_current_revision_and_a_diff(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        first = await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", "a: 1\n")
        # Bob edits from the same starting point, after Alice saved.
        alice = await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", "a: 2\n", base_revision=first["revision"])
        with pytest.raises(ConflictError) as conflict:
            await items.save_draft(ctx, BOB, "app/prod", "app.yaml", "a: 3\n", base_revision=first["revision"])
        details = conflict.value.details
        assert details["current_revision"] == alice["revision"]
        assert "-a: 2\n+a: 3\n" in details["diff"]
        # Creating an item that exists already is a conflict too.
        with pytest.raises(ConflictError):
            await items.save_draft(ctx, BOB, "app/prod", "app.yaml", "a: 4\n")
        assert (await items.get(ctx, "app/prod", "app.yaml", draft=True))["content"] == "a: 2\n"

        # A publish based on a revision from before a later edit is refused.
        before = (await namespaces.get(ctx, "app/prod"))["revision"]
        await items.save_draft(ctx, BOB, "app/prod", "other.yaml", "b: 1\n")
        with pytest.raises(ConflictError) as stale:
            await releases.publish(ctx, ALICE, "app/prod", base_revision=before)
        assert stale.value.details["drafts"] == ["app.yaml", "other.yaml"]
        with pytest.raises(InvalidError, match="revision it is based on"):
            await releases.publish(ctx, ALICE, "app/prod")
        assert (await namespaces.get(ctx, "app/prod"))["release"] == 0

    with_service(tmp_path, body)


def test_edits_of_different_items_at_once_all_land(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        saved = await asyncio.gather(*(
            items.save_draft(ctx, ALICE, "app/prod", f"item-{i}.yaml", f"n: {i}\n") for i in range(20)))
        assert len({s["revision"] for s in saved}) == 20
        assert len(await items.drafts(ctx, "app/prod")) == 20
        assert (await audit.verify(ctx, "app/prod")).entries == 21

    with_service(tmp_path, body)


@pytest.mark.parametrize("fmt, content, line, column", [
    ("json", '{"a": 1,\n "b": }', 2, 7),
    ("yaml", "a: [1,\nb: 2\n", 3, 1),
    ("properties", "x=\\uZZZZ", 1, 3),
])
def test_content_that_does_not_parse_is_refused_with_line_and_column(tmp_path, fmt, content, line, column):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        with pytest.raises(ContentInvalidError) as refused:
            await items.save_draft(ctx, ALICE, "app/prod", "broken", content, format=fmt)
        assert (refused.value.details["line"], refused.value.details["column"]) == (line, column)
        assert await items.drafts(ctx, "app/prod") == {}

    with_service(tmp_path, body)


def test_schema_violations_block_a_publish_with_every_path(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "db/prod", {"schema": DB_SCHEMA})
        await items.save_draft(ctx, ALICE, "db/prod", "good.yaml", "port: 5432\n")
        await items.save_draft(ctx, ALICE, "db/prod", "bad.json", '{"port": 99999, "hosts": ["a", 7]}', format="json")
        await items.save_draft(ctx, ALICE, "db/prod", "worse.properties", "hosts=a", format="properties")
        await items.save_draft(ctx, ALICE, "db/prod", "notes", "free text is not checked", format="text")
        with pytest.raises(SchemaViolationError) as refused:
            await publish(ctx, "db/prod")
        broken = refused.value.details["items"]
        assert sorted(broken) == ["bad.json", "worse.properties"]
        assert [v["path"] for v in broken["bad.json"]] == ["$.hosts[1]", "$.port"]
        assert [v["path"] for v in broken["worse.properties"]] == ["$", "$.hosts"]
        assert (await namespaces.get(ctx, "db/prod"))["release"] == 0
        assert len(await items.drafts(ctx, "db/prod")) == 4

    with_service(tmp_path, body)


def test_four_eyes_forbid_publishing_your_own_draft(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "bank/prod", {"four_eyes": True})
        await items.save_draft(ctx, ALICE, "bank/prod", "limits.yaml", "max: 10\n")
        with pytest.raises(ForbiddenError, match="four eyes"):
            await publish(ctx, "bank/prod", actor=ALICE)
        release = await publish(ctx, "bank/prod", actor=BOB)
        assert release["author"] == "bob"
        item = await items.get(ctx, "bank/prod", "limits.yaml")
        assert (item["updated_by"], item["published_by"]) == ("alice", "bob")

    with_service(tmp_path, body)


# -- rollback, diffs ------------------------------------------------------------------------------------


def test_rollback_to_any_release_leaves_drafts_and_is_guarded_by_revision(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        for i in range(1, 4):
            current = await items.get(ctx, "app/prod", "app.yaml", draft=True) if i > 1 else {"revision": 0}
            await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", f"v: {i}\n", base_revision=current["revision"])
            if i == 2:
                await items.save_draft(ctx, ALICE, "app/prod", "extra.yaml", "x: 1\n")
            await publish(ctx, "app/prod")
        await items.save_draft(ctx, BOB, "app/prod", "pending.yaml", "p: 1\n")
        ns = await namespaces.get(ctx, "app/prod")
        rolled = await releases.rollback(ctx, ALICE, "app/prod", 1, comment="bad deploy", base_revision=ns["revision"])
        assert rolled["seq"] == 4 and rolled["rollback_of"] == 1 and rolled["drafts_pending"] == 1
        assert rolled["changes"] == {"app.yaml": "modified", "extra.yaml": "deleted"}
        live = await items.live_config(ctx, "app/prod")
        assert {n: i["content"] for n, i in live["items"].items()} == {"app.yaml": "v: 1\n"}
        assert list(await items.drafts(ctx, "app/prod")) == ["pending.yaml"]

        # Based on a revision a publish has since moved: refused.
        stale = (await namespaces.get(ctx, "app/prod"))["revision"]
        await publish(ctx, "app/prod")
        with pytest.raises(ConflictError):
            await releases.rollback(ctx, ALICE, "app/prod", 2, base_revision=stale)
        with pytest.raises(NotFoundError):
            await releases.rollback(ctx, ALICE, "app/prod", 99, base_revision=(await namespaces.get(ctx, "app/prod"))["revision"])
        now = (await namespaces.get(ctx, "app/prod"))["revision"]
        back = await releases.rollback(ctx, ALICE, "app/prod", 3, base_revision=now)
        live = await items.live_config(ctx, "app/prod")
        assert {n: i["content"] for n, i in live["items"].items()} == {"app.yaml": "v: 3\n", "extra.yaml": "x: 1\n"}
        assert back["items"] == (await releases.get(ctx, "app/prod", 3))["items"]

    with_service(tmp_path, body)


def test_diffs_of_drafts_releases_and_items_are_textual_and_structural(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", "db:\n  port: 5432\n  host: a\n")
        await items.save_draft(ctx, ALICE, "app/prod", "app.properties", "x=1\n", format="properties")
        await publish(ctx, "app/prod")
        cur = await items.get(ctx, "app/prod", "app.yaml", draft=True)
        # Reordered keys and a changed port: one structural change.
        await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", "db:\n  host: a\n  port: 6432\n",
                               base_revision=cur["revision"])
        cur = await items.get(ctx, "app/prod", "app.properties", draft=True)
        await items.draft_delete(ctx, ALICE, "app/prod", "app.properties", base_revision=cur["revision"])

        pending = await diffs.drafts_vs_live(ctx, "app/prod")
        by_name = {c["name"]: c for c in pending["changes"]}
        assert by_name["app.yaml"]["op"] == "modified"
        assert by_name["app.yaml"]["structural"] == [{"op": "changed", "path": "$.db.port", "old": 5432, "new": 6432}]
        assert "+  port: 6432" in by_name["app.yaml"]["unified"]
        assert by_name["app.properties"]["op"] == "deleted"

        await publish(ctx, "app/prod")
        between = await diffs.between(ctx, "app/prod", 1, 2)
        assert [(c["name"], c["op"]) for c in between["changes"]] == [("app.properties", "deleted"), ("app.yaml", "modified")]
        one = await diffs.between(ctx, "app/prod", "1", "live", item="app.yaml")
        assert one["from"] == "release-1" and len(one["changes"]) == 1
        assert await diffs.between(ctx, "app/prod", 2, "live") == {
            "namespace": "app/prod", "from": "release-2", "to": "live", "changes": [], "total": 0, "names": []}
        paged = await diffs.between(ctx, "app/prod", 1, 2, offset=1, limit=1)
        assert paged["total"] == 2 and paged["names"] == ["app.properties", "app.yaml"]
        assert [c["name"] for c in paged["changes"]] == ["app.yaml"]
        with pytest.raises(InvalidError):
            await diffs.between(ctx, "app/prod", "yesterday", "live")
        with pytest.raises(NotFoundError):
            await diffs.between(ctx, "app/prod", 1, 2, item="nope")

    with_service(tmp_path, body)


# -- retention, compaction, audit, limits ------------------------------------------------------------------


def test_release_history_and_rollback_survive_store_compaction(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        for i in range(3):
            cur = await items.get(ctx, "app/prod", "app.yaml", draft=True) if i else {"revision": 0}
            await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", f"v: {i}\n", base_revision=cur["revision"])
            await publish(ctx, "app/prod")
        head = await namespaces.get(ctx, "app/prod")
        await store.compact(CompactionRequest(revision=head["revision"], physical=True))
        first = await releases.get(ctx, "app/prod", 1, with_content=True)
        assert first["items"]["app.yaml"]["content"] == "v: 0\n"
        rolled = await releases.rollback(ctx, ALICE, "app/prod", 1, base_revision=head["revision"])
        assert rolled["seq"] == 4
        assert (await items.live_config(ctx, "app/prod"))["items"]["app.yaml"]["content"] == "v: 0\n"
        assert (await diffs.between(ctx, "app/prod", 2, 4))["changes"][0]["structural"] == [
            {"op": "changed", "path": "$.v", "old": 1, "new": 0}]

    with_service(tmp_path, body)


def test_every_change_is_audited_and_tampering_is_detected(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {})
        await items.save_draft(ctx, BOB, "app/prod", "a.yaml", "a: 1\n", comment="add a")
        await publish(ctx, "app/prod", actor=ALICE, comment="release a")
        entries, cursor = await audit.query(ctx, chain="app/prod")
        assert cursor is None
        assert [(e["action"], e["actor"], e["address"]) for e in entries] == [
            ("release.publish", "alice", "10.0.0.1"), ("draft.save", "bob", "10.0.0.2"),
            ("namespace.create", "alice", "10.0.0.1")]
        publish_entry = entries[0]
        assert publish_entry["comment"] == "release a" and publish_entry["before"] < publish_entry["revision"]
        assert (await audit.query(ctx, actor="bob"))[0][0]["target"] == "app/prod/a.yaml"
        assert (await audit.verify(ctx, "app/prod")).ok

        # Someone with raw store access rewrites the draft's entry.
        key = keys.audit_entry("app/prod", 2)
        forged = records.decode((await records.get(ctx.client, key)).value)
        forged["actor"] = "mallory"
        await store.put(PutRequest(key=key, value=records.encode(forged)))
        result = await audit.verify(ctx, "app/prod")
        assert not result.ok and any("entry 000000000002" in p and "modified" in p for p in result.problems)

        # ...or removes the newest entry (and fixes its hash so the link looks fine).
        forged["actor"] = "bob"
        await store.put(PutRequest(key=key, value=records.encode(forged)))
        assert (await audit.verify(ctx, "app/prod")).ok
        await store.delete_range(records.delete(keys.audit_entry("app/prod", 3)))
        result = await audit.verify(ctx, "app/prod")
        assert not result.ok and "head names entry 3" in result.problems[0]

    with_service(tmp_path, body)


def test_limits_are_refused_clearly(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "a", {})
        await namespaces.create(ctx, ALICE, "b", {})
        with pytest.raises(LimitError, match="limit 2"):
            await namespaces.create(ctx, ALICE, "c", {})
        with pytest.raises(LimitError, match="limit is 64"):
            await items.save_draft(ctx, ALICE, "a", "big", "x" * 65, format="text")
        await items.save_draft(ctx, ALICE, "a", "one", "1", format="text")
        await items.save_draft(ctx, ALICE, "a", "two", "2", format="text")
        with pytest.raises(LimitError, match="limit 2"):
            await items.save_draft(ctx, ALICE, "a", "three", "3", format="text")
        # Replacing an existing item is not a new item.
        cur = await items.get(ctx, "a", "two", draft=True)
        await items.save_draft(ctx, ALICE, "a", "two", "22", format="text", base_revision=cur["revision"])

    with_service(tmp_path, body, limits=Limits(max_item_bytes=64, max_namespaces=2, max_items_per_namespace=2))
