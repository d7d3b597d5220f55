"""Leases in a 3-member cluster of processes: a keep-alive sent to a
follower reaches the leader (etcd forwards it too), so a client attached to
any member keeps its lease alive; without keep-alives the lease expires and
its key disappears on every member."""
from __future__ import annotations

import json
import time
import urllib.request

import pytest

from .cluster import Client, ProcessCluster, b64


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


def keepalive(member, lease_id: str) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{member.client_port}/v3/lease/keepalive",
        data=json.dumps({"ID": lease_id}).encode(), method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read().splitlines()[0])


def test_keepalives_through_a_follower_hold_a_lease_and_silence_expires_it(cluster):
    leader = cluster.wait_for_leader()
    follower = next(m for m in cluster.members if m is not leader)
    admin = Client(leader.client_port)
    # A follower forwards to the leader's client URL, which the leader
    # publishes in its member record once it sees a leader (itself).
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        code, body = Client(follower.client_port).call("/v3/cluster/member/list", {})
        if code == 200 and all(m.get("clientURLs") for m in body["members"]):
            break
        time.sleep(0.1)
    code, granted = admin.call("/v3/lease/grant", {"TTL": "3"})
    assert code == 200
    lease = granted["ID"]
    assert admin.call("/v3/kv/put", {"key": b64("svc/a"), "value": b64("up"), "lease": lease})[0] == 200
    # Renew only through the follower, for twice the TTL.
    deadline = time.monotonic() + 6
    while time.monotonic() < deadline:
        answer = keepalive(follower, lease)
        assert answer["result"]["ID"] == lease and int(answer["result"]["TTL"]) == 3, answer
        time.sleep(1)
    code, got = Client(follower.client_port).call("/v3/kv/range", {"key": b64("svc/a")})
    assert code == 200 and got.get("count") == "1", "the lease expired although it was kept alive"
    # Silence: the leader revokes it through the log; every member sees the key go.
    time.sleep(5)
    for member in cluster.members:
        code, got = Client(member.client_port).call("/v3/kv/range", {"key": b64("svc/a")})
        assert code == 200 and "count" not in got, (member.name, got)
