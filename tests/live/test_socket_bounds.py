"""What a node holds open for websocket clients, on real ``runnode``
processes (``consensus/websocket_protocol.py``, the live consumer's hello
deadline): an anonymous socket only until the deadline; only so many of
them per address and so many sockets in all, counted across
``/ws/v1/config`` and ``/ws/v1/watch``; no client message over 64 KiB.
The census's arithmetic on its own at the end."""
from __future__ import annotations

import asyncio
import json
import time

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from consensus.websocket_protocol import MAX_CLIENT_MESSAGE_BYTES, WebsocketCensus
from tests.gateway.node_process import running_node

from .live_support import live_node, receive, receive_until, subscriber


def run(coroutine, timeout=90):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


async def closed(ws, timeout: float = 10.0) -> tuple[int, str]:
    """The close code and reason ``ws`` ends with, skipping messages."""
    with pytest.raises(ConnectionClosed) as ended:
        while True:
            await asyncio.wait_for(ws.recv(), timeout)
    return ended.value.rcvd.code, ended.value.rcvd.reason


async def anonymous(url: str, attempts: int = 1):
    """A socket to ``url`` that authenticated nothing and is still open
    (a hello without a token is answered, and changes nothing); None if
    the server closed it with 1013 instead, each of ``attempts`` times (the
    server notices a client's close a moment after the client)."""
    for _ in range(attempts):
        ws = await connect(url)
        try:
            await ws.send(json.dumps({"type": "hello"}))
            answer = await receive(ws)
        except ConnectionClosed as ended:
            assert ended.rcvd.code == 1013, ended
            await asyncio.sleep(0.05)
            continue
        assert answer["code"] == "invalid", answer
        return ws
    return None


async def welcomed(url: str, token: str, attempts: int = 1):
    """A socket to ``url`` authenticated by its handshake; None if the
    server closed it with 1013 instead, each of ``attempts`` times."""
    for _ in range(attempts):
        ws = await subscriber(url, token)
        try:
            assert (await receive(ws))["type"] == "welcome"
            return ws
        except ConnectionClosed as ended:
            assert ended.rcvd.code == 1013, ended
            await asyncio.sleep(0.05)
    return None


def test_anonymous_sockets_are_held_briefly_and_few_per_address(tmp_path):
    with live_node(tmp_path / "n", live_hello_seconds=1.5, ws_max_unauthenticated_per_address=3) as node:
        node.namespace("shop/prod")
        token = node.token("shop/*", "read")
        watch_url = f"ws://127.0.0.1:{node.node.port}/ws/v1/watch"

        async def body():
            waiting = [await anonymous(node.ws_url) for _ in range(3)]
            opened = time.monotonic()
            assert None not in waiting
            async with connect(node.ws_url) as fourth:
                code, reason = await closed(fourth)
                assert code == 1013 and "3 websockets from your address are waiting to authenticate" in reason
            # Sockets authenticated by their handshake never wait: a burst of them is served.
            burst = [await welcomed(node.ws_url, token) for _ in range(8)]
            assert None not in burst
            async with connect(watch_url) as watch:  # store auth is off: it needs no token
                await watch.send(json.dumps({"progress_request": {}}))
                assert "result" in json.loads(await asyncio.wait_for(watch.recv(), 10))
            # Authenticating in hello ends the wait; the socket itself stays.
            hello = waiting.pop()
            await hello.send(json.dumps({"type": "hello", "token": token}))
            assert (await receive(hello))["type"] == "welcome"
            late = await anonymous(node.ws_url)
            assert late is not None
            # Anonymous sockets are closed at the deadline, with the reason...
            for ws in (*waiting, late):
                code, reason = await closed(ws)
                assert code == 4001 and "no hello with an API token within 1.5 s" in reason
            assert time.monotonic() - opened >= 1.4
            # ...which frees their places: three anonymous ones again.
            again = [await anonymous(node.ws_url, attempts=50) for _ in range(3)]
            assert None not in again
            assert await anonymous(node.ws_url) is None
            for ws in again:
                await ws.close()
            # The authenticated ones, past the deadline, are served.
            for ws in (hello, burst[0]):
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                assert (await receive_until(ws, "snapshot"))["namespace"] == "shop/prod"
            for ws in (hello, *burst):
                await ws.close()

        run(body())


