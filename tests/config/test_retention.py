"""Retention: pruning by count and age above a floor, audited in the global
chain, in the background after publishes, never moving a namespace's
revision, and safe against the edits and rollbacks racing it."""
from __future__ import annotations

import pytest

from config_center.service import audit, items, namespaces, releases
from config_center.service.errors import NotFoundError
from config_center.store import keys, records

from .service_support import ALICE, BOB, with_service
from .test_service import publish


def test_retention_prunes_by_count_above_the_floor_and_is_audited(tmp_path):
    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {"retention": {"max_releases": 3, "min_releases": 2}})
        for i in range(6):
            cur = await items.get(ctx, "app/prod", "app.yaml", draft=True) if i else {"revision": 0}
            await items.save_draft(ctx, ALICE, "app/prod", "app.yaml", f"v: {i}\n", base_revision=cur["revision"])
            await publish(ctx, "app/prod")
        await releases.background_prunes_done()
        page = await releases.list_page(ctx, "app/prod")
        assert [r["seq"] for r in page["results"]] == [6, 5, 4]
        blobs, _ = await records.scan(ctx.client, keys.blobs("app/prod"))
        assert len(blobs) == 3, "content only pruned releases used is deleted with them"
        # Pruning is maintenance: in the global chain, naming the namespace.
        entries, _ = await audit.query(ctx, chain="_global", action="release.prune")
        assert {e["target"] for e in entries} == {"app/prod"}
        assert sorted(s for e in entries for s in e["details"]["releases"]) == [1, 2, 3]
        assert (await audit.verify(ctx, "app/prod")).ok and (await audit.verify(ctx, "_global")).ok

    with_service(tmp_path, body)

def test_retention_by_age_keeps_the_floor(tmp_path):
    class Clock:
        now = 1_790_000_000.0

        def __call__(self):
            return self.now

    clock = Clock()

    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {"retention": {"max_releases": 0, "max_age_days": 30,
                                                                       "min_releases": 2}})
        for i in range(4):
            cur = await items.get(ctx, "app/prod", "a", draft=True) if i else {"revision": 0}
            await items.save_draft(ctx, ALICE, "app/prod", "a", f"v{i}", format="text", base_revision=cur["revision"])
            await publish(ctx, "app/prod")
        await releases.background_prunes_done()
        clock.now += 40 * 86400
        result = await releases.prune(ctx, ALICE, "app/prod")
        assert result["pruned"] == [1, 2]
        assert [r["seq"] for r in (await releases.list_page(ctx, "app/prod"))["results"]] == [4, 3]

    with_service(tmp_path, body, clock=clock)

def test_pruning_leaves_the_namespace_revision_alone(tmp_path):
    """A prune in the background must not turn a client's next publish,
    based on the revision its draft save answered, into a conflict."""

    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {"retention": {"max_releases": 2, "min_releases": 1}})
        revision = 0
        for i in range(4):
            saved = await items.save_draft(ctx, ALICE, "app/prod", "a", f"v{i}", format="text",
                                           base_revision=revision)
            await releases.background_prunes_done()
            released = await releases.publish(ctx, ALICE, "app/prod", base_revision=saved["revision"])
            revision = released["revision"]
        before = (await namespaces.get(ctx, "app/prod"))["revision"]
        assert (await releases.prune(ctx, ALICE, "app/prod"))["pruned"] == []  # nothing left to do
        ns = await namespaces.get(ctx, "app/prod")
        await items.save_draft(ctx, ALICE, "app/prod", "a", "v9", format="text", base_revision=revision)
        head_after_save = (await namespaces.get(ctx, "app/prod"))["revision"]
        await releases.prune(ctx, ALICE, "app/prod")
        assert (await namespaces.get(ctx, "app/prod"))["revision"] == head_after_save
        await releases.publish(ctx, ALICE, "app/prod", base_revision=head_after_save)
        assert ns["revision"] == before
        assert [r["seq"] for r in (await releases.list_page(ctx, "app/prod"))["results"]][:2] == [5, 4]

    with_service(tmp_path, body)

