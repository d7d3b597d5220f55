"""Failover in a 3-member cluster of real processes: the client is connected
to the leader, the leader is SIGKILLed, releases are published through a
surviving member; the client moves to a survivor, resumes from the revision
it applied, and ends with every release exactly once, in order."""
from __future__ import annotations

import random
import time

import pytest

from config_center_client import Backoff, ConfigClient
from tests.faults.cluster import ProcessCluster
from tests.gateway.node_process import NodeProcess
from tests.live.live_support import LiveNode

from .sdk_support import ChangeLog, wait_for

NS = "shop/prod"
SEED = 7


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


def admin_on(member, password_dir) -> LiveNode:
    """An administrator session on ``member``. The config service made the
    first admin on one member only, and wrote its password there."""
    return LiveNode(NodeProcess(member.process, "127.0.0.1", member.client_port, password_dir))


def publish(admin: LiveNode, n: int, timeout: float = 20.0) -> dict:
    """Release ``n``, retried while the cluster settles after the kill (a
    new leader, a member catching up)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return admin.publish(NS, "app.yaml", f"version: {n}\n")
        except (AssertionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def test_the_client_fails_over_when_the_leader_is_killed(cluster):
    leader = cluster.wait_for_leader()
    password_dir = wait_for(lambda: next((m.data_dir for m in cluster.members
                                          if (m.data_dir / "admin-password").exists()), None),
                            timeout=30, what="the first admin's password file")
    admin = admin_on(leader, password_dir)
    admin.namespace(NS)
    first = [publish(admin, n) for n in (0, 1)]
    token = admin.token("shop/*", "read")
    survivors = [m for m in cluster.members if m is not leader]
    urls = [f"http://127.0.0.1:{m.client_port}" for m in [leader, *survivors]]

    client = ConfigClient(urls, token, [NS], backoff=Backoff(0.05, 1.0, rng=random.Random(SEED)),
                          rng=random.Random(SEED))
    changes = ChangeLog(client, "app.yaml")
    with client.start(timeout=20):
        assert client.member.endswith(f":{leader.client_port}/ws/v1/config")
        assert client.get(NS, "app.yaml") == "version: 1\n" and client.revision(NS) >= first[-1]["revision"]
        client.on_change(changes)
        before = [publish(admin, n) for n in (2, 3)]
        wait_for(lambda: client.revision(NS) == before[-1]["revision"], what="releases before the kill")

        leader.kill()
        new_leader = cluster.wait_for_leader(excluding=leader)
        survivor_admin = admin_on(new_leader, password_dir)
        after = [publish(survivor_admin, n) for n in (4, 5, 6)]
        wait_for(lambda: client.revision(NS) == after[-1]["revision"], timeout=30,
                 what="the client failing over and receiving the releases after the kill")

        assert client.member is not None and not client.member.endswith(f":{leader.client_port}/ws/v1/config")
        assert client.connected and not client.stale
        assert changes.contents() == [f"version: {n}\n" for n in range(2, 7)], "lost, repeated or reordered"
        assert changes.revisions() == [r["revision"] for r in before + after]
