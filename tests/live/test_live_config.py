"""``/ws/v1/config`` on a real node process, with real websocket clients:
subscribe and receive every publish in order; tokens and their scope; bad
messages refused; resume after many random disconnects loses and repeats
nothing; a compacted resume point gets a resync; a slow consumer is closed
with the revision to resume from and loses nothing after resuming;
heartbeats carry the revision."""
from __future__ import annotations

import asyncio
import base64
import json
import random
import re
import socket
import urllib.request

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from .live_support import live_node, receive, receive_until, subscriber


def run(coroutine, timeout=120):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def test_subscribe_then_every_publish_in_order(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("shop/prod")
        first = node.publish("shop/prod", "app.yaml", "replicas: 1\n")
        token = node.token("shop/*", "read")

        async def body():
            async with await subscriber(node.ws_url, token) as ws:
                welcome = await receive(ws)
                assert welcome["type"] == "welcome" and welcome["leader"] is True
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                snapshot = await receive_until(ws, "snapshot")
                assert snapshot["release"] == first["seq"] and snapshot["revision"] >= first["revision"]
                assert snapshot["items"]["app.yaml"]["content"] == "replicas: 1\n"
                releases = [await asyncio.to_thread(node.publish, "shop/prod", "app.yaml", f"replicas: {n}\n")
                            for n in range(2, 6)]
                changes = [await receive_until(ws, "change") for _ in releases]
                assert [(c["release"], c["revision"], c["kind"]) for c in changes] == [
                    (r["seq"], r["revision"], "publish") for r in releases]
                assert changes[-1]["items"]["app.yaml"]["content"] == "replicas: 5\n"
                await ws.send(json.dumps({"type": "ack", "namespace": "shop/prod", "revision": changes[-1]["revision"]}))
                await ws.send(json.dumps({"type": "unsubscribe", "namespace": "shop/prod"}))
                assert (await receive_until(ws, "unsubscribed"))["namespace"] == "shop/prod"

        run(body())


def test_tokens_scope_and_bad_messages(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("shop/prod")
        node.namespace("bank/prod")
        shop_token = node.token("shop/*", "read")

        async def body():
            # The token in the first message instead of a header.
            async with await subscriber(node.ws_url, None) as ws:
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                refused = await receive(ws)
                assert refused["type"] == "error" and refused["code"] == "unauthenticated"
                await ws.send("not json")
                assert (await receive(ws))["code"] == "invalid"
                await ws.send(json.dumps({"type": "hello", "token": shop_token,
                                          "instance": {"id": "i-1", "labels": {"zone": "a"}}}))
                assert (await receive(ws))["type"] == "welcome"
                await ws.send(json.dumps({"type": "subscribe", "namespace": "bank/prod"}))
                forbidden = await receive(ws)
                assert (forbidden["type"], forbidden["code"], forbidden["namespace"]) == ("error", "forbidden", "bank/prod")
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod", "since": "yesterday"}))
                assert (await receive(ws))["code"] == "invalid"
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/nope"}))
                assert (await receive(ws))["code"] == "not_found"
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                assert (await receive_until(ws, "snapshot"))["namespace"] == "shop/prod"
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                assert "already subscribed" in (await receive(ws))["message"]
                await ws.send(json.dumps({"type": "launch"}))
                assert "unknown message type" in (await receive(ws))["message"]

            # A bad token: closed with 4001 and the reason.
            async with await subscriber(node.ws_url, "cct_000000000000_" + "x" * 43) as ws:
                with pytest.raises(ConnectionClosed) as closed:
                    await receive(ws)
                assert closed.value.rcvd.code == 4001 and "token" in closed.value.rcvd.reason

            # A browser page from another site may not open one.
            with pytest.raises(InvalidStatus) as refused:
                await subscriber(node.ws_url, shop_token, origin="https://evil.example")
            assert refused.value.response.status_code == 403

        run(body())


def test_resume_after_many_random_disconnects_loses_and_repeats_nothing(tmp_path):
    rng = random.Random(20261123)
    publishes = 40
    with live_node(tmp_path / "data") as node:
        node.namespace("shop/prod")
        token = node.token("shop/*", "read")

        async def publisher(done: asyncio.Event):
            for n in range(publishes):
                await asyncio.to_thread(node.publish, "shop/prod", "app.yaml", f"counter: {n}\n")
                await asyncio.sleep(rng.uniform(0, 0.03))
            done.set()

        async def body():
            done = asyncio.Event()
            task = asyncio.create_task(publisher(done))
            seen: list[int] = []  # the counter of each change, in the order applied
            since = None
            reconnects = 0
            while not (done.is_set() and len(seen) == publishes):
                async with await subscriber(node.ws_url, token) as ws:
                    await receive(ws)  # welcome
                    await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod",
                                              **({"since": since} if since is not None else {})}))
                    for _ in range(rng.randint(1, 6)):
                        message = await receive(ws)
                        if message["type"] == "snapshot":
                            assert since is None and not seen
                            content = message["items"].get("app.yaml", {}).get("content")
                            if content:
                                seen.append(int(content.split(": ")[1]))
                        elif message["type"] == "change":
                            seen.append(int(message["items"]["app.yaml"]["content"].split(": ")[1]))
                        else:
                            assert message["type"] in ("progress", "status"), message
                        since = message.get("revision", since)
                        if done.is_set() and len(seen) == publishes:
                            break
                reconnects += 1
            await task
            assert seen == list(range(publishes)), "every change exactly once, in order"
            assert reconnects >= 5

        run(body())


