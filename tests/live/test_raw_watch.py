"""``/ws/v1/watch``: the store's watch API over a websocket, on a node with
store auth on: events in order from a start revision, atomic per txn, a
compacted start answered explicitly, bookmarks, and the store's key-range
permissions."""
from __future__ import annotations

import asyncio
import base64
import json
import urllib.error
import urllib.request

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from tests.gateway.node_process import running_node


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def unb64(text: str) -> str:
    return base64.b64decode(text).decode()


class Store:
    def __init__(self, base: str) -> None:
        self.base = base
        self.token = None

    def __call__(self, path: str, body: dict) -> dict:
        request = urllib.request.Request(self.base + "/v3/" + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Authorization": self.token} if self.token else {})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def login(self, name: str, password: str) -> str:
        self.token = self("auth/authenticate", {"name": name, "password": password})["token"]
        return self.token


async def watch(url: str, token: str | None):
    return await connect(url, additional_headers={"Authorization": token} if token else {})


async def result(ws, timeout: float = 10.0) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), timeout))


def test_raw_watch_over_a_websocket_with_store_permissions(tmp_path):
    with running_node(tmp_path / "data", []) as node:
        root = Store(node.base_url)
        root.login("root", (tmp_path / "data" / "root-password").read_text().strip())
        first = int(root("kv/put", {"key": b64("app/a"), "value": b64("1")})["header"]["revision"])
        root("kv/put", {"key": b64("app/b"), "value": b64("2")})
        root("kv/txn", {"success": [{"request_put": {"key": b64("app/c"), "value": b64("3")}},
                                    {"request_put": {"key": b64("app/d"), "value": b64("4")}}]})
        root("auth/user/add", {"name": "reader", "password": "reader-password"})
        root("auth/role/add", {"name": "app-reader"})
        root("auth/role/grant", {"name": "app-reader", "perm": {"permType": "READ", "key": b64("app/"),
                                                                 "range_end": b64("app0")}})
        root("auth/user/grant", {"user": "reader", "role": "app-reader"})
        reader_token = Store(node.base_url).login("reader", "reader-password")
        url = f"ws://127.0.0.1:{node.port}/ws/v1/watch"

        async def body():
            async with await watch(url, reader_token) as ws:
                await ws.send(json.dumps({"create_request": {"key": b64("app/"), "range_end": b64("app0"),
                                                             "start_revision": first}}))
                created = (await result(ws))["result"]
                assert created["created"] is True
                responses = []
                while sum(map(len, responses)) < 4:
                    response = (await result(ws))["result"]
                    responses.append([(unb64(e["kv"]["key"]), int(e["kv"]["mod_revision"])) for e in response["events"]])
                assert [key for events in responses for key, _ in events] == ["app/a", "app/b", "app/c", "app/d"]
                revisions = [revision for events in responses for _, revision in events]
                assert revisions[0] == first and revisions == sorted(revisions)
                by_key = {key: (n, revision) for n, events in enumerate(responses) for key, revision in events}
                assert by_key["app/c"] == by_key["app/d"], "one txn: one revision, in one response"
                # Live events, then a bookmark once caught up.
                await asyncio.to_thread(root, "kv/put", {"key": b64("app/e"), "value": b64("5")})
                live = (await result(ws))["result"]
                assert unb64(live["events"][0]["kv"]["key"]) == "app/e"
                await ws.send(json.dumps({"progress_request": {}}))
                bookmark = (await result(ws))["result"]
                assert not bookmark.get("events") and int(bookmark["header"]["revision"]) >= int(
                    live["events"][0]["kv"]["mod_revision"])
                # Outside the reader's permissions: refused, the socket goes on.
                await ws.send(json.dumps({"create_request": {"key": b64("other/x")}}))
                refused = (await result(ws))["result"]
                assert refused["canceled"] is True and "permission denied" in refused["cancel_reason"]
                await ws.send("not json")
                assert "error" in await result(ws)

            # A compacted start revision is answered explicitly.
            latest = int(root("kv/put", {"key": b64("app/f"), "value": b64("6")})["header"]["revision"])
            root("kv/compaction", {"revision": latest, "physical": True})
            async with await watch(url, reader_token) as ws:
                await ws.send(json.dumps({"create_request": {"key": b64("app/"), "range_end": b64("app0"),
                                                             "start_revision": first}}))
                assert (await result(ws))["result"]["created"] is True
                compacted = (await result(ws))["result"]
                assert compacted["canceled"] is True and int(compacted["compact_revision"]) >= latest

            # No token: no watch could ever be allowed, so the socket is closed at once.
            async with await watch(url, None) as ws:
                with pytest.raises(ConnectionClosed) as ended:
                    await result(ws)
                assert ended.value.rcvd.code == 4001 and "user name is empty" in ended.value.rcvd.reason

        asyncio.run(asyncio.wait_for(body(), 60))

        with pytest.raises(urllib.error.HTTPError):
            Store(node.base_url)("kv/range", {"key": b64("app/a")})  # the store API itself is locked too
