"""Leases in a 3-member cluster of processes: a keep-alive sent to a
follower reaches the leader (etcd forwards it too), so a client attached to
any member keeps its lease alive; without keep-alives the lease expires and
its key disappears on every member."""
from __future__ import annotations

import base64
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


def test_a_leader_failover_keeps_renewed_leases_and_expires_abandoned_ones(cluster):
    """The leader is killed: a lease its clients keep renewing (through the
    others) survives the failover, and one nobody renews expires within its
    TTL plus an election timeout of grace after the new leader takes over."""
    leader = cluster.wait_for_leader()
    survivors = [m for m in cluster.members if m is not leader]
    client = Client(survivors[0].client_port)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:  # every member's client URL published (keep-alive forwarding)
        code, body = client.call("/v3/cluster/member/list", {})
        if code == 200 and all(m.get("clientURLs") for m in body["members"]):
            break
        time.sleep(0.1)
    leases = {}
    for name in ("kept", "abandoned"):
        code, granted = client.call("/v3/lease/grant", {"TTL": "3"})
        assert code == 200, granted
        leases[name] = granted["ID"]
        assert client.call("/v3/kv/put", {"key": b64(f"svc/{name}"), "value": b64("up"),
                                          "lease": granted["ID"]})[0] == 200
    leader.kill()
    killed = time.monotonic()
    gone_at = None
    while time.monotonic() - killed < 3 + 3 * cluster.election_ms / 1000 + 4:
        for member in survivors:
            try:
                keepalive(member, leases["kept"])
                break
            except OSError:
                continue  # no leader yet, or this member cannot reach it: the other one
        code, got = Client(survivors[1].client_port).call("/v3/kv/range", {"key": b64("svc/"), "range_end": b64("svc0")})
        if code == 200:
            keys = {base64.b64decode(kv["key"]).decode() for kv in got.get("kvs", [])}
            assert "svc/kept" in keys, f"the renewed lease expired in the failover ({time.monotonic() - killed:.1f} s)"
            if "svc/abandoned" not in keys and gone_at is None:
                gone_at = time.monotonic() - killed
        time.sleep(0.5)
    assert gone_at is not None, "the abandoned lease never expired"
    # A fresh TTL from the new leader, plus an election timeout of grace,
    # plus the election itself and the expiry check's interval.
    assert 3 <= gone_at <= 3 + 3 * cluster.election_ms / 1000 + 1.5, gone_at
