"""The console's own use of the live websocket: a page authenticates with
its session cookie (never a token), follows a namespace's activity (every
draft, publish and rollback, as the audit log has it) and resumes it
without loss; a page on another site cannot use the cookie."""
from __future__ import annotations

import asyncio

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from tests.config.test_api_on_a_node import Http

from .live_support import live_node, receive, receive_until


def session_cookie(http: Http) -> str:
    return (
        "; ".join(f"{c.name}={c.value}" for handler in http.opener.handlers
                  if hasattr(handler, "cookiejar") for c in handler.cookiejar))


def test_a_console_session_follows_a_namespaces_activity_and_resumes(tmp_path):
    with live_node(tmp_path / "n") as node:
        node.namespace("shop/prod")
        status, viewer = node.admin("POST", "/api/v1/users", {
            "name": "vera", "password": "viewer password 1",
            "grants": [{"role": "viewer", "namespaces": "shop/*"}]})
        assert status == 201, viewer
        vera = Http(node.node.base_url)
        status, me = vera("POST", "/api/v1/auth/login", {"username": "vera", "password": "viewer password 1"})
        assert status == 200, me
        cookie = session_cookie(vera)
        assert "sessionid=" in cookie

        async def scenario():
            origin = node.node.base_url
            async with connect(node.ws_url, additional_headers={"Cookie": cookie, "Origin": origin}) as ws:
                welcome = await receive(ws)
                assert welcome["type"] == "welcome" and welcome["user"] == "vera"
                await ws.send('{"type": "subscribe", "activity": "shop/prod"}')
                snapshot = await receive(ws)
                assert snapshot["type"] == "snapshot" and snapshot["activity"] == "shop/prod"
                start = snapshot["revision"]
                await asyncio.to_thread(node.publish, "shop/prod", "app.yaml", "a: 1\n")
                seen = [await receive_until(ws, "activity") for _ in range(2)]
                assert [(m["action"], m["actor"]) for m in seen] == [("draft.save", "admin"),
                                                                     ("release.publish", "admin")]
                assert seen[0]["target"] == "shop/prod/app.yaml"
                assert all(m["revision"] > start for m in seen) and seen[0]["revision"] < seen[1]["revision"]
                assert "content" not in seen[0]
                # A viewer may watch but not change: the session is the user's, with their grants.
                await ws.send('{"type": "subscribe", "activity": "bank/prod"}')
                refused = await receive_until(ws, "error")
                assert refused["code"] in ("forbidden", "not_found") and refused["activity"] == "bank/prod"
            # Gone for a while: a change happens; resuming from the last revision gets it, once.
            await asyncio.to_thread(node.publish, "shop/prod", "app.yaml", "a: 2\n")
            async with connect(node.ws_url, additional_headers={"Cookie": cookie}) as ws:
                await receive(ws)
                await ws.send('{"type": "subscribe", "activity": "shop/prod", "since": %d}' % seen[1]["revision"])
                resumed = [await receive_until(ws, "activity") for _ in range(2)]
                assert [m["action"] for m in resumed] == ["draft.save", "release.publish"]
                assert resumed[0]["revision"] > seen[1]["revision"]
            # Another site's page would send its own Origin with the cookie: refused at the handshake.
            with pytest.raises(InvalidStatus) as refused_handshake:
                async with connect(node.ws_url, additional_headers={"Cookie": cookie,
                                                                    "Origin": "http://evil.example"}):
                    pass
            assert refused_handshake.value.response.status_code == 403

        asyncio.run(scenario())