def test_a_client_message_over_64_kib_closes_the_socket(tmp_path):
    with live_node(tmp_path / "n") as node:
        token = node.token()
        watch_url = f"ws://127.0.0.1:{node.node.port}/ws/v1/watch"

        async def body():
            async with await subscriber(node.ws_url, token) as ws:
                assert (await receive(ws))["type"] == "welcome"
                # Just under the bound: an ordinary bad message, answered.
                await ws.send("x" * (MAX_CLIENT_MESSAGE_BYTES - 1))
                assert (await receive(ws))["code"] == "invalid"
                await ws.send(json.dumps({"type": "hello", "instance": {"id": "i", "labels": {
                    "l": "x" * MAX_CLIENT_MESSAGE_BYTES}}}))
                assert (await closed(ws))[0] == 1009
            async with connect(watch_url) as ws:
                await ws.send(json.dumps({"create_request": {"key": "x" * MAX_CLIENT_MESSAGE_BYTES}}))
                assert (await closed(ws))[0] == 1009

        run(body())


def test_a_node_holds_at_most_its_bound_of_websockets_of_both_kinds(tmp_path):
    with live_node(tmp_path / "n", ws_max_connections=3) as node:
        token = node.token()
        watch_url = f"ws://127.0.0.1:{node.node.port}/ws/v1/watch"

        async def body():
            sockets = [await welcomed(node.ws_url, token) for _ in range(2)]
            sockets.append(await connect(watch_url))  # store auth is off: no token needed
            for url in (node.ws_url, watch_url):
                async with await subscriber(url, token) as ws:
                    code, reason = await closed(ws)
                    assert code == 1013 and "this node holds 3 websockets, its limit" in reason, url
            await sockets.pop(0).close()
            replacement = await welcomed(node.ws_url, token, attempts=50)
            assert replacement is not None
            for ws in (*sockets, replacement):
                await ws.close()

        run(body())


def test_a_watch_socket_without_a_valid_token_is_closed_at_once(tmp_path):
    with running_node(tmp_path / "data", []) as node:  # store auth on
        url = f"ws://127.0.0.1:{node.port}/ws/v1/watch"

        async def body():
            for headers in ({}, {"Authorization": "not-a-token"}):
                async with connect(url, additional_headers=headers) as ws:
                    code, reason = await closed(ws, timeout=5)
                    assert code == 4001 and "etcdserver" in reason and "Authorization" in reason

        run(body())


def test_the_census_counts_waiting_sockets_per_address_until_they_authenticate_or_go():
    census = WebsocketCensus(max_open=3, max_unauthenticated_per_address=2)
    a1, a2, a3 = census.admit("a"), census.admit("a"), census.admit("a")
    assert census.admit("b") is None  # three open
    assert a1.wait_for_client() is None and a1.wait_for_client() is None  # counted once
    assert a2.wait_for_client() is None
    assert "2 websockets from your address" in a3.wait_for_client()
    assert census.waiting == {"a": 2}
    a1.authenticate()
    assert a3.wait_for_client() is None and census.waiting == {"a": 2}
    assert a1.wait_for_client() is not None  # authenticated: it waits no more
    a3.release()
    a3.release()  # once only
    assert census.open == 2 and census.waiting == {"a": 1}
    b = census.admit("b")
    assert b.wait_for_client() is None and census.waiting == {"a": 1, "b": 1}
    for ticket in (a1, a2, b):
        ticket.release()
    a2.authenticate()  # after release: nothing to count
    assert census.open == 0 and census.waiting == {}
    with pytest.raises(ValueError):
        census.configure(max_open=0, max_unauthenticated_per_address=1)
