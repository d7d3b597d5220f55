"""The whole cluster at a glance, as one member sees it (``/api/v1/cluster/status``).

Each member reports its own Raft state; this member asks the others for
theirs over their client URLs (``/v3/maintenance/status``, which needs no
credentials, as in etcd) with a short timeout, in parallel, so one member
that is down or partitioned costs at most that timeout and shows up as
``unreachable`` instead of hanging the page.
"""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from .members import ClusterMembers, MemberInfo

PEER_STATUS_TIMEOUT = 1.0

# What an operator reads for each raised alarm (the console's dashboard shows it).
ALARM_ADVICE = {
    "NOSPACE": "the store is over its quota (--quota-backend-bytes): writes that add data are refused until "
               "it is compacted, defragmented and the alarm disarmed (etcdctl alarm disarm)",
    "CORRUPT": "a member's data differs from the others': stop it and restore it from a snapshot",
}


def alarm_entries(machine) -> list[dict]:
    """The raised alarms (replicated, so every member reports the same)."""
    return [{"member_id": str(a.memberID), "alarm": a.alarm.name,
             "message": f"Alarm {a.alarm.name} raised for member {a.memberID:x}: "
                        f"{ALARM_ADVICE.get(a.alarm.name, 'see etcdctl alarm list')}."}
            for a in machine.alarms]


def _fetch_status(client_url: str, timeout: float) -> dict:
    request = urllib.request.Request(client_url.rstrip("/") + "/v3/maintenance/status", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


async def _remote(member: MemberInfo, timeout: float) -> dict | None:
    for url in member.client_urls:
        try:
            return await asyncio.wait_for(asyncio.to_thread(_fetch_status, url, timeout), timeout + 0.5)
        except (urllib.error.URLError, OSError, ValueError, asyncio.TimeoutError):
            continue
    return None


def _entry(member: MemberInfo, status: dict | None, leader: int) -> dict:
    entry = {
        "id": str(member.id),
        "name": member.name,
        "peer_urls": list(member.peer_urls),
        "client_urls": list(member.client_urls),
        "is_learner": member.is_learner,
    }
    if status is None:
        entry.update(reachable=False, role="unreachable")
        return entry
    entry.update(
        reachable=True,
        role="leader" if member.id == leader and leader else ("learner" if member.is_learner else "follower"),
        term=int(status.get("raftTerm", 0)),
        commit_index=int(status.get("raftIndex", 0)),
        applied_index=int(status.get("raftAppliedIndex", 0)),
        db_size_bytes=int(status.get("dbSize", 0)),
        revision=int(status.get("header", {}).get("revision", 0)),
        leader=str(status.get("leader", "0")),
    )
    return entry


def local_status(members: ClusterMembers) -> dict:
    """This member's status in the shape of ``/v3/maintenance/status``."""
    status = members.node.status()
    machine = members.store.machine
    return {
        "header": {"revision": str(machine.revision)},
        "leader": str(status.leader),
        "raftIndex": str(status.commit),
        "raftTerm": str(status.term),
        "raftAppliedIndex": str(status.applied),
        "dbSize": str(machine.db_size_bytes),
    }


async def cluster_status(members: ClusterMembers, *, timeout: float = PEER_STATUS_TIMEOUT) -> dict:
    """Every member's role, term, indexes, lag and database size."""
    node_status = members.node.status()
    leader = node_status.leader
    listed = members.members()
    others = [m for m in listed if m.id != node_status.id]
    remote = await asyncio.gather(*(_remote(m, timeout) for m in others))
    by_id = {m.id: s for m, s in zip(others, remote)}
    by_id[node_status.id] = local_status(members)
    entries = [_entry(m, by_id.get(m.id), leader) for m in listed]
    leader_commit = next((e["commit_index"] for e in entries if e.get("role") == "leader"), node_status.commit)
    for entry in entries:
        if entry["reachable"]:
            entry["lag"] = max(0, leader_commit - entry["applied_index"])
    return {
        "cluster_id": str(members.store.cluster_id),
        "member_id": str(node_status.id),
        "leader": str(leader),
        "has_leader": bool(leader),
        "revision": members.store.machine.revision,
        "members": entries,
        "alarms": alarm_entries(members.store.machine),
    }
