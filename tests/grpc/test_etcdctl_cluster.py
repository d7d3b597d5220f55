"""etcdctl 3.4 against a 3-member cluster with ``--endpoints`` listing all
three: the cluster commands, etcd's concurrency recipes (``lock``,
``elect``), and the leader killed mid-run while etcdctl keeps working
through the others."""
from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.faults.cluster import ProcessCluster
from tests.grpc.conftest import etcdctl


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


def until_ok(endpoints: str, *args: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while True:
        ran = etcdctl(endpoints, *args)
        if ran.returncode == 0 or time.monotonic() > deadline:
            return ran
        time.sleep(0.2)


def test_cluster_commands_lock_elect_and_a_killed_leader(cluster: ProcessCluster):
    endpoints = ",".join(f"127.0.0.1:{m.grpc_port}" for m in cluster.members)
    grpc_urls = sorted(f"http://127.0.0.1:{m.grpc_port}" for m in cluster.members)
    assert until_ok(endpoints, "put", "/c/a", "1").stdout == "OK\n"

    deadline = time.monotonic() + 20
    while True:  # each member publishes its own record once it runs
        listed = json.loads(until_ok(endpoints, "member", "list", "-w", "json").stdout)["members"]
        if all(m.get("name") and m.get("clientURLs") for m in listed) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(m["name"] for m in listed) == ["n1", "n2", "n3"]
    assert sorted(url for m in listed for url in m["clientURLs"]) == grpc_urls  # what etcd's clients dial

    deadline = time.monotonic() + 20
    while True:  # every member answers once its gRPC listener is up
        statuses = json.loads(until_ok(endpoints, "endpoint", "status", "--cluster", "-w", "json").stdout or "[]")
        if len(statuses) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert sorted(s["Endpoint"] for s in statuses) == grpc_urls
    assert len({s["Status"]["leader"] for s in statuses}) == 1
    health = until_ok(endpoints, "endpoint", "health", "--cluster")
    assert health.returncode == 0 and (health.stdout + health.stderr).count("is healthy") == 3
    cluster.wait_until_applied_everywhere()
    hashes = json.loads(until_ok(endpoints, "endpoint", "hashkv", "--cluster", "-w", "json").stdout)
    assert len(hashes) == 3 and len({h["HashKV"]["hash"] for h in hashes}) == 1, hashes

    # a learner added by URL, listed unstarted, then removed
    added = until_ok(endpoints, "member", "add", "n4", "--learner", "--peer-urls", "http://127.0.0.1:1")
    assert added.returncode == 0 and "added to cluster" in added.stdout, added.stderr
    new_id = next(m["ID"] for m in json.loads(etcdctl(endpoints, "member", "list", "-w", "json").stdout)["members"]
                  if m.get("isLearner"))
    updated = until_ok(endpoints, "member", "update", format(new_id, "x"), "--peer-urls", "http://127.0.0.1:2")
    assert updated.returncode == 0 and "updated in cluster" in updated.stdout, updated.stderr
    urls = {m["ID"]: m["peerURLs"] for m in json.loads(etcdctl(endpoints, "member", "list", "-w", "json").stdout)["members"]}
    assert urls[new_id] == ["tcp://127.0.0.1:2"]
    taken = etcdctl(endpoints, "member", "update", format(new_id, "x"), "--peer-urls",
                    urls[next(i for i in urls if i != new_id)][0].replace("tcp://", "http://"))
    assert taken.returncode != 0 and "Peer URLs already exists" in taken.stderr
    removed = until_ok(endpoints, "member", "remove", format(new_id, "x"))
    assert removed.returncode == 0 and "removed from cluster" in removed.stdout, removed.stderr

    # etcd's concurrency recipes, over leases, txns and watches
    locked = until_ok(endpoints, "lock", "/c/lock", "echo", "held")
    assert locked.returncode == 0 and locked.stdout == "held\n", locked.stderr
    candidate = subprocess.Popen(["etcdctl", "--endpoints", endpoints, "elect", "/c/election", "first"],
                                 stdout=subprocess.PIPE, text=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    try:
        assert candidate.stdout.readline().startswith("/c/election/")
        assert candidate.stdout.readline() == "first\n"
        observer = subprocess.run(["timeout", "3", "etcdctl", "--endpoints", endpoints, "elect", "-l", "/c/election"],
                                  capture_output=True, text=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
        assert observer.stdout.splitlines()[1] == "first", observer.stdout
    finally:
        candidate.terminate()
        candidate.wait(10)

    # the leader dies; etcdctl, given all three, goes on through the others
    leader = cluster.wait_for_leader()
    leader.kill()
    assert until_ok(endpoints, "put", "/c/b", "2").stdout == "OK\n"
    assert until_ok(endpoints, "get", "/c/", "--prefix", "--keys-only").stdout == "/c/a\n\n/c/b\n\n"
    after = etcdctl(endpoints, "endpoint", "health", "--cluster")
    assert after.returncode != 0 and (after.stdout + after.stderr).count("is healthy") == 2
