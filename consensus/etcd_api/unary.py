"""The unary calls of etcd's API: which store call serves each kind of
request, and the maintenance answers the store does not produce itself.

A unary handler is ``async (store, request) -> response``: ``request`` is
the ``api`` dataclass a codec decoded (JSON or protobuf), ``response`` the
dataclass it encodes. Handlers do not authorize and do not bound their
time; ``calls.EtcdApi`` does both around every call.

Response headers: the state machine is deterministic and leaves the
member's identity out of its headers (``cluster_id``, ``member_id``,
``raft_term``). ``stamp`` fills them in at the edge, as etcd's server does,
so a client sees the same header on every endpoint.

``hash`` (``Maintenance.Hash``, ``/v3/maintenance/hash``) answers with the
store's *KV* hash at the current revision (``StoreStateMachine.hash_kv``: a CRC-32 of the
kept key-value history), not etcd's CRC of the whole backend database file:
our backend is not bbolt, so no byte-level hash could match etcd's anyway.
It is equal on members that applied the same log, which is what the hash is
used for. ``hashkv`` is etcd's ``Maintenance.HashKV`` (the gateway serves
it at our extension path ``/v3/maintenance/hashkv``; etcd 3.4's gateway
answers 404 there): etcd's ``HashKVResponse`` (header, hash,
compact_revision), read linearizably, so members can be compared at one
revision.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

from consensus.mvcc.api import ResponseHeader
from consensus.mvcc.replicated_store import ReplicatedStore

UnaryHandler = Callable[[ReplicatedStore, Any], Awaitable[Any]]

# The etcd API version a node reports in /v3/maintenance/status (the one its
# JSON is checked against is 3.4.23; clients compare major.minor).
ETCD_API_VERSION = "3.4.0"
NO_LEADER = "etcdserver: no leader"


def _call(method: str) -> UnaryHandler:
    """A handler that passes the request to the store method ``method``."""

    def handler(store: ReplicatedStore, request: Any) -> Awaitable[Any]:
        return getattr(store, method)(request)

    handler.__name__ = method
    return handler


def _lease_leases(store: ReplicatedStore, request: Any) -> Awaitable[Any]:
    return store.lease_leases()


def _hash(store: ReplicatedStore, request: Any) -> Awaitable[Any]:
    return store.hash()


UNARY_HANDLERS: dict[str, UnaryHandler] = {
    "range": _call("range"),
    "put": _call("put"),
    "deleterange": _call("delete_range"),
    "txn": _call("txn"),
    "compaction": _call("compact"),
    "lease_grant": _call("lease_grant"),
    "lease_revoke": _call("lease_revoke"),
    "lease_timetolive": _call("lease_time_to_live"),
    "lease_leases": _lease_leases,
    "hash": _hash,
    "hashkv": _call("hash_kv"),
    "defragment": _call("defragment"),
    "alarm": _call("alarm"),
}

def stamp(response: Any, identity: ResponseHeader) -> Any:
    """``response`` with this member's identity (``identity``: cluster ID,
    member ID and Raft term, e.g. ``ReplicatedStore.header()``) in its
    header; the revision stays the state machine's."""
    header = response.header
    if (header.cluster_id, header.member_id, header.raft_term) == (
        identity.cluster_id, identity.member_id, identity.raft_term
    ):
        return response
    return dataclasses.replace(
        response,
        header=ResponseHeader(
            cluster_id=identity.cluster_id, member_id=identity.member_id, revision=header.revision,
            raft_term=identity.raft_term,
        ),
    )


@dataclass(frozen=True, slots=True)
class MemberStatus:
    """etcd 3.4's ``StatusResponse`` for this member (header aside, which is
    the member's identity at the store's revision). ``db_size`` is the
    database file's size, ``db_size_in_use`` the bytes the quota counts,
    ``raft_index`` the commit index."""

    header: ResponseHeader
    version: str
    db_size: int
    leader: int
    raft_index: int
    raft_term: int
    raft_applied_index: int
    db_size_in_use: int
    is_learner: bool
    errors: tuple[str, ...] = ()  # no leader, raised alarms: etcd's words


def member_status(store: ReplicatedStore) -> MemberStatus:
    """This member's status, read from the node and the state machine as
    they are now (no read through Raft, as in etcd)."""
    status = store.node.status()
    machine = store.machine
    identity = store.header()
    return MemberStatus(
        header=ResponseHeader(cluster_id=identity.cluster_id, member_id=status.id, revision=machine.revision,
                              raft_term=status.term),
        version=ETCD_API_VERSION,
        db_size=machine.db_size_bytes,
        leader=status.leader,
        raft_index=status.commit,
        raft_term=status.term,
        raft_applied_index=status.applied,
        db_size_in_use=machine.stored_bytes,
        is_learner=status.id in status.learners,
        errors=(*(() if status.leader else (NO_LEADER,)),
                *(f"memberID:{a.memberID} alarm:{a.alarm.name} " for a in machine.alarms)),
    )
