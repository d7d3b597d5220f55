"""Users, roles, tokens and the permission checks of ``ConfigService``,
against a real one-member store."""
from __future__ import annotations

import hashlib

import pytest

from config_center.service import access, audit, users
from config_center.service.access import Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import (
    AlreadyExistsError,
    ForbiddenError,
    InvalidError,
    NotAuthenticatedError,
)
from config_center.store import keys, records

from config_center.service.context import Actor

from .service_support import ALICE, with_service


class FastHasher:
    """Salted SHA-256: the service's contract, minus the cost (Django's
    PBKDF2 runs in the API tests)."""

    def make(self, password: str) -> str:
        return "sha256$salt$" + hashlib.sha256(b"salt" + password.encode()).hexdigest()

    def check(self, password: str, encoded: str) -> bool:
        return self.make(password) == encoded


ROOT = Principal("root", (("admin", "*"),))


def run(tmp_path, body, **kw):
    async def with_ctx(ctx, store):
        ctx.passwords = FastHasher()
        return await body(ConfigService(ctx), ctx)

    return with_service(tmp_path, with_ctx, **kw)


def test_patterns_and_roles():
    assert access.matches("*", "a/b")
    assert access.matches("payments/*", "payments") and access.matches("payments/*", "payments/prod/eu")
    assert not access.matches("payments/*", "payments2/prod")
    assert access.matches("a/b", "a/b") and not access.matches("a/b", "a/b/c")
    for bad in ("", "a//*", "A/*", "*/x", 7):
        with pytest.raises(InvalidError):
            access.check_pattern(bad)
    with pytest.raises(InvalidError, match="unknown role"):
        access.check_grants([{"role": "owner", "namespaces": "*"}])
    editor = Principal("e", (("editor", "shop/*"), ("viewer", "*")))
    assert editor.allowed("draft", "shop/prod") and not editor.allowed("publish", "shop/prod")
    assert editor.allowed("read", "other") and not editor.allowed("draft", "other")
    assert not editor.is_superuser and ROOT.is_superuser


def test_first_admin_is_created_once_and_can_log_in(tmp_path):
    async def body(service, ctx):
        password = await users.bootstrap_admin(ctx)
        assert password and len(password) >= 20
        assert await users.bootstrap_admin(ctx) is None
        admin = await service.login("admin", password, "127.0.0.1")
        assert admin.is_superuser and admin.address == "127.0.0.1"
        listed = (await service.list_users(admin))["results"]
        assert [u["name"] for u in listed] == ["admin"] and "password" not in listed[0]

    run(tmp_path, body)


def test_wrong_logins_are_refused_alike_and_audited(tmp_path):
    async def body(service, ctx):
        await service.create_user(ROOT, "carol", "correct horse battery", [{"role": "viewer", "namespaces": "*"}])
        for name, password in (("carol", "wrong password!"), ("nobody", "whatever12345"), ("Bad Name", "x")):
            with pytest.raises(NotAuthenticatedError, match="wrong user name or password"):
                await service.login(name, password, "192.0.2.7")
        await service.update_user(ROOT, "carol", disabled=True)
        with pytest.raises(NotAuthenticatedError):
            await service.login("carol", "correct horse battery")
        failures, _ = await audit.query(ctx, chain=users.GLOBAL, action="login.failure")
        assert len(failures) == 4 and {f["address"] for f in failures} == {"192.0.2.7", ""}
        with pytest.raises(AlreadyExistsError):
            await service.create_user(ROOT, "carol", "another password", [])
        with pytest.raises(InvalidError, match="at least 10"):
            await service.create_user(ROOT, "dave", "short", [])

    run(tmp_path, body)


