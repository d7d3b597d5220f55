"""Export, import with a dry run, and promotion between namespaces: all
stage drafts in one audited transaction and show the diff first."""
from __future__ import annotations

import os

import pytest

from config_center.service.access import Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import ConflictError, ContentInvalidError, ForbiddenError, InvalidError
from config_center.service.secret_box import MASK, SecretBox

from .service_support import with_service

ROOT = Principal("root", (("admin", "*"),))
STAGING_EDITOR = Principal("ed", (("viewer", "*"), ("editor", "pay/prod")))


def run(tmp_path, body):
    async def with_ctx(ctx, store):
        ctx.secrets = SecretBox(os.urandom(32))
        return await body(ConfigService(ctx), ctx)

    return with_service(tmp_path, with_ctx)


async def revision(service, ns):
    return (await service.get_namespace(ROOT, ns))["revision"]


async def publish_all(service, ns):
    await service.publish(ROOT, ns, revision=await revision(service, ns))


def test_export_then_import_into_another_namespace_with_a_dry_run_first(tmp_path):
    async def body(service, ctx):
        await service.create_namespace(ROOT, "pay/staging", {"description": "staging"})
        await service.create_namespace(ROOT, "pay/prod", {})
        await service.save_draft(ROOT, "pay/staging", "app.yaml", "db:\n  port: 5432\n")
        await service.save_draft(ROOT, "pay/staging", "key", "s3cr3t", format="text", secret=True)
        await publish_all(service, "pay/staging")
        bundle = await service.export_namespace(ROOT, "pay/staging")
        assert bundle["items"]["key"] == {"format": "text", "content": "s3cr3t", "secret": True}
        viewer_copy = await service.export_namespace(STAGING_EDITOR, "pay/staging")
        assert viewer_copy["items"]["key"]["content"] is None, "a secret the caller may not see is not exported"

        await service.save_draft(ROOT, "pay/prod", "old.yaml", "x: 1\n")
        base = await revision(service, "pay/prod")
        preview = await service.import_bundle(ROOT, "pay/prod", bundle, revision=base)
        assert preview["dry_run"] and sorted((c["name"], c["op"]) for c in preview["changes"]) == [
            ("app.yaml", "added"), ("key", "added")]
        assert await revision(service, "pay/prod") == base, "a dry run writes nothing"

        done = await service.import_bundle(ROOT, "pay/prod", bundle, dry_run=False, prune=True, revision=base,
                                           comment="from staging")
        assert sorted((c["name"], c["op"]) for c in done["changes"]) == [
            ("app.yaml", "added"), ("key", "added"), ("old.yaml", "deleted")]
        listing = {i["name"]: i["state"] for i in await service.list_items(ROOT, "pay/prod")}
        assert listing == {"app.yaml": "added", "key": "added"}, "imports stage drafts; old.yaml's draft is gone"
        await publish_all(service, "pay/prod")
        live = (await service.live_config(ROOT, "pay/prod"))["items"]
        assert live["key"]["content"] == "s3cr3t" and live["key"]["secret"]
        entries, _ = await service.audit(ROOT, namespace="pay/prod", action="namespace.import")
        assert len(entries) == 1 and entries[0]["comment"] == "from staging"

        # The same bundle again changes nothing; a stale revision is a conflict.
        again = await service.import_bundle(ROOT, "pay/prod", bundle, dry_run=False,
                                            revision=await revision(service, "pay/prod"))
        assert again["changes"] == []
        with pytest.raises(ConflictError):
            await service.import_bundle(ROOT, "pay/prod", bundle, dry_run=False, revision=base)

    run(tmp_path, body)


@pytest.mark.parametrize("bundle, message", [
    ({"kind": "other"}, "not a namespace bundle"),
    ({"kind": "config_center/namespace", "version": 1, "items": []}, "items must be an object"),
    ({"kind": "config_center/namespace", "version": 1, "items": {"a": {"format": "toml", "content": ""}}}, "format"),
    ({"kind": "config_center/namespace", "version": 1, "items": {"a": {"format": "json", "content": None}}}, "missing"),
    ({"kind": "config_center/namespace", "version": 1, "items": {"bad name": {"format": "text", "content": ""}}}, "item name"),
])
def test_a_bad_bundle_is_refused_and_nothing_is_staged(tmp_path, bundle, message):
    async def body(service, ctx):
        await service.create_namespace(ROOT, "a", {})
        with pytest.raises(InvalidError, match=message):
            await service.import_bundle(ROOT, "a", bundle, dry_run=False, revision=await revision(service, "a"))
        assert await service.list_items(ROOT, "a") == []

    run(tmp_path, body)


def test_content_errors_in_a_bundle_name_item_line_and_column(tmp_path):
    async def body(service, ctx):
        await service.create_namespace(ROOT, "a", {})
        bundle = {"kind": "config_center/namespace", "version": 1,
                  "items": {"ok.json": {"format": "json", "content": "{}"}, "bad.json": {"format": "json", "content": "{,}"}}}
        with pytest.raises(ContentInvalidError) as refused:
            await service.import_bundle(ROOT, "a", bundle, dry_run=True, revision=await revision(service, "a"))
        assert refused.value.details["line"] == 1 and refused.value.details["column"] == 2
        assert await service.list_items(ROOT, "a") == []

    run(tmp_path, body)


def test_promotion_stages_the_source_live_config_as_drafts_of_the_target(tmp_path):
    async def body(service, ctx):
        await service.create_namespace(ROOT, "pay/staging", {})
        await service.create_namespace(ROOT, "pay/prod", {})
        await service.save_draft(ROOT, "pay/prod", "app.yaml", "db:\n  port: 5432\n  host: prod\n")
        await publish_all(service, "pay/prod")
        await service.save_draft(ROOT, "pay/staging", "app.yaml", "db:\n  port: 6432\n  host: prod\n")
        await service.save_draft(ROOT, "pay/staging", "key", "sealed-value", format="text", secret=True)
        await publish_all(service, "pay/staging")
        await service.save_draft(ROOT, "pay/staging", "draft-only.yaml", "never: promoted\n")

        preview = await service.promote(STAGING_EDITOR, "pay/staging", "pay/prod",
                                        revision=await revision(service, "pay/prod"))
        by_name = {c["name"]: c for c in preview["changes"]}
        assert set(by_name) == {"app.yaml", "key"}, "only live config is promoted"
        assert by_name["app.yaml"]["structural"] == [{"op": "changed", "path": "$.db.port", "old": 5432, "new": 6432}]
        assert by_name["key"]["unified"] == "(secret item: content not shown)"

        await service.promote(STAGING_EDITOR, "pay/staging", "pay/prod", dry_run=False,
                              revision=await revision(service, "pay/prod"), comment="promote 1")
        with pytest.raises(ForbiddenError):
            await service.promote(STAGING_EDITOR, "pay/prod", "pay/staging", revision=await revision(service, "pay/staging"))
        await publish_all(service, "pay/prod")
        live = (await service.live_config(ROOT, "pay/prod"))["items"]
        assert live["app.yaml"]["content"] == "db:\n  port: 6432\n  host: prod\n"
        assert live["key"]["content"] == "sealed-value"
        assert (await service.live_config(STAGING_EDITOR, "pay/prod"))["items"]["key"]["content"] == MASK
        entries, _ = await service.audit(ROOT, namespace="pay/prod", action="namespace.promote")
        assert entries[0]["details"]["source"] == "pay/staging" and entries[0]["actor"] == "ed"

    run(tmp_path, body)
