"""A live socket loses what its principal loses, at once (issue 15, part 2).

A websocket is authenticated when it opens; these tests take away what let
it in while it is open — a revoked or expired token, a disabled or deleted
user, a removed grant, a secret's reveal, a logged-out session, a store
role's permission — and check that within 1 s of the change the socket is
closed (4001) or the subscription ended (``forbidden``), and that nothing
published after the change reaches it."""
from __future__ import annotations

import asyncio
import base64
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.config.test_api_on_a_node import Http
from tests.gateway.node_process import running_node

from .live_support import live_node, receive, receive_until, subscriber
from .test_raw_watch import Store, b64, result, watch

PASSWORD = "a long password here"


def user_with_token(node, name: str, grants: list[dict], *, namespaces: str = "*", access: str = "read",
                    expires_in_days: int | None = None) -> tuple[Http, dict]:
    """A user with ``grants``, logged in, and an API token of theirs."""
    status, body = node.admin("POST", "/api/v1/users", {"name": name, "password": PASSWORD, "grants": grants})
    assert status == 201, body
    session = Http(node.node.base_url)
    status, me = session("POST", "/api/v1/auth/login", {"username": name, "password": PASSWORD})
    assert status == 200, me
    session.csrf = me["csrf_token"]
    status, token = session("POST", "/api/v1/tokens", {"name": "app", "namespaces": namespaces, "access": access,
                                                       "expires_in_days": expires_in_days})
    assert status == 201, token
    return session, token


async def closed_within(ws, seconds: float) -> tuple[int, str, list[dict], float]:
    """Wait for the close: its code, reason, what came before it, and when
    it came (``time.monotonic``)."""
    before = []
    deadline = time.monotonic() + seconds
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            before.append(await receive(ws, timeout=max(0.01, deadline - time.monotonic())))
    return closed.value.rcvd.code, closed.value.rcvd.reason, before, time.monotonic()


async def quiet_for(ws, seconds: float) -> list[dict]:
    """Everything but heartbeats received in ``seconds``."""
    got = []
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            message = await receive(ws, timeout=left)
        except asyncio.TimeoutError:
            break
        if message["type"] not in ("progress", "status"):
            got.append(message)
    return got


# The first message of a subscription to each kind of topic.
FIRST = {"namespace": "snapshot", "service": "instances", "activity": "snapshot"}


async def subscribed(url: str, token: str, *topics: tuple[str, str]):
    """A socket authenticated with ``token`` and subscribed to ``topics``
    (``(field, name)``), each one's first message taken."""
    ws = await subscriber(url, token)
    assert (await receive(ws))["type"] == "welcome"
    for field, name in topics:
        await ws.send(json.dumps({"type": "subscribe", field: name}))
        first = await receive_until(ws, FIRST[field])
        assert first[field] == name, first
    return ws


