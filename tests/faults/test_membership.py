"""Membership of a running cluster of real processes, through etcd's
``/v3/cluster/member/*`` endpoints: list, add (voter or learner), promote,
remove; a removed member stops; a re-added member learns its new ID from the
cluster and catches up by snapshot; bad requests change nothing."""
from __future__ import annotations

import time

import pytest

from .cluster import Client, ProcessCluster, b64


@pytest.fixture
def cluster(tmp_path):
    # A short catch-up window, so a member far behind needs a snapshot.
    c = ProcessCluster(tmp_path, 3, snapshot_count=50, snapshot_catchup_entries=10)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _wait_applied(member, index, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = member.status()
        if status and int(status.get("raftAppliedIndex", 0)) >= index:
            return status
        time.sleep(0.1)
    raise AssertionError(f"{member.name} did not apply index {index}:\n{member.log_tail()}")


def test_list_names_every_member_with_its_urls(cluster):
    leader = cluster.wait_for_leader()
    follower = next(m for m in cluster.members if m is not leader)
    # Each member publishes its own name and URLs once it sees a leader.
    deadline = time.monotonic() + 15
    while True:
        code, body = Client(follower.client_port).call("/v3/cluster/member/list", {})
        # 503 while this follower has not heard from the new leader yet
        if code == 200 and all("name" in m for m in body["members"]) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert code == 200, body
    assert body["header"]["member_id"] == str(follower.id)
    listed = {m["name"]: m for m in body["members"]}
    assert set(listed) == {m.name for m in cluster.members}
    for m in cluster.members:
        assert listed[m.name]["ID"] == str(m.id)
        assert listed[m.name]["peerURLs"] == [f"tcp://127.0.0.1:{m.advertise_port}"]
        assert listed[m.name]["clientURLs"] == [f"http://127.0.0.1:{m.client_port}"]
        assert "isLearner" not in listed[m.name]


def test_bad_membership_requests_are_refused_and_change_nothing(cluster):
    leader = cluster.wait_for_leader()
    admin = Client(leader.client_port)
    before = admin.call("/v3/cluster/member/list", {})[1]["members"]
    assert admin.call("/v3/cluster/member/remove", {"ID": "12345"})[0] == 404
    assert admin.call("/v3/cluster/member/promote", {"ID": "12345"})[0] == 404
    code, body = admin.call("/v3/cluster/member/add", {"peerURLs": ["not a url"]})
    assert (code, body["code"]) == (400, 3) and "invalid" in body["error"]
    code, body = admin.call("/v3/cluster/member/add", {"peerURLs": [f"127.0.0.1:{leader.advertise_port}"]})
    assert (code, body["error"]) == (412, "etcdserver: Peer URLs already exists")
    code, body = admin.call("/v3/cluster/member/promote", {"ID": str(leader.id)})
    assert (code, body["error"]) == (412, "etcdserver: can only promote a learner member")
    assert admin.call("/v3/cluster/member/list", {})[1]["members"] == before


def test_a_removed_member_stops_and_comes_back_under_a_new_id_by_snapshot(cluster):
    leader = cluster.wait_for_leader()
    admin = Client(leader.client_port)
    for i in range(200):  # four snapshots' worth: the log the newcomer needs is gone
        assert admin.call("/v3/kv/put", {"key": b64(f"key{i:03}"), "value": b64("v" * 64)})[0] == 200
    victim = next(m for m in cluster.members if m is not leader)
    old_id = victim.id
    code, body = admin.call("/v3/cluster/member/remove", {"ID": str(old_id)})
    assert code == 200 and str(old_id) not in {m["ID"] for m in body["members"]}
    deadline = time.monotonic() + 15
    while victim.alive and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not victim.alive and victim.process.returncode == 1
    assert "was removed from the cluster" in victim.log_tail(20)
    victim.process = None
    victim.wipe()

    # Added back as a learner: it catches up, then it is promoted.
    code, body = admin.call(
        "/v3/cluster/member/add", {"peerURLs": [f"127.0.0.1:{victim.advertise_port}"], "isLearner": True},
    )
    assert code == 200 and body["member"]["isLearner"] is True
    victim.id = int(body["member"]["ID"])
    assert victim.id != old_id
    victim.start("existing")
    target = int(leader.status()["raftIndex"])
    status = _wait_applied(victim, target)
    assert status["header"]["member_id"] == str(victim.id)
    assert "installed a snapshot" in victim.log_tail(200)
    code, got = Client(victim.client_port).call("/v3/kv/range", {"key": b64("key"), "range_end": b64("kez")})
    assert code == 200 and got["count"] == "200"
    code, body = admin.call("/v3/cluster/member/promote", {"ID": str(victim.id)})
    assert code == 200, body
    promoted = next(m for m in body["members"] if m["ID"] == str(victim.id))
    assert "isLearner" not in promoted
    # It votes now: with the leader stopped, the two others elect one of them.
    leader.kill()
    new_leader = cluster.wait_for_leader(excluding=leader)
    assert new_leader is not leader
