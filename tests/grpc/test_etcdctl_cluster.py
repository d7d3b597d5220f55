"""etcdctl 3.4 against a 3-member cluster with ``--endpoints`` listing all
three: the cluster commands, etcd's concurrency recipes (``lock``,
``elect``), and the leader killed mid-run while etcdctl keeps working
through the others."""
from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from tests.faults.cluster import REPO, TOKEN, ProcessCluster, free_ports
from tests.grpc.conftest import etcdctl
from tests.test_skeleton_runnode import node_env


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


def test_a_learner_added_by_etcdctl_joins_and_is_promoted(cluster: ProcessCluster, tmp_path):
    endpoints = ",".join(f"127.0.0.1:{m.grpc_port}" for m in cluster.members)
    peer, client, grpc_port = free_ports(3)
    deadline = time.monotonic() + 20
    while not all(m.get("peerURLs") and m.get("name") for m in
                  json.loads(until_ok(endpoints, "member", "list", "-w", "json").stdout)["members"]):
        assert time.monotonic() < deadline, "the members did not publish their records"
        time.sleep(0.2)
    added = until_ok(endpoints, "member", "add", "n4", "--learner", "--peer-urls", f"http://127.0.0.1:{peer}")
    assert added.returncode == 0 and "added to cluster" in added.stdout, added.stderr
    # etcdctl prints the environment etcd would start with; a node takes the same values as flags
    env_lines = dict(line.split("=", 1) for line in added.stdout.splitlines() if line.startswith("ETCD_"))
    assert env_lines["ETCD_INITIAL_CLUSTER_STATE"] == '"existing"'
    initial_cluster = env_lines["ETCD_INITIAL_CLUSTER"].strip('"')
    assert f"n4=tcp://127.0.0.1:{peer}" in initial_cluster and initial_cluster.count("=") == 4  # our peer URLs are tcp://
    log = open(tmp_path / "n4.log", "wb")
    n4 = subprocess.Popen([
        sys.executable, "manage.py", "runnode", "--name", "n4", "--data-dir", str(tmp_path / "n4"),
        "--listen-client", f"127.0.0.1:{client}", "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--listen-client-urls", f"http://127.0.0.1:{grpc_port}", "--initial-cluster", initial_cluster,
        "--initial-cluster-state", "existing", "--initial-cluster-token", TOKEN,
        "--cluster-secret-file", str(cluster.secret_file), "--store-auth", "off",
        "--heartbeat-interval", str(cluster.heartbeat_ms), "--election-timeout", str(cluster.election_ms),
    ], cwd=REPO, env=node_env(), stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 30
        while True:  # refused until the learner has caught up, as etcd refuses it
            listed = json.loads(etcdctl(endpoints, "member", "list", "-w", "json").stdout)["members"]
            learner = next(m for m in listed if m.get("isLearner") or m.get("name") == "n4")
            promoted = etcdctl(endpoints, "member", "promote", format(learner["ID"], "x"))
            if promoted.returncode == 0 or time.monotonic() > deadline:
                break
            assert "can only promote a learner member which is in sync with leader" in promoted.stderr \
                or "learner" in promoted.stderr, promoted.stderr
            time.sleep(0.5)
        assert promoted.returncode == 0 and "promoted in cluster" in promoted.stdout, promoted.stderr
        listed = json.loads(etcdctl(endpoints, "member", "list", "-w", "json").stdout)["members"]
        assert len(listed) == 4 and not any(m.get("isLearner") for m in listed)
        assert etcdctl(f"127.0.0.1:{grpc_port}", "put", "/c/from-n4", "v").stdout == "OK\n"
    finally:
        n4.kill()
        n4.wait()
        log.close()
