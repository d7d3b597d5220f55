"""The service registry on real nodes: register, discover, keep alive and
deregister over REST and the websocket; bad registrations refused; an
instance whose process is killed expires after its TTL; registrations kept
alive survive a leader failover in a 3-member cluster."""
from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import time

from tests.config.test_api_on_a_node import Http
from tests.faults.cluster import ProcessCluster

from .live_support import cluster_admin, live_node, receive, receive_until, subscriber

API = "/api/v1/services"


def run(coroutine, timeout=120):
    return asyncio.run(asyncio.wait_for(coroutine, timeout))


def instances(http: Http, service: str) -> dict[str, dict]:
    status, body = http("GET", f"{API}/{service}/-/instances")
    assert status == 200, body
    return {i["id"]: i for i in body["instances"]}


def test_register_discover_keepalive_and_deregister(tmp_path):
    with live_node(tmp_path / "data") as node:
        writer = Http(node.node.base_url, token=node.token("pay/*", "write"))
        reader_token = node.token("pay/*", "read")
        reader = Http(node.node.base_url, token=reader_token)

        async def body():
            async with await subscriber(node.ws_url, reader_token) as ws:
                await receive(ws)
                await ws.send(json.dumps({"type": "subscribe", "service": "pay/api"}))
                listing = await receive_until(ws, "instances")
                assert listing["instances"] == [] and listing["service"] == "pay/api"

                status, registered = await asyncio.to_thread(writer, "PUT", f"{API}/pay/api/-/instances/i-1", {
                    "address": "10.0.0.1", "port": 8080, "metadata": {"version": "1.2"}, "ttl": 5})
                assert status == 201, registered
                assert registered["lease"] > 0 and registered["registered_by"] == "admin"
                change = await receive_until(ws, "instance_change")
                assert [i["id"] for i in change["put"]] == ["i-1"] and change["removed"] == []
                assert change["put"][0]["address"] == "10.0.0.1" and change["revision"] == registered["revision"]
                assert instances(reader, "pay/api")["i-1"]["metadata"] == {"version": "1.2"}
                assert reader("GET", API)[1]["results"] == [{"service": "pay/api", "instances": 1}]

                # Keep-alives over REST and over the websocket (with a write token).
                status, renewed = writer("POST", f"{API}/pay/api/-/instances/i-1/keepalive",
                                         {"lease": registered["lease"]})
                assert status == 200 and renewed["ttl"] == 5
                async with await subscriber(node.ws_url, writer.token) as owner:
                    await receive(owner)
                    await owner.send(json.dumps({"type": "keepalive", "service": "pay/api", "id": "i-1",
                                                 "lease": registered["lease"]}))
                    answer = await receive(owner)
                    assert answer["type"] == "keepalive" and answer["ttl"] == 5
                    await owner.send(json.dumps({"type": "keepalive", "service": "pay/api", "id": "i-1",
                                                 "lease": registered["lease"] + 1}))
                    assert (await receive(owner))["code"] == "not_found"

                status, gone = writer("DELETE", f"{API}/pay/api/-/instances/i-1")
                assert status == 200 and gone["deregistered"]
                change = await receive_until(ws, "instance_change")
                assert change["removed"] == ["i-1"] and change["put"] == []

                # Not kept alive: it expires, and subscribers see it go.
                started = time.monotonic()
                assert writer("PUT", f"{API}/pay/api/-/instances/i-2", {"address": "10.0.0.2", "ttl": 2})[0] == 201
                assert [i["id"] for i in (await receive_until(ws, "instance_change"))["put"]] == ["i-2"]
                expired = await receive_until(ws, "instance_change", timeout=15)
                assert expired["removed"] == ["i-2"] and time.monotonic() - started >= 1.5
                assert instances(reader, "pay/api") == {}

        run(body())

        # Bad input is refused and changes nothing.
        for bad, field in [({"port": 1}, "address"), ({"address": "h", "port": 70000}, "port"),
                           ({"address": "h", "ttl": 1}, "ttl"), ({"address": "h", "health": "meh"}, "health"),
                           ({"address": "h", "colour": "red"}, "colour"), ({"address": "h", "metadata": {"a": 1}},
                                                                            "metadata")]:
            status, error = writer("PUT", f"{API}/pay/api/-/instances/i-3", bad)
            assert status == 400 and field in error["message"], (bad, error)
        assert writer("PUT", f"{API}/pay/api/-/instances/bad%21id", {"address": "h"})[0] == 400
        assert reader("PUT", f"{API}/pay/api/-/instances/i-3", {"address": "h"})[0] == 403
        assert writer("PUT", f"{API}/other/api/-/instances/i-3", {"address": "h"})[0] == 403
        assert writer("DELETE", f"{API}/pay/api/-/instances/i-3")[0] == 404
        assert instances(reader, "pay/api") == {}