def test_a_compacted_resume_point_gets_a_resync(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("shop/prod")
        token = node.token("shop/*", "read")
        old = node.publish("shop/prod", "app.yaml", "v: 1\n")
        node.publish("shop/prod", "other.yaml", "o: 1\n")
        latest = node.publish("shop/prod", "app.yaml", "v: 2\n")
        request = urllib.request.Request(node.node.base_url + "/v3/kv/compaction", method="POST",
                                         data=json.dumps({"revision": latest["revision"], "physical": True}).encode())
        urllib.request.urlopen(request, timeout=10).read()

        async def body():
            async with await subscriber(node.ws_url, token) as ws:
                await receive(ws)
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod", "since": old["revision"]}))
                resync = await receive_until(ws, "resync")
                assert resync["release"] == latest["seq"]
                assert {n: i["content"] for n, i in resync["items"].items()} == {"app.yaml": "v: 2\n",
                                                                                 "other.yaml": "o: 1\n"}

        run(body())


def test_a_slow_consumer_is_closed_with_its_resume_point_and_loses_nothing(tmp_path):
    # 9 MB in all, random (incompressible, were compression ever turned on): more than the
    # server's socket send buffer (4 MiB at most here) and the client's
    # receive buffer, kept small below.
    big = base64.b64encode(random.Random(7).randbytes(225_000)).decode()
    changes = 30
    with live_node(tmp_path / "data", live_outbox_messages=4, live_stall_seconds=1) as node:
        node.namespace("shop/prod")
        token = node.token("shop/*", "read")
        node.publish("shop/prod", "app.yaml", "n: -1\n")

        async def body():
            seen = []
            small_window = socket.create_connection((node.node.host, node.node.port))
            small_window.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 32 * 1024)
            ws = await subscriber(node.ws_url, token, max_queue=1, max_size=2**22, sock=small_window)
            await receive(ws)
            await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
            snapshot = await receive_until(ws, "snapshot")
            # Stop reading while the changes pile up on the server.
            for n in range(changes):
                await asyncio.to_thread(node.publish, "shop/prod", "app.yaml", f"n: {n}\n# {big}\n")
            await asyncio.sleep(3)  # stuck for longer than the stall limit (1 s here)
            with pytest.raises(ConnectionClosed) as closed:
                while True:
                    message = await receive(ws, timeout=30)
                    if message["type"] == "change":
                        seen.append(message["revision"])
            assert closed.value.rcvd.code == 4008, closed.value.rcvd
            since = json.loads(re.search(r"since=(\{.*\})", closed.value.rcvd.reason).group(1))["shop/prod"]
            assert since == (seen[-1] if seen else snapshot["revision"]), "the reason names the last revision sent"
            assert len(seen) < changes, "it was closed before it got everything"
            async with await subscriber(node.ws_url, token, max_size=2**22) as again:
                await receive(again)
                await again.send(json.dumps({"type": "subscribe", "namespace": "shop/prod", "since": since}))
                while len(seen) < changes:
                    seen.append((await receive_until(again, "change"))["revision"])
            assert seen == sorted(set(seen)) and len(seen) == changes

        run(body())


