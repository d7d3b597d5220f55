"""Sessions that end (issue 15, part 3): a cookie copied before a logout, a
password change, a disable or a delete is refused afterwards — by the
service, by the REST API, and on every member of a 3-member cluster."""
from __future__ import annotations

import copy
import time

import pytest
from rest_framework.test import APIClient

from config_center.service import sessions, users
from config_center.service.access import principal_for
from config_center.service.errors import NotAuthenticatedError
from config_center.store import keys, records
from tests.faults.cluster import ProcessCluster
from tests.live.live_support import cluster_admin

from .api_support import node, session_client  # noqa: F401  (node is a fixture)
from .service_support import ALICE, with_service
from .test_api_on_a_node import Http

DAY = 24 * 3600.0


class ManualClock:
    def __init__(self, now: float = 1_790_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Hasher:
    def make(self, password: str) -> str:
        return "plain$" + password

    def check(self, password: str, encoded: str) -> bool:
        return encoded == "plain$" + password


def test_a_session_runs_until_it_is_ended_or_expires(tmp_path):
    clock = ManualClock()

    async def body(ctx, store):
        ctx.passwords = Hasher()
        await users.create(ctx, ALICE, "bob", "a long password here", [{"role": "viewer", "namespaces": "*"}])
        bob = principal_for(await users.get(ctx, "bob"), "10.0.0.9")
        first = await sessions.start(ctx, bob, lifetime=DAY)
        second = await sessions.start(ctx, bob, lifetime=DAY)
        assert (await sessions.principal(ctx, "bob", first, "10.0.0.9")).user == "bob"
        # Nothing usable is stored: the key holds a digest of the secret.
        held, _ = await records.scan(ctx.client, keys.sessions("bob"))
        assert len(held) == 2 and all(first.encode() not in kv.key + kv.value for kv in held)
        await sessions.end(ctx, "bob", first)
        with pytest.raises(NotAuthenticatedError, match="ended"):
            await sessions.principal(ctx, "bob", first)
        assert (await sessions.principal(ctx, "bob", second)).user == "bob"
        # A session is bound to its user: another user's name with it is refused.
        await users.create(ctx, ALICE, "eve", "a long password here", [])
        with pytest.raises(NotAuthenticatedError):
            await sessions.principal(ctx, "eve", second)
        for bad in (None, "", 7, "x" * 100):
            with pytest.raises(NotAuthenticatedError):
                await sessions.principal(ctx, "bob", bad)
        with pytest.raises(NotAuthenticatedError):
            await sessions.principal(ctx, "../bob", second)
        clock.now += DAY + 1
        with pytest.raises(NotAuthenticatedError, match="ended"):
            await sessions.principal(ctx, "bob", second)
        # The next login sweeps the user's expired records.
        third = await sessions.start(ctx, bob, lifetime=DAY)
        held, _ = await records.scan(ctx.client, keys.sessions("bob"))
        assert [kv.key for kv in held] == [keys.session("bob", sessions.digest(third))]

    with_service(tmp_path, body, clock=clock)


def test_a_password_change_a_disable_and_a_delete_end_every_session(tmp_path):
    async def body(ctx, store):
        ctx.passwords = Hasher()
        await users.create(ctx, ALICE, "bob", "a long password here", [{"role": "viewer", "namespaces": "*"}])
        bob = principal_for(await users.get(ctx, "bob"))
        running = [await sessions.start(ctx, bob, lifetime=DAY) for _ in range(3)]
        # A change of grants keeps the sessions (the grants are re-read per request).
        await users.update(ctx, ALICE, "bob", grants=[{"role": "editor", "namespaces": "*"}])
        assert (await sessions.principal(ctx, "bob", running[0])).grants == (("editor", "*"),)
        await users.update(ctx, ALICE, "bob", password="another long password")
        for secret in running:
            with pytest.raises(NotAuthenticatedError):
                await sessions.principal(ctx, "bob", secret)
        assert (await records.scan(ctx.client, keys.sessions("bob")))[0] == []

        again = await sessions.start(ctx, bob, lifetime=DAY)
        await users.update(ctx, ALICE, "bob", disabled=True)
        await users.update(ctx, ALICE, "bob", disabled=False)
        with pytest.raises(NotAuthenticatedError):
            await sessions.principal(ctx, "bob", again)

        last = await sessions.start(ctx, bob, lifetime=DAY)
        await users.delete(ctx, ALICE, "bob")
        await users.create(ctx, ALICE, "bob", "a long password here", [])
        with pytest.raises(NotAuthenticatedError):
            await sessions.principal(ctx, "bob", last)

    with_service(tmp_path, body)


def test_a_user_holds_a_bounded_number_of_sessions(tmp_path):
    async def body(ctx, store):
        ctx.passwords = Hasher()
        await users.create(ctx, ALICE, "bob", "a long password here", [])
        bob = principal_for(await users.get(ctx, "bob"))
        made = [await sessions.start(ctx, bob, lifetime=DAY) for _ in range(sessions.MAX_PER_USER + 3)]
        held, _ = await records.scan(ctx.client, keys.sessions("bob"))
        assert len(held) == sessions.MAX_PER_USER
        for secret in made[:3]:  # the oldest were ended to make room
            with pytest.raises(NotAuthenticatedError):
                await sessions.principal(ctx, "bob", secret)
        assert (await sessions.principal(ctx, "bob", made[-1])).user == "bob"

    with_service(tmp_path, body)


def _copy_of(client: APIClient) -> APIClient:
    """Another client holding the same cookies (a stolen copy)."""
    thief = APIClient()
    thief.cookies = copy.deepcopy(client.cookies)
    return thief


def test_a_copied_cookie_is_refused_after_logout_password_change_and_disable(node):  # noqa: F811
    admin = session_client()
    assert admin.post("/api/v1/users", {"name": "bob", "password": "a long password here",
                                        "grants": [{"role": "viewer", "namespaces": "*"}]},
                      format="json").status_code == 201

    bob = session_client("bob", "a long password here")
    stolen = _copy_of(bob)
    assert stolen.get("/api/v1/auth/me").status_code == 200
    assert bob.post("/api/v1/auth/logout").status_code == 200
    refused = stolen.get("/api/v1/auth/me")
    assert refused.status_code == 401 and refused.json()["code"] == "authentication_failed", refused.content

    bob = session_client("bob", "a long password here")
    other = session_client("bob", "a long password here")
    stolen = _copy_of(bob)
    changed = bob.patch("/api/v1/users/bob", {"password": "a new long password"}, format="json")
    assert changed.status_code == 200, changed.content
    for client in (stolen, bob, other):
        assert client.get("/api/v1/auth/me").status_code == 401

    bob = session_client("bob", "a new long password")
    stolen = _copy_of(bob)
    assert admin.patch("/api/v1/users/bob", {"disabled": True}, format="json").status_code == 200
    assert admin.patch("/api/v1/users/bob", {"disabled": False}, format="json").status_code == 200
    assert stolen.get("/api/v1/auth/me").status_code == 401

    bob = session_client("bob", "a new long password")
    stolen = _copy_of(bob)
    assert admin.delete("/api/v1/users/bob").status_code == 204
    assert stolen.get("/api/v1/auth/me").status_code == 401
    # The administrator's own session is untouched by all of this.
    assert admin.get("/api/v1/auth/me").status_code == 200


def _jar(http: Http):
    return next(handler.cookiejar for handler in http.opener.handlers if hasattr(handler, "cookiejar"))


def test_logging_out_through_one_member_ends_the_session_on_every_member(tmp_path):
    cluster = ProcessCluster(tmp_path, 3)
    try:
        cluster.start()
        admin = cluster_admin(cluster)
        bases = [f"http://127.0.0.1:{m.client_port}" for m in cluster.members]
        for base in bases:  # one signed cookie, good on every member
            admin.base = base
            assert admin("GET", "/api/v1/auth/me")[0] == 200
        copied = list(_jar(admin))
        assert copied
        admin.base = bases[1]
        assert admin("POST", "/api/v1/auth/logout")[0] == 200
        for base in bases:
            thief = Http(base)
            for cookie in copied:
                _jar(thief).set_cookie(cookie)
            # Each member refuses it once it has applied the logout: at once
            # on the one that served it, within moments on the others.
            deadline = time.monotonic() + 5
            while (status := thief("GET", "/api/v1/auth/me")[0]) == 200 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert status == 401, base
            console = thief.opener.open(f"{base}/console/", timeout=10)
            assert console.geturl().startswith(f"{base}/console/login"), console.geturl()
    finally:
        cluster.close()
