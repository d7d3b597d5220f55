"""A 5-member cluster of real processes tolerates two failures: with the
leader and one follower killed, the other three elect a leader, serve
writes and linearizable reads; with a third one down (no quorum), writes
are refused with a retryable 503 within a bounded time, never hang."""
from __future__ import annotations

import time

from .cluster import Client, ProcessCluster, b64


def test_five_members_survive_two_failures_and_refuse_without_a_quorum(tmp_path):
    cluster = ProcessCluster(tmp_path, 5)
    try:
        cluster.start()
        leader = cluster.wait_for_leader()
        assert Client(leader.client_port).call("/v3/kv/put", {"key": b64("k"), "value": b64("before")})[0] == 200
        follower = next(m for m in cluster.members if m is not leader)
        leader.kill()
        follower.kill()
        new_leader = cluster.wait_for_leader(excluding=leader)
        assert new_leader not in (leader, follower)
        survivor = next(m for m in cluster.members if m.alive and m is not new_leader)
        code, _ = Client(survivor.client_port).call("/v3/kv/put", {"key": b64("k"), "value": b64("after")})
        assert code == 200  # forwarded to the new leader
        for member in (m for m in cluster.members if m.alive):
            code, body = Client(member.client_port).call("/v3/kv/range", {"key": b64("k")})
            assert code == 200 and body["kvs"][0]["value"] == b64("after")

        survivor.kill()  # two of five left: no quorum
        remaining = next(m for m in cluster.members if m.alive)
        started = time.monotonic()
        code, body = Client(remaining.client_port, timeout=30).call("/v3/kv/put", {"key": b64("k"), "value": b64("x")})
        elapsed = time.monotonic() - started
        assert code == 503 and body["code"] == 14, body
        assert body["error"] in ("etcdserver: no leader", "etcdserver: request timed out")
        assert elapsed < 15, f"the refusal took {elapsed:.1f} s"
    finally:
        cluster.close()
