"""The cluster at a glance, from ``/api/v1/cluster/status`` of the first
endpoint that answers: per member its role, term, commit and applied index,
lag behind the leader's commit, database size, and whether the member asked
could reach it. The member asked reports what it sees: a member cut off
from the others reports them unreachable and, once its election timeout
passed, no leader.
"""
from __future__ import annotations

from dataclasses import dataclass

from .client import GatewayClient
from .table import human_bytes, render_table

STATUS_PATH = "/api/v1/cluster/status"


@dataclass(frozen=True)
class ClusterStatus:
    """The status page's JSON (``raw``), as seen by ``endpoint``."""

    endpoint: str
    raw: dict

    @property
    def has_leader(self) -> bool:
        return bool(self.raw.get("has_leader")) and int(self.raw.get("leader", 0) or 0) != 0

    @property
    def leader(self) -> dict | None:
        leader = int(self.raw.get("leader", 0) or 0)
        return next((m for m in self.members if int(m.get("id", 0)) == leader), None) if leader else None

    @property
    def members(self) -> list[dict]:
        return list(self.raw.get("members", []))


def cluster_status(client: GatewayClient) -> ClusterStatus:
    raw = client.get(STATUS_PATH)
    return ClusterStatus(str(client.endpoint), raw)


def _number(entry: dict, key: str) -> str:
    return str(entry[key]) if entry.get("reachable") and key in entry else "-"


def status_table(status: ClusterStatus) -> str:
    rows = []
    for m in status.members:
        reachable = bool(m.get("reachable"))
        rows.append((
            m.get("name") or "(not started)",
            format(int(m["id"]), "x"),
            m.get("role", "?") if reachable else "-",
            _number(m, "term"),
            _number(m, "commit_index"),
            _number(m, "applied_index"),
            _number(m, "lag"),
            human_bytes(int(m["db_size_bytes"])) if reachable and "db_size_bytes" in m else "-",
            "yes" if reachable else "no",
        ))
    return render_table(("NAME", "ID", "ROLE", "TERM", "COMMIT", "APPLIED", "LAG", "DB SIZE", "REACHABLE"), rows)


def status_report(status: ClusterStatus) -> str:
    """A heading (cluster, who answered, the leader) and the table."""
    raw = status.raw
    asked = format(int(raw.get("member_id", 0) or 0), "x")
    leader = status.leader
    if status.has_leader:
        leader_text = f"{leader.get('name') or '?'} ({format(int(leader['id']), 'x')})" if leader else raw.get("leader")
    else:
        leader_text = "none"
    heading = (
        f"cluster {int(raw.get('cluster_id', 0) or 0):x}, as member {asked} at {status.endpoint} sees it; "
        f"leader: {leader_text}; revision {raw.get('revision', '?')}"
    )
    return heading + "\n\n" + status_table(status)
