"""``/v3/maintenance/status``'s answer: etcd 3.4's ``StatusResponse`` in
the gateway's JSON, fields in the order etcd writes them (``dbSize``,
``raftIndex`` and the rest in camel case, int64 quoted, defaults left out).
"""
from __future__ import annotations

from consensus.etcd_api.unary import MemberStatus


def _int64(value: int) -> str | None:
    # proto3 JSON: int64 quoted, zero left out
    return str(value) if value else None


def status_json(status: MemberStatus) -> dict:
    """The JSON object of ``status``."""
    header = {
        "cluster_id": _int64(status.header.cluster_id),
        "member_id": _int64(status.header.member_id),
        "revision": _int64(status.header.revision),
        "raft_term": _int64(status.header.raft_term),
    }
    body = {
        "header": {k: v for k, v in header.items() if v is not None},
        "version": status.version,
        "dbSize": _int64(status.db_size),
        "leader": _int64(status.leader),
        "raftIndex": _int64(status.raft_index),
        "raftTerm": _int64(status.raft_term),
        "raftAppliedIndex": _int64(status.raft_applied_index),
        "errors": list(status.errors) or None,
        "dbSizeInUse": _int64(status.db_size_in_use),
        "isLearner": True if status.is_learner else None,
    }
    return {k: v for k, v in body.items() if v is not None}
