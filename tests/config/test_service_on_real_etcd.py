"""The config service behind a real etcd 3.4, through ``EtcdHttpClient``:
the store client interface is etcd's own API, so namespaces, drafts,
publish, rollback, diffs and the audit chain work on etcd unchanged (one of
the issue's promises: a real external etcd can stand behind the service)."""
from __future__ import annotations

import asyncio

import pytest

from config_center.service import audit, diffs, items, namespaces, releases
from config_center.service.context import ServiceContext
from config_center.service.errors import ConflictError
from config_center.store.etcd_http import EtcdHttpClient
from tests.differential.conftest import etcd_server  # noqa: F401  (a fixture: a real etcd 3.4)

from .service_support import ALICE, BOB


def test_the_service_runs_on_a_real_etcd(etcd_server):
    async def body():
        ctx = ServiceContext(EtcdHttpClient(etcd_server.client_url))
        await namespaces.create(ctx, ALICE, "shop/prod", {"schema": {"type": "object"}})
        for i in range(150):  # more than etcd's 128 operations per txn level, in one publish
            await items.save_draft(ctx, ALICE, "shop/prod", f"item-{i:03d}", f"n: {i}\n")
        first = await releases.publish(ctx, BOB, "shop/prod", comment="many",
                                       base_revision=(await namespaces.get(ctx, "shop/prod"))["revision"])
        live = await items.live_config(ctx, "shop/prod")
        assert len(live["items"]) == 150 and {i["revision"] for i in live["items"].values()} == {first["revision"]}

        current = await items.get(ctx, "shop/prod", "item-000", draft=True)
        await items.save_draft(ctx, ALICE, "shop/prod", "item-000", "n: changed\n", base_revision=current["revision"])
        with pytest.raises(ConflictError):
            await items.save_draft(ctx, BOB, "shop/prod", "item-000", "n: other\n", base_revision=current["revision"])
        await releases.publish(ctx, BOB, "shop/prod", base_revision=(await namespaces.get(ctx, "shop/prod"))["revision"])
        change = (await diffs.between(ctx, "shop/prod", 1, 2))["changes"]
        assert [(c["name"], c["structural"]) for c in change] == [
            ("item-000", [{"op": "changed", "path": "$.n", "old": 0, "new": "changed"}])]
        await releases.rollback(ctx, ALICE, "shop/prod", 1,
                                base_revision=(await namespaces.get(ctx, "shop/prod"))["revision"])
        assert (await items.live_config(ctx, "shop/prod"))["items"]["item-000"]["content"] == "n: 0\n"
        verified = await audit.verify(ctx, "shop/prod")
        assert verified.ok and verified.entries == 1 + 150 + 1 + 1 + 1 + 1

    asyncio.run(asyncio.wait_for(body(), 120))
