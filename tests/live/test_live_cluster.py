"""Live subscriptions on a 3-member cluster: a member cut off from the
quorum keeps serving its subscribers and tells them at once that it has
no leader (within the election timeout and the monitor's 0.1 s, not at
the next heartbeat); a subscriber resumes on another member exactly."""
from __future__ import annotations

import asyncio
import json
import time

from tests.faults.cluster import ProcessCluster

from .live_support import cluster_admin, receive, receive_until, subscriber


def test_subscribers_learn_their_member_lost_the_quorum_and_resume_elsewhere(tmp_path):
    cluster = ProcessCluster(tmp_path, 3, election_ms=500)
    try:
        cluster.start()
        admin = cluster_admin(cluster)
        assert admin("POST", "/api/v1/namespaces", {"name": "shop/prod"})[0] == 201
        status, token = admin("POST", "/api/v1/tokens", {"name": "app", "namespaces": "shop/*", "access": "read"})
        assert status == 201
        leader = cluster.wait_for_leader()
        survivor = next(m for m in cluster.members if m is not leader)
        other = next(m for m in cluster.members if m not in (leader, survivor))

        def publish(n: int) -> dict:
            base = admin.base
            admin.base = f"http://127.0.0.1:{other.client_port}"
            try:
                items = {i["name"]: i for i in admin("GET", "/api/v1/namespaces/shop/prod/-/items")[1]["items"]}
                revision = items["app.yaml"]["revision"] if "app.yaml" in items else 0
                assert admin("PUT", "/api/v1/namespaces/shop/prod/-/items/app.yaml",
                             {"content": f"n: {n}\n", "revision": revision})[0] == 200
                ns_revision = admin("GET", "/api/v1/namespaces/shop/prod")[1]["revision"]
                status, release = admin("POST", "/api/v1/namespaces/shop/prod/-/publish",
                                        {"comment": "c", "revision": ns_revision})
                assert status == 201, release
                return release
            finally:
                admin.base = base

        async def body():
            url = f"ws://127.0.0.1:{survivor.client_port}/ws/v1/config"
            async with await subscriber(url, token["token"]) as ws:
                assert (await receive(ws))["leader"] is True
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod"}))
                await receive_until(ws, "snapshot")
                first = await asyncio.to_thread(publish, 1)
                change = await receive_until(ws, "change")
                assert change["release"] == first["seq"]
                # Cut the survivor off: the other two members die.
                cut = time.monotonic()
                for member in (leader, other):
                    member.kill()
                status = await receive_until(ws, "status", timeout=10)
                took = time.monotonic() - cut
                # Within the longest election timeout (2 x 0.5 s) and a little: well inside
                # the "election timeout plus a heartbeat" (5 s here).
                assert status["leader"] is False and took < 2 * 0.5 + 2.0, took
                return change["revision"]

        last = asyncio.run(asyncio.wait_for(body(), 60))
        # The quorum comes back; a subscriber resumes on another member from
        # where it was, and gets the next change exactly once.
        other.start(state="existing")
        cluster.wait_for_leader()

        async def resume():
            url = f"ws://127.0.0.1:{other.client_port}/ws/v1/config"
            async with await subscriber(url, token["token"]) as ws:
                await receive(ws)
                await ws.send(json.dumps({"type": "subscribe", "namespace": "shop/prod", "since": last}))
                second = await asyncio.to_thread(publish, 2)
                change = await receive_until(ws, "change", timeout=20)
                assert change["release"] == second["seq"] and change["items"]["app.yaml"]["content"] == "n: 2\n"

        asyncio.run(asyncio.wait_for(resume(), 90))
    finally:
        cluster.close()