def test_roles_bound_what_each_user_may_do(tmp_path):
    async def body(service, ctx):
        for ns in ("shop/prod", "bank/prod"):
            await service.create_namespace(ROOT, ns, {})
        viewer = Principal("v", (("viewer", "shop/*"),))
        editor = Principal("e", (("editor", "shop/*"),))
        publisher = Principal("p", (("publisher", "shop/*"),))
        shop_admin = Principal("a", (("admin", "shop/*"),))

        with pytest.raises(ForbiddenError, match="may not edit drafts"):
            await service.save_draft(viewer, "shop/prod", "a.yaml", "a: 1\n")
        draft = await service.save_draft(editor, "shop/prod", "a.yaml", "a: 1\n")
        revision = (await service.get_namespace(viewer, "shop/prod"))["revision"]
        with pytest.raises(ForbiddenError, match="may not publish"):
            await service.publish(editor, "shop/prod", revision=revision)
        await service.publish(publisher, "shop/prod", revision=revision)
        assert draft["author"] == "e"
        with pytest.raises(ForbiddenError, match="may not manage"):
            await service.create_namespace(publisher, "shop/dev", {})
        await service.create_namespace(shop_admin, "shop/dev", {})
        with pytest.raises(ForbiddenError):
            await service.create_namespace(shop_admin, "bank/dev", {})
        with pytest.raises(ForbiddenError, match="may not read"):
            await service.get_namespace(viewer, "bank/prod")
        listed = await service.list_namespaces(viewer)
        assert [n["name"] for n in listed["results"]] == ["shop/dev", "shop/prod"]
        with pytest.raises(ForbiddenError, match="not an administrator"):
            await service.list_users(shop_admin)
        with pytest.raises(ForbiddenError):
            await service.audit(shop_admin)
        entries, _ = await service.audit(viewer, namespace="shop/prod")
        assert [e["action"] for e in entries] == ["release.publish", "draft.save", "namespace.create"]

    run(tmp_path, body)


def test_tokens_act_within_their_scope_and_their_owners_rights(tmp_path):
    async def body(service, ctx):
        for ns in ("a/prod", "b/prod"):
            await service.create_namespace(ROOT, ns, {})
        await service.create_user(ROOT, "ci", "pipeline password", [{"role": "publisher", "namespaces": "*"}])
        ci = await service.login("ci", "pipeline password")
        read_a = await service.create_token(ci, name="app reader", namespaces="a/*", access_level="read")
        write_a = await service.create_token(ci, name="deployer", namespaces="a/*", access_level="write",
                                             expires_in_days=30)
        assert read_a["token"].startswith("cct_") and "hash" not in read_a
        stored = records.decode((await records.get(ctx.client, keys.token(read_a["id"]))).value)
        assert read_a["token"].split("_", 2)[2] not in str(stored), "only a hash of the secret is stored"

        reader = await service.token_principal(read_a["token"], "10.1.1.1")
        assert reader.actor == Actor("ci", "10.1.1.1", read_a["id"])
        await service.live_config(reader, "a/prod")
        with pytest.raises(ForbiddenError):
            await service.save_draft(reader, "a/prod", "x", "1", format="text")  # a read token cannot write
        with pytest.raises(ForbiddenError):
            await service.live_config(reader, "b/prod")  # a token for a/* cannot read b/*
        writer = await service.token_principal(write_a["token"])
        await service.save_draft(writer, "a/prod", "x", "1", format="text")
        with pytest.raises(ForbiddenError, match="cannot create tokens"):
            await service.create_token(writer, name="x", namespaces="*", access_level="read")

        # The owner loses the grant: the token loses it too.
        await service.update_user(ROOT, "ci", grants=[{"role": "viewer", "namespaces": "*"}])
        writer = await service.token_principal(write_a["token"])
        with pytest.raises(ForbiddenError):
            await service.save_draft(writer, "a/prod", "y", "2", format="text")

        await service.revoke_token(ci, read_a["id"])
        for raw in (read_a["token"], read_a["token"][:-1] + "x", "cct_nope", "", None):
            with pytest.raises(NotAuthenticatedError):
                await service.token_principal(raw)
        listed = {t["id"]: t for t in (await service.list_tokens(ci))["results"]}
        assert set(listed) == {read_a["id"], write_a["id"]}
        assert listed[read_a["id"]]["revoked_at"] is not None and listed[write_a["id"]]["revoked_at"] is None

    run(tmp_path, body)