def test_a_quiet_resume_is_confirmed_at_once(tmp_path):
    with live_node(tmp_path / "data") as node:  # heartbeats every 5 s
        node.namespace("shop/prod")
        node.namespace("shop/dev")
        token = node.token("shop/*", "read")
        release = node.publish("shop/prod", "app.yaml", "a: 1\n")
        other = node.publish("shop/dev", "app.yaml", "b: 1\n")  # the store moves on

        async def body():
            async with await subscriber(node.ws_url, token) as ws:
                await receive(ws)
                started = asyncio.get_running_loop().time()
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod",
                                          "since": release["revision"]}))
                progress = await receive_until(ws, "progress", timeout=3)
                assert progress["revision"] >= other["revision"]
                assert asyncio.get_running_loop().time() - started < 2
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/dev",
                                          "since": other["revision"] + 10_000}))
                ahead = await receive(ws)
                assert (ahead["type"], ahead["code"]) == ("error", "since_ahead")

        run(body())


def test_idle_subscribers_get_progress_with_the_revision(tmp_path):
    with live_node(tmp_path / "data", live_heartbeat=0.3) as node:
        node.namespace("shop/prod")
        node.namespace("shop/dev")
        token = node.token("shop/*", "read")
        release = node.publish("shop/prod", "app.yaml", "a: 1\n")

        async def body():
            async with await subscriber(node.ws_url, token) as ws:
                await receive(ws)
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                snapshot = await receive_until(ws, "snapshot")
                progress = await receive_until(ws, "progress")
                assert progress["revision"] >= snapshot["revision"] >= release["revision"]
                assert progress["leader"] is True
                # Another namespace moves the store on; the bookmark follows.
                other = await asyncio.to_thread(node.publish, "shop/dev", "app.yaml", "b: 1\n")
                while (await receive_until(ws, "progress"))["revision"] < other["revision"]:
                    pass

        run(body())