def test_a_prune_never_deletes_content_a_draft_took_up_meanwhile(tmp_path):
    """The race a prune guards against with compares: between its reading
    that a blob is unused and its deleting it, a draft saves that very
    content again. The prune's transaction then fails, is planned again,
    and keeps the blob."""


    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {"retention": {"max_releases": 0, "min_releases": 1}})
        revision = 0
        for text in ("old", "new"):
            saved = await items.save_draft(ctx, ALICE, "app/prod", "a", text, format="text", base_revision=revision)
            revision = (await releases.publish(ctx, ALICE, "app/prod", base_revision=saved["revision"]))["revision"]
        ns = await namespaces.get(ctx, "app/prod")
        await namespaces.update(ctx, ALICE, "app/prod", {"retention": {"max_releases": 1, "min_releases": 1}},
                                ns["revision"])
        revision = (await items.get(ctx, "app/prod", "a"))["revision"]

        async def race():
            await items.save_draft(ctx, BOB, "app/prod", "a", "old", format="text", base_revision=revision)

        racing = RacingClient(store, lambda request: any(
            getattr(op, "key", b"").startswith(keys.blobs("app/prod")) for op in _flatten_ops(request.success)), race)
        ctx.client = racing
        assert (await releases.prune(ctx, ALICE, "app/prod"))["pruned"] == [1]
        assert racing.raced
        ctx.client = store
        drafted = await items.get(ctx, "app/prod", "a", draft=True)
        assert drafted["content"] == "old", "the draft's content is still there"

    with_service(tmp_path, body)

class RacingClient:
    """The real store, except that before the first transaction ``matches``
    accepts, ``race()`` runs: another change lands between a plan and its
    commit, deterministically."""

    def __init__(self, inner, matches, race):
        self.inner, self.matches, self.race, self.raced = inner, matches, race, False

    async def range(self, request):
        return await self.inner.range(request)

    async def put(self, request):
        return await self.inner.put(request)

    async def delete_range(self, request):
        return await self.inner.delete_range(request)

    async def txn(self, request):
        if not self.raced and self.matches(request):
            self.raced = True
            await self.race()
        return await self.inner.txn(request)


def _flatten_ops(ops):
    from consensus.mvcc.api import TxnRequest

    for op in ops:
        if isinstance(op, TxnRequest):
            yield from _flatten_ops(op.success)
        else:
            yield op

def test_a_rollback_loses_cleanly_to_a_prune_of_its_release(tmp_path):
    """The other race: a rollback read release 1, then a prune deletes it
    (and the content only it names) before the rollback commits. The
    rollback must fail as 'release not found', not install missing content."""


    async def body(ctx, store):
        await namespaces.create(ctx, ALICE, "app/prod", {"retention": {"max_releases": 0, "min_releases": 1}})
        revision = 0
        for text in ("first", "second"):
            saved = await items.save_draft(ctx, ALICE, "app/prod", "a", text, format="text", base_revision=revision)
            revision = (await releases.publish(ctx, ALICE, "app/prod", base_revision=saved["revision"]))["revision"]
        ns = await namespaces.get(ctx, "app/prod")
        await namespaces.update(ctx, ALICE, "app/prod", {"retention": {"max_releases": 1, "min_releases": 1}},
                                ns["revision"])
        ns = await namespaces.get(ctx, "app/prod")

        async def prune():
            ctx.client = store
            try:
                assert (await releases.prune(ctx, BOB, "app/prod"))["pruned"] == [1]
            finally:
                ctx.client = racing

        racing = RacingClient(store, lambda request: any(
            b'"kind":"rollback"' in getattr(op, "value", b"") for op in _flatten_ops(request.success)), prune)
        ctx.client = racing
        with pytest.raises(NotFoundError, match="release 1"):
            await releases.rollback(ctx, ALICE, "app/prod", 1, base_revision=ns["revision"])
        ctx.client = store
        assert racing.raced
        assert (await items.live_config(ctx, "app/prod"))["items"]["a"]["content"] == "second"

    with_service(tmp_path, body)