def test_an_expired_token_is_refused(tmp_path):
    class Clock:
        now = 1_790_000_000.0

        def __call__(self):
            return self.now

    clock = Clock()

    async def body(service, ctx):
        await service.create_user(ROOT, "app", "app password 1", [{"role": "viewer", "namespaces": "*"}])
        app = await service.login("app", "app password 1")
        token = await service.create_token(app, name="short", namespaces="*", access_level="read", expires_in_days=1)
        await service.token_principal(token["token"])
        clock.now += 86400 + 1
        with pytest.raises(NotAuthenticatedError):
            await service.token_principal(token["token"])
        with pytest.raises(InvalidError):
            await service.create_token(app, name="bad", namespaces="*", access_level="admin")

    run(tmp_path, body, clock=clock)


def test_users_change_their_own_password_only(tmp_path):
    async def body(service, ctx):
        await service.create_user(ROOT, "erin", "first password", [{"role": "viewer", "namespaces": "*"}])
        erin = await service.login("erin", "first password")
        await service.update_user(erin, "erin", password="second password")
        await service.login("erin", "second password")
        with pytest.raises(ForbiddenError):
            await service.update_user(erin, "erin", grants=[{"role": "admin", "namespaces": "*"}])
        with pytest.raises(ForbiddenError):
            await service.update_user(erin, "root", password="hijacked password")
        assert (await audit.verify(ctx, users.GLOBAL)).ok

    run(tmp_path, body)


def test_four_eyes_cannot_be_sidestepped_with_your_own_token(tmp_path):
    async def body(service, ctx):
        await service.create_namespace(ROOT, "bank/prod", {"four_eyes": True})
        await service.create_user(ROOT, "frank", "frank's password", [{"role": "publisher", "namespaces": "*"}])
        frank = await service.login("frank", "frank's password")
        token = await service.create_token(frank, name="ci", namespaces="*", access_level="write")
        via_token = await service.token_principal(token["token"])
        await service.save_draft(frank, "bank/prod", "limits", "10", format="text")
        revision = (await service.get_namespace(frank, "bank/prod"))["revision"]
        with pytest.raises(ForbiddenError, match="four eyes"):
            await service.publish(via_token, "bank/prod", revision=revision)
        entries, _ = await service.audit(frank, namespace="bank/prod")
        assert entries[0]["actor"] == "frank" and entries[0]["token"] is None

    run(tmp_path, body)


def test_user_and_token_lists_come_in_pages(tmp_path):
    async def body(service, ctx):
        for i in range(5):
            await service.create_user(ROOT, f"user{i}", "a long password", [{"role": "viewer", "namespaces": "*"}])
        first = await service.list_users(ROOT, limit=2)
        names = [u["name"] for u in first["results"]]
        page = first
        while page["next"]:
            page = await service.list_users(ROOT, limit=2, cursor=page["next"])
            names += [u["name"] for u in page["results"]]
        assert names == [f"user{i}" for i in range(5)]
        user0 = await service.login("user0", "a long password")
        user1 = await service.login("user1", "a long password")
        made = [await service.create_token(user0, name=f"t{i}", namespaces="*", access_level="read") for i in range(3)]
        await service.create_token(user1, name="theirs", namespaces="*", access_level="read")
        ids, page = [], await service.list_tokens(user0, limit=2)
        ids += [t["id"] for t in page["results"]]
        while page["next"]:
            page = await service.list_tokens(user0, limit=2, cursor=page["next"])
            ids += [t["id"] for t in page["results"]]
        assert ids == sorted(t["id"] for t in made), "a user's own tokens, every one once, in id order"
        assert len((await service.list_tokens(ROOT, limit=500))["results"]) == 4
        with pytest.raises(InvalidError):
            await service.list_users(ROOT, limit=0)

    run(tmp_path, body)
