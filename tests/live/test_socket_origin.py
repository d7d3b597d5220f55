"""Which pages may open a node's websockets with the operator's cookie: the
whole origin (scheme, host, port) must be the node's own or a configured
one (``config_center/ws/origin.py``). On a real node with a real session
cookie, for both websockets; the parsing rules on their own below."""
from __future__ import annotations

import asyncio
import json

import pytest
from django.core.exceptions import ImproperlyConfigured
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from config_center.ws.origin import BrowserOriginValidator, Origin, parse_origin

from .live_support import live_node, receive, receive_until
from .test_console_socket import session_cookie

CONSOLE = "https://console.example.com"


def test_only_the_nodes_own_origin_and_configured_ones_get_the_operators_socket(tmp_path):
    with live_node(tmp_path / "n", allowed_origins=CONSOLE) as node:
        node.namespace("shop/prod")
        node.publish("shop/prod", "app.yaml", "password: hunter2\n")
        cookie = session_cookie(node.admin)
        port = node.node.port
        watch_url = f"ws://127.0.0.1:{port}/ws/v1/watch"

        async def snapshot_with(origin: str) -> dict:
            async with connect(node.ws_url, additional_headers={"Cookie": cookie, "Origin": origin}) as ws:
                assert (await receive(ws))["type"] == "welcome"
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                return await receive_until(ws, "snapshot")

        async def refused(url: str, origin: str) -> int:
            try:
                ws = await connect(url, additional_headers={"Cookie": cookie, "Origin": origin})
            except InvalidStatus as refusal:
                return refusal.response.status_code
            async with ws:
                answer = (await receive(ws)) if url == node.ws_url else "none (a watch socket)"
            pytest.fail(f"{origin} got a socket to {url}; first message: {answer}")

        async def scenario():
            for foreign in (
                "http://127.0.0.1:9999",        # another service on the node's host
                f"https://127.0.0.1:{port}",    # another scheme
                f"http://localhost:{port}",     # another name than the handshake's Host
                "http://console.example.com",  # the configured host, with another scheme
                "https://console.example.com:8443",
                "http://evil.example",
                "null",
            ):
                assert await refused(node.ws_url, foreign) == 403, foreign
                assert await refused(watch_url, foreign) == 403, foreign
            own = await snapshot_with(f"http://127.0.0.1:{port}")
            assert own["items"]["app.yaml"]["content"] == "password: hunter2\n"
            assert (await snapshot_with(CONSOLE))["namespace"] == "shop/prod"
            assert (await snapshot_with(f"HTTP://127.0.0.1:{port}"))["namespace"] == "shop/prod"  # case is no matter
            # Applications send no Origin: both sockets take them.
            async with connect(watch_url) as ws:
                await ws.send(json.dumps({"progress_request": {}}))
                assert "result" in json.loads(await asyncio.wait_for(ws.recv(), 10))

        asyncio.run(asyncio.wait_for(scenario(), 60))


def scope(host: str, origin: str | None = None, scheme: str = "ws") -> dict:
    headers = [(b"host", host.encode())]
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return {"type": "websocket", "scheme": scheme, "path": "/ws/v1/config", "headers": headers}


def test_origins_are_compared_whole_with_default_ports_filled_in():
    assert parse_origin("https://Console.Example.com") == Origin("https", "console.example.com", 443)
    assert parse_origin("http://[::1]:8000") == Origin("http", "::1", 8000)
    for bad in ("null", "", "file://", "ftp://example.com", "https://example.com/app", "https://u@example.com",
                "http://example.com:99999", "example.com"):
        assert parse_origin(bad) is None, bad

    check = BrowserOriginValidator(None, allowed_hosts=["127.0.0.1", ".example.com"], allowed_origins=[CONSOLE])
    assert check.allows(scope("127.0.0.1:8000"))  # no Origin: an application
    assert check.allows(scope("127.0.0.1:8000", "http://127.0.0.1:8000"))
    assert check.allows(scope("node.example.com", "http://node.example.com:80"))
    assert check.allows(scope("node.example.com:443", "https://node.example.com", scheme="wss"))
    assert check.allows(scope("127.0.0.1:8000", CONSOLE + ":443"))
    assert not check.allows(scope("127.0.0.1:8000", "http://127.0.0.1:9999"))
    assert not check.allows(scope("127.0.0.1:8000", "https://127.0.0.1:8000"))
    assert not check.allows(scope("node.example.com", "http://node.example.com", scheme="wss"))
    # The Host must be one Django allows, or a page could name the node after itself.
    assert not check.allows(scope("evil.test:8000", "http://evil.test:8000"))
    two = scope("127.0.0.1:8000", "http://127.0.0.1:8000")
    two["headers"].append((b"origin", b"http://127.0.0.1:8000"))
    assert not check.allows(two)

    with pytest.raises(ImproperlyConfigured, match="console.example.com/"):
        BrowserOriginValidator(None, allowed_hosts=[], allowed_origins=["https://console.example.com/"])
