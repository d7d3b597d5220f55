"""Fault tests: a 3-member cluster of real processes under concurrent load
while members are killed, paused, partitioned, removed and re-added.

After each run:
- the history (every operation's invocation, completion and outcome) must
  be linearizable (``linearizability.check_history``), including a final
  read of every key, so every acknowledged write is accounted for;
- every member reports the same KV hash at the same revision;
- no client ever saw the revision go backwards.

The default run gives each fault class a few seconds of load (about two
minutes in all); ``--soak`` gives each one minutes at hundreds of
operations per second.
"""
from __future__ import annotations

import random
import time

import pytest

from .cluster import Client, ProcessCluster
from .linearizability import check_history
from .workload import Workload

CLIENTS = 8
KEYS = 10


@pytest.fixture
def durations(request):
    """(warm-up s, fault phase s, number of fault rounds)."""
    if request.config.getoption("--soak"):
        return 5.0, 30.0, 6
    return 1.0, 4.0, 2


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, 3, snapshot_count=200)
    try:
        c.start()
        yield c
    finally:
        c.close()


def _kill_leader(cluster, rng, phase):
    leader = cluster.wait_for_leader()
    leader.kill()
    time.sleep(phase / 2)
    leader.start()
    time.sleep(phase / 2)


def _kill_follower(cluster, rng, phase):
    leader = cluster.wait_for_leader()
    follower = rng.choice([m for m in cluster.members if m is not leader])
    follower.kill()
    time.sleep(phase / 2)
    follower.start()
    time.sleep(phase / 2)


def _pause_leader(cluster, rng, phase):
    leader = cluster.wait_for_leader()
    leader.pause()
    time.sleep(phase / 2)
    leader.resume()
    time.sleep(phase / 2)


def _partition_leader(cluster, rng, phase):
    leader = cluster.wait_for_leader()
    cluster.proxy.isolate(leader.id, [m.id for m in cluster.members])
    time.sleep(phase / 2)
    cluster.proxy.heal()
    time.sleep(phase / 2)


def _partition_follower(cluster, rng, phase):
    leader = cluster.wait_for_leader()
    follower = rng.choice([m for m in cluster.members if m is not leader])
    cluster.proxy.isolate(follower.id, [m.id for m in cluster.members])
    time.sleep(phase / 2)
    cluster.proxy.heal()
    time.sleep(phase / 2)


def _remove_and_readd(cluster, rng, phase):
    """Remove a follower, wipe its data dir, add it back as a new member:
    it must learn its new ID and catch up by snapshot (snapshot count 200)."""
    leader = cluster.wait_for_leader()
    victim = rng.choice([m for m in cluster.members if m is not leader])
    admin = Client(leader.client_port, 15)
    code, body = admin.call("/v3/cluster/member/remove", {"ID": str(victim.id)})
    assert code == 200, body
    deadline = time.monotonic() + 15
    while victim.alive and time.monotonic() < deadline:  # a removed member stops by itself
        time.sleep(0.1)
    assert not victim.alive, "a removed member kept running"
    victim.process = None  # its exit status (1, "removed") is expected
    victim.wipe()
    time.sleep(phase / 2)
    leader = cluster.wait_for_leader()
    code, body = Client(leader.client_port, 15).call(
        "/v3/cluster/member/add", {"peerURLs": [f"127.0.0.1:{victim.advertise_port}"]},
    )
    assert code == 200, body
    victim.id = int(body["member"]["ID"])
    victim.start("existing")
    time.sleep(phase / 2)


FAULTS = {
    "remove-readd": _remove_and_readd,
    "kill-leader": _kill_leader,
    "kill-follower": _kill_follower,
    "pause-leader": _pause_leader,
    "partition-leader": _partition_leader,
    "partition-follower": _partition_follower,
}


def _check_run(cluster: ProcessCluster, workload: Workload) -> None:
    workload.final_reads()
    operations = workload.recorder.operations()
    result = check_history(operations, timeout=120)
    assert not result.timed_out, "the linearizability check gave up: " + result.explanation
    assert result.ok, result.explanation
    assert workload.revisions_never_went_backwards() == []
    # Every member holds the same data at the same revision.
    statuses = cluster.wait_until_applied_everywhere()
    revision = min(int(s["header"]["revision"]) for s in statuses)
    hashes = {}
    for member in cluster.members:
        code, body = Client(member.client_port, 10).call("/v3/maintenance/hashkv", {"revision": str(revision)})
        assert code == 200, (member.name, body)
        hashes[member.name] = body["hash"]
    assert len(set(hashes.values())) == 1, f"members disagree at revision {revision}: {hashes}"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_history_stays_linearizable_through_faults(cluster, durations, fault, request):
    warmup, phase, rounds = durations
    rng = random.Random(fault)
    workload = Workload(cluster, clients=CLIENTS, keys=KEYS, seed=hash(fault) & 0xFFFF)
    workload.start()
    try:
        time.sleep(warmup)
        for _ in range(rounds):
            FAULTS[fault](cluster, rng, phase)
    finally:
        workload.stop()
        for member in cluster.members:
            if member.paused:
                member.resume()
        cluster.proxy.heal()
    ok = sum(log.ok for log in workload.logs)
    unknown = sum(log.unknown for log in workload.logs)
    print(f"{fault}: {ok} ok, {unknown} unknown, {sum(log.failed for log in workload.logs)} failed")
    assert ok > 50, f"only {ok} operations succeeded: the cluster did not recover from {fault}"
    _check_run(cluster, workload)