KEEPER = textwrap.dedent("""
    import json, sys, time, urllib.request
    base, token, service, ttl = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

    def call(method, path, body):
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method=method,
                                         headers={"Authorization": "Bearer " + token,
                                                  "Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            return json.loads(response.read())

    lease = call("PUT", f"/api/v1/services/{service}/-/instances/worker-1", {"address": "127.0.0.1", "ttl": ttl})["lease"]
    print("registered", flush=True)
    while True:
        time.sleep(ttl / 4)
        call("POST", f"/api/v1/services/{service}/-/instances/worker-1/keepalive", {"lease": lease})
""")


def test_an_instance_whose_process_is_killed_expires_after_its_ttl(tmp_path):
    ttl = 3
    with live_node(tmp_path / "data") as node:
        token = node.token("jobs/*", "write")
        reader = Http(node.node.base_url, token=token)
        keeper = subprocess.Popen([sys.executable, "-c", KEEPER, node.node.base_url, token, "jobs/worker", str(ttl)],
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert keeper.stdout.readline().strip() == "registered"
            time.sleep(2 * ttl)  # kept alive past its TTL
            assert "worker-1" in instances(reader, "jobs/worker")
            keeper.kill()
            keeper.wait()
            killed = time.monotonic()
            while "worker-1" in instances(reader, "jobs/worker"):
                assert time.monotonic() - killed < ttl + 5, "still registered long after its TTL"
                time.sleep(0.1)
            assert time.monotonic() - killed >= ttl / 4, "it went before its lease could have run out"
        finally:
            keeper.kill()
            keeper.wait()


def test_registrations_kept_alive_survive_a_leader_failover(tmp_path):
    ttl = 4
    cluster = ProcessCluster(tmp_path, 3)
    try:
        cluster.start()
        admin = cluster_admin(cluster)
        status, token = admin("POST", "/api/v1/tokens", {"name": "svc", "namespaces": "pay/*", "access": "write"})
        assert status == 201, token
        leader = cluster.wait_for_leader()
        followers = [m for m in cluster.members if m is not leader]
        clients = {m.name: Http(f"http://127.0.0.1:{m.client_port}", token=token["token"]) for m in cluster.members}
        # Registered through a follower, kept alive through followers only
        # (their keep-alives are forwarded to whichever member leads).
        status, registered = clients[followers[0].name]("PUT", f"{API}/pay/api/-/instances/web-1",
                                                        {"address": "10.1.1.1", "ttl": ttl})
        assert status == 201, registered

        def keep_alive(member) -> bool:
            status, answer = clients[member.name]("POST", f"{API}/pay/api/-/instances/web-1/keepalive",
                                                  {"lease": registered["lease"]})
            assert status != 404, f"the lease expired: {answer}"
            return status == 200

        for _ in range(4):
            assert any(keep_alive(m) for m in followers)
            time.sleep(ttl / 4)
        leader.kill()
        new_leader = cluster.wait_for_leader(excluding=leader)
        assert new_leader in followers
        # Through the failover and for two more TTLs, it never goes away.
        until = time.monotonic() + 2 * ttl
        while time.monotonic() < until:
            assert any(keep_alive(m) for m in followers)
            listed = instances(clients[new_leader.name], "pay/api")
            assert "web-1" in listed, "a healthy instance was deregistered by the failover"
            time.sleep(ttl / 4)
        # Once nobody keeps it alive, it does expire on the new leader.
        stopped = time.monotonic()
        while "web-1" in instances(clients[new_leader.name], "pay/api"):
            assert time.monotonic() - stopped < ttl + 5
            time.sleep(0.2)
    finally:
        cluster.close()