def test_a_revoked_disabled_or_deleted_principal_is_closed_and_sent_nothing_more(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("b")
        node.publish("b", "app.yaml", "v: 0\n")
        admin = node.admin

        def revoke(session, token):
            assert session("DELETE", f"/api/v1/tokens/{token['id']}")[0] == 200

        def disable(session, token):
            assert admin("PATCH", f"/api/v1/users/{token['owner']}", {"disabled": True})[0] == 200

        def delete(session, token):
            assert admin("DELETE", f"/api/v1/users/{token['owner']}")[0] == 204

        async def body():
            for n, take_away in enumerate((revoke, disable, delete)):
                session, token = await asyncio.to_thread(user_with_token, node, f"u{n}",
                                                         [{"role": "viewer", "namespaces": "*"}])
                ws = await subscribed(node.ws_url, token["token"], ("namespace", "b"))

                def take_then_publish():
                    take_away(session, token)
                    taken = time.monotonic()
                    node.publish("b", "app.yaml", f"v: {n + 1}\n")
                    return taken

                closing = asyncio.create_task(closed_within(ws, 5))
                taken = await asyncio.to_thread(take_then_publish)
                code, reason, before, at = await closing
                assert at - taken < 1.0, f"closed {at - taken:.2f} s after the change"
                assert code == 4001 and "access ended" in reason, (code, reason)
                assert not [m for m in before if m["type"] == "change"], (take_away.__name__, before)

        asyncio.run(asyncio.wait_for(body(), 90))


def test_a_removed_grant_or_reveal_ends_the_subscriptions_it_covered(tmp_path):
    with live_node(tmp_path / "data") as node:
        for ns in ("a", "b", "s"):
            node.namespace(ns)
            node.publish(ns, "app.yaml", "v: 0\n")
        status, saved = node.admin("PUT", "/api/v1/namespaces/s/-/items/key", {"content": "hunter2", "format": "text",
                                                                              "secret": True, "revision": 0})
        assert status == 200, saved
        status, ns = node.admin("GET", "/api/v1/namespaces/s")
        assert node.admin("POST", "/api/v1/namespaces/s/-/publish", {"revision": ns["revision"]})[0] == 201
        _, token = user_with_token(node, "dora", [{"role": "viewer", "namespaces": "a"},
                                                  {"role": "viewer", "namespaces": "b"},
                                                  {"role": "viewer", "namespaces": "b/*"},
                                                  {"role": "publisher", "namespaces": "s"}])

        async def body():
            ws = await subscribed(node.ws_url, token["token"], ("namespace", "a"), ("namespace", "b"),
                                  ("namespace", "s"), ("service", "b/api"), ("activity", "b"))
            # b is taken away, and s is left readable but without its secrets.
            changed_at = time.monotonic()
            status, _ = await asyncio.to_thread(node.admin, "PATCH", "/api/v1/users/dora", {"grants": [
                {"role": "viewer", "namespaces": "a"}, {"role": "viewer", "namespaces": "s"}]})
            assert status == 200
            ended = {}
            while len(ended) < 4:
                message = await receive(ws, timeout=5)
                if message["type"] in ("progress", "status"):
                    continue
                assert message["type"] == "error" and message["code"] == "forbidden", message
                ended[next(f"{k}:{message[k]}" for k in ("namespace", "service", "activity") if k in message)] = message
            assert time.monotonic() - changed_at < 2.0
            assert set(ended) == {"namespace:b", "service:b/api", "activity:b", "namespace:s"}
            assert "secret" in ended["namespace:s"]["message"]
            await asyncio.to_thread(node.publish, "b", "app.yaml", "v: 1\n")
            await asyncio.to_thread(node.publish, "a", "app.yaml", "v: 1\n")
            got = await quiet_for(ws, 1.5)
            assert [(m["type"], m["namespace"]) for m in got] == [("change", "a")], got
            # Subscribing again gets what the principal may have now: s with its secret masked.
            await ws.send(json.dumps({"type": "subscribe", "namespace": "s"}))
            snapshot = await receive_until(ws, "snapshot")
            assert snapshot["items"]["key"]["content"] != "hunter2"
            await ws.close()

        asyncio.run(asyncio.wait_for(body(), 90))


def _record(node, key: bytes) -> dict:
    store = Store(node.node.base_url)
    found = store("kv/range", {"key": base64.b64encode(key).decode()})
    return json.loads(base64.b64decode(found["kvs"][0]["value"]))


def test_an_expiring_token_closes_its_socket_when_it_expires(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("b")
        _, token = user_with_token(node, "eve", [{"role": "viewer", "namespaces": "*"}], expires_in_days=30)
        key = b"/_config_center/config/token/" + token["id"].encode()

        async def body():
            ws = await subscribed(node.ws_url, token["token"], ("namespace", "b"))
            # The token's expiry moved to two seconds from now (through the store
            # itself: the API makes no token that short-lived).
            record = await asyncio.to_thread(_record, node, key)
            soon = time.time() + 2.0
            record["expires_at"] = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(soon)) + f".{int(soon * 1000) % 1000:03d}Z"
            await asyncio.to_thread(Store(node.node.base_url), "kv/put", {
                "key": base64.b64encode(key).decode(),
                "value": base64.b64encode(json.dumps(record, sort_keys=True, separators=(",", ":")).encode()).decode()})
            assert await quiet_for(ws, 1.0) == [], "still valid: the socket stays"
            code, reason, _, _ = await closed_within(ws, 3.0)
            assert code == 4001 and "expired" in reason, (code, reason)
            assert time.time() - soon < 1.0

        asyncio.run(asyncio.wait_for(body(), 60))


def test_a_console_socket_closes_when_its_session_ends(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("b")
        cookie = "; ".join(f"{c.name}={c.value}" for handler in node.admin.opener.handlers
                           if hasattr(handler, "cookiejar") for c in handler.cookiejar)

        async def body():
            async with connect(node.ws_url, additional_headers={"Cookie": cookie, "Origin": node.node.base_url}) as ws:
                assert (await receive(ws))["type"] == "welcome"
                await ws.send(json.dumps({"type": "subscribe", "activity": "b"}))
                await receive(ws)
                assert (await asyncio.to_thread(node.admin, "POST", "/api/v1/auth/logout"))[0] == 200
                code, reason, _, _ = await closed_within(ws, 1.0)
                assert code == 4001 and "session has ended" in reason, (code, reason)

        asyncio.run(asyncio.wait_for(body(), 60))


def test_store_watches_end_when_the_role_or_user_loses_access(tmp_path):
    with running_node(tmp_path / "data", []) as node:
        root = Store(node.base_url)
        root.login("root", (tmp_path / "data" / "root-password").read_text().strip())
        for user in ("reader", "other"):
            root("auth/user/add", {"name": user, "password": f"{user}-password"})
        root("auth/role/add", {"name": "app-reader"})
        root("auth/role/grant", {"name": "app-reader", "perm": {"permType": "READ", "key": b64("app/"),
                                                                 "range_end": b64("app0")}})
        root("auth/role/grant", {"name": "app-reader", "perm": {"permType": "READ", "key": b64("pub/"),
                                                                 "range_end": b64("pub0")}})
        for user in ("reader", "other"):
            root("auth/user/grant", {"user": user, "role": "app-reader"})
        tokens = {user: Store(node.base_url).login(user, f"{user}-password") for user in ("reader", "other")}
        url = f"ws://127.0.0.1:{node.port}/ws/v1/watch"

        async def body():
            reader = await watch(url, tokens["reader"])
            other = await watch(url, tokens["other"])
            for ws in (reader, other):
                for prefix in ("app/", "pub/"):
                    await ws.send(json.dumps({"create_request": {"key": b64(prefix), "range_end": b64(prefix[:-1] + "0")}}))
                    assert (await result(ws))["result"]["created"] is True
            # The role loses app/: both users' app/ watches end, their pub/ watches go on.
            await asyncio.to_thread(root, "auth/role/revoke", {"role": "app-reader", "key": b64("app/"),
                                                               "range_end": b64("app0")})
            await asyncio.to_thread(root, "kv/put", {"key": b64("app/x"), "value": b64("secret")})
            await asyncio.to_thread(root, "kv/put", {"key": b64("pub/x"), "value": b64("public")})
            for ws in (reader, other):
                ended = (await result(ws, 2.0))["result"]
                assert ended["canceled"] is True and "permission denied" in ended["cancel_reason"], ended
                event = (await result(ws, 2.0))["result"]
                assert [base64.b64decode(e["kv"]["key"]) for e in event["events"]] == [b"pub/x"], event
            # A deleted user's token stands for nobody: its last watch ends too.
            await asyncio.to_thread(root, "auth/user/delete", {"name": "reader"})
            await asyncio.to_thread(root, "kv/put", {"key": b64("pub/y"), "value": b64("after")})
            ended = (await result(reader, 2.0))["result"]
            assert ended["canceled"] is True and "invalid auth token" in ended["cancel_reason"], ended
            with pytest.raises(asyncio.TimeoutError):
                await result(reader, 1.0)
            event = (await result(other, 2.0))["result"]
            assert [base64.b64decode(e["kv"]["key"]) for e in event["events"]] == [b"pub/y"]
            await reader.close()
            await other.close()

        asyncio.run(asyncio.wait_for(body(), 60))
