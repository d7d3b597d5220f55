"""Secret items: sealed at rest under a key outside the store, masked in
every output for callers who may not see them (viewers, editors, their
tokens), shown to publishers and to tokens acting for them."""
from __future__ import annotations

import os

import pytest

from config_center.service.access import Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import ConflictError, InvalidError, SchemaViolationError
from config_center.service.secret_box import MASK, SecretBox, SecretBoxError
from config_center.store import keys, records
from consensus.mvcc.api import RangeRequest

from .service_support import with_service
from .test_access import FastHasher

ROOT = Principal("root", (("admin", "*"),))
VIEWER = Principal("vic", (("viewer", "*"),))
EDITOR = Principal("ed", (("editor", "*"),))
PUBLISHER = Principal("pat", (("publisher", "*"),))
PASSWORD = "hunter2-but-longer"


def run(tmp_path, body, box=True):
    async def with_ctx(ctx, store):
        ctx.passwords = FastHasher()
        ctx.secrets = SecretBox(os.urandom(32)) if box else None
        return await body(ConfigService(ctx), ctx, store)

    return with_service(tmp_path, with_ctx)


async def whole_store(store) -> bytes:
    response = await store.range(RangeRequest(key=b"\0", range_end=b"\0"))
    return b"".join(kv.key + kv.value for kv in response.kvs)


def test_a_secret_is_sealed_at_rest_and_masked_for_whoever_may_not_see_it(tmp_path):
    async def body(service, ctx, store):
        await service.create_namespace(ROOT, "pay/prod", {"schema": {"type": "object", "required": ["password"]}})
        saved = await service.save_draft(EDITOR, "pay/prod", "db.yaml", f"password: {PASSWORD}\n", secret=True)
        assert saved["secret"] is True and saved["content"] == MASK, "an editor writes secrets blind"
        await service.save_draft(EDITOR, "pay/prod", "notes.txt", "x: 1\n", format="text")
        revision = (await service.get_namespace(ROOT, "pay/prod"))["revision"]
        await service.publish(PUBLISHER, "pay/prod", comment="with a secret", revision=revision)

        assert PASSWORD.encode() not in await whole_store(store), "plaintext must not reach the store"
        for who in (VIEWER, EDITOR):
            config = await service.live_config(who, "pay/prod")
            assert config["items"]["db.yaml"]["content"] == MASK and config["items"]["db.yaml"]["secret"]
            assert config["items"]["notes.txt"]["content"] == "x: 1\n"
            assert (await service.get_item(who, "pay/prod", "db.yaml"))["content"] == MASK
            assert (await service.get_release(who, "pay/prod", 1))["items"]["db.yaml"]["content"] == MASK
        shown = await service.live_config(PUBLISHER, "pay/prod")
        assert shown["items"]["db.yaml"]["content"] == f"password: {PASSWORD}\n"

        # Diffs: masked for a viewer, real for a publisher.
        current = await service.get_item(EDITOR, "pay/prod", "db.yaml", draft=True)
        await service.save_draft(EDITOR, "pay/prod", "db.yaml", "password: rotated-secret\n",
                                 revision=current["revision"])
        masked = (await service.pending_changes(VIEWER, "pay/prod"))["changes"]
        assert masked == [{"name": "db.yaml", "op": "modified", "format": "yaml", "secret": True,
                           "unified": "(secret item: content not shown)", "structural": None}]
        real = (await service.pending_changes(PUBLISHER, "pay/prod"))["changes"][0]
        assert real["structural"] == [{"op": "changed", "path": "$.password", "old": PASSWORD, "new": "rotated-secret"}]
        with pytest.raises(ConflictError) as conflict:
            await service.save_draft(EDITOR, "pay/prod", "db.yaml", "password: x\n", revision=current["revision"])
        assert "rotated" not in str(conflict.value.details) and PASSWORD not in str(conflict.value.details)

        # Nothing in the audit log carries the value.
        entries, _ = await service.audit(ROOT, namespace="pay/prod")
        assert PASSWORD not in str(entries) and "rotated-secret" not in str(entries)

        # The schema is still checked against the sealed content.
        current = await service.get_item(EDITOR, "pay/prod", "db.yaml", draft=True)
        await service.save_draft(EDITOR, "pay/prod", "db.yaml", "user: only\n", revision=current["revision"])
        with pytest.raises(SchemaViolationError):
            await service.publish(PUBLISHER, "pay/prod",
                                  revision=(await service.get_namespace(ROOT, "pay/prod"))["revision"])

    run(tmp_path, body)


def test_tokens_see_secrets_only_if_their_owner_may(tmp_path):
    async def body(service, ctx, store):
        await service.create_namespace(ROOT, "app/prod", {})
        await service.save_draft(ROOT, "app/prod", "key", "s3cr3t", format="text", secret=True)
        await service.publish(ROOT, "app/prod", revision=(await service.get_namespace(ROOT, "app/prod"))["revision"])
        for name, role in (("deployer", "publisher"), ("intern", "viewer")):
            await service.create_user(ROOT, name, f"{name} password", [{"role": role, "namespaces": "*"}])
        seen = {}
        for name in ("deployer", "intern"):
            user = await service.login(name, f"{name} password")
            token = await service.create_token(user, name="app", namespaces="app/*", access_level="read")
            app = await service.token_principal(token["token"])
            seen[name] = (await service.live_config(app, "app/prod"))["items"]["key"]["content"]
        assert seen == {"deployer": "s3cr3t", "intern": MASK}

    run(tmp_path, body)


def test_without_a_key_there_are_no_secret_items_and_another_key_opens_nothing(tmp_path):
    async def body(service, ctx, store):
        await service.create_namespace(ROOT, "a", {})
        with pytest.raises(InvalidError, match="secrets key"):
            await service.save_draft(ROOT, "a", "k", "v", format="text", secret=True)
        await service.save_draft(ROOT, "a", "plain", "v", format="text")

    run(tmp_path, body, box=False)
    box = SecretBox(os.urandom(32))
    sealed = box.seal(b"value")
    assert box.open(sealed) == b"value" and sealed != box.seal(b"value")
    with pytest.raises(SecretBoxError):
        SecretBox(os.urandom(32)).open(sealed)
    with pytest.raises(SecretBoxError):
        box.open(sealed[:-1] + bytes([sealed[-1] ^ 1]))
    assert SecretBox.from_cluster_secret(b"c" * 32).open(SecretBox.from_cluster_secret(b"c" * 32).seal(b"x")) == b"x"