def test_delivery_tracking_shows_instances_and_release_adoption(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("shop/prod")
        node.publish("shop/prod", "app.yaml", "a: 1\n")
        token = node.token("shop/*", "read")

        async def instance(name: str, zone: str, acks: bool, ready: asyncio.Event, release_seen: asyncio.Queue):
            async with await subscriber(node.ws_url, token) as ws:
                await ws.send(json.dumps({"type": "hello", "instance": {
                    "id": name, "labels": {"zone": zone}, "host": f"{name}.local", "sdk": "test/1"}}))
                await receive(ws)
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                snapshot = await receive_until(ws, "snapshot")
                await ws.send(json.dumps({"type": "ack", "namespace": "shop/prod", "revision": snapshot["revision"]}))
                ready.set()
                change = await receive_until(ws, "change")
                if acks:
                    await ws.send(json.dumps({"type": "ack", "namespace": "shop/prod", "revision": change["revision"]}))
                await release_seen.put(change["release"])
                await asyncio.sleep(30)  # stay connected until cancelled

        async def body():
            readies = [asyncio.Event() for _ in range(3)]
            seen: asyncio.Queue = asyncio.Queue()
            tasks = [asyncio.create_task(instance(f"app-{n}", "a" if n else "b", n < 2, readies[n], seen))
                     for n in range(3)]
            for ready in readies:
                await asyncio.wait_for(ready.wait(), 10)
            release = await asyncio.to_thread(node.publish, "shop/prod", "app.yaml", "a: 2\n")
            for _ in tasks:
                assert await asyncio.wait_for(seen.get(), 10) == release["seq"]
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                status, report = await asyncio.to_thread(node.admin, "GET", "/api/v1/namespaces/shop/prod/-/delivery")
                assert status == 200, report
                stats = {r["release"]: r for r in report["releases"]}.get(release["seq"])
                if stats and stats["applied"] == 2 and stats["received"] == 3:
                    break
                assert asyncio.get_running_loop().time() < deadline, report
                await asyncio.sleep(0.2)
            by_id = {i["id"]: i for i in report["instances"]}
            assert set(by_id) == {"app-0", "app-1", "app-2"}
            assert by_id["app-0"]["labels"] == {"zone": "b"} and by_id["app-1"]["host"] == "app-1.local"
            assert by_id["app-0"]["applied_release"] == release["seq"] == by_id["app-1"]["applied_release"]
            assert by_id["app-2"]["received_release"] == release["seq"] > by_id["app-2"]["applied_release"]
            assert report["instances_by_release"][str(release["seq"])] == 2
            assert 0 < stats["p50_ms"] <= stats["p99_ms"] and stats["max_ms"] <= stats["p99_ms"]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            # Gone from the report once their sockets close.
            while True:
                report = (await asyncio.to_thread(node.admin, "GET", "/api/v1/namespaces/shop/prod/-/delivery"))[1]
                if not report["instances"]:
                    break
                assert asyncio.get_running_loop().time() < deadline + 10, report
                await asyncio.sleep(0.2)

        run(body())


def test_a_canary_by_percentage_over_rest_with_its_adoption_tracked(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace("shop/prod")
        node.publish("shop/prod", "app.yaml", "v: 1\n")
        token = node.token("shop/*", "read")

        async def instance(n: int, results: dict, ready: asyncio.Event):
            async with await subscriber(node.ws_url, token) as ws:
                await ws.send(json.dumps({"type": "hello", "instance": {"id": f"pod-{n}", "labels": {}}}))
                await receive(ws)
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                await receive_until(ws, "snapshot")
                ready.set()
                while True:
                    message = await receive_until(ws, "change", timeout=30)
                    await ws.send(json.dumps({"type": "ack", "namespace": "shop/prod", "revision": message["revision"]}))
                    results.setdefault(n, []).append((message["kind"], message["items"].get("app.yaml", {}).get("content")))

        async def body():
            results: dict[int, list] = {}
            readies = [asyncio.Event() for _ in range(10)]
            tasks = [asyncio.create_task(instance(n, results, readies[n])) for n in range(10)]
            for ready in readies:
                await asyncio.wait_for(ready.wait(), 10)
            item_path = "/api/v1/namespaces/shop/prod/-/items/app.yaml"
            item = (await asyncio.to_thread(node.admin, "GET", item_path))[1]
            status, saved = await asyncio.to_thread(node.admin, "PUT", item_path,
                                                    {"content": "v: 2\n", "revision": item["revision"]})
            assert status == 200, saved
            revision = (await asyncio.to_thread(node.admin, "GET", "/api/v1/namespaces/shop/prod"))[1]["revision"]
            assert (await asyncio.to_thread(node.admin, "POST", "/api/v1/namespaces/shop/prod/-/canary",
                                            {"revision": revision}))[0] == 400, "a selector is required"
            status, canary = await asyncio.to_thread(node.admin, "POST", "/api/v1/namespaces/shop/prod/-/canary",
                                                     {"percent": 50, "comment": "half", "revision": revision})
            assert status == 201 and canary["kind"] == "canary", canary
            deadline = asyncio.get_running_loop().time() + 10
            while True:
                report = (await asyncio.to_thread(node.admin, "GET", "/api/v1/namespaces/shop/prod/-/delivery"))[1]
                stats = {r["release"]: r for r in report["releases"]}.get(canary["seq"])
                if stats and stats["applied"] == len(results):
                    break
                assert asyncio.get_running_loop().time() < deadline, report
                await asyncio.sleep(0.2)
            on_canary = set(results)
            assert 0 < len(on_canary) < 10, "some instances, not all"
            assert all(results[n] == [("canary", "v: 2\n")] for n in on_canary)
            assert report["instances_by_release"][str(canary["seq"])] == len(on_canary)
            revision = (await asyncio.to_thread(node.admin, "GET", "/api/v1/namespaces/shop/prod"))[1]["revision"]
            status, promoted = await asyncio.to_thread(node.admin, "POST", "/api/v1/namespaces/shop/prod/-/canary/promote",
                                                       {"comment": "all", "revision": revision})
            assert status == 201 and promoted["promoted_from"] == canary["seq"]
            while len([n for n in results if results[n][-1][0] == "publish"]) < 10:
                assert asyncio.get_running_loop().time() < deadline + 10, results
                await asyncio.sleep(0.1)
            assert all(results[n][-1] == ("publish", None if n in on_canary else "v: 2\n") for n in range(10))
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        run(body())
