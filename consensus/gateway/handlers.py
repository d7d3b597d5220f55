"""The unary endpoints: which store call serves each kind of request, and
the maintenance answers the store does not produce itself.

A unary handler is ``async (store, request) -> response``: ``request`` is
the ``api`` dataclass json_codec decoded, ``response`` the dataclass the
gateway encodes. Handlers do not authorize and do not bound their time;
``app`` does both around every call.

Response headers: the state machine is deterministic and leaves the
member's identity out of its headers (``cluster_id``, ``member_id``,
``raft_term``). ``stamp`` fills them in at the edge, as etcd's server does,
so a client sees the same header on every endpoint.

``/v3/maintenance/hash`` answers ``HashResponse.hash`` with the store's *KV*
hash at the current revision (``StoreStateMachine.hash_kv``: a CRC-32 of the
kept key-value history), not etcd's CRC of the whole backend database file:
our backend is not bbolt, so no byte-level hash could match etcd's anyway.
It is equal on members that applied the same log, which is what the hash is
used for. ``/v3/maintenance/hashkv`` is our extension (etcd 3.4's gateway
answers 404 there; its ``HashKV`` is gRPC-only): body ``{"revision": "N"}``,
answer etcd's ``HashKVResponse`` (header, hash, compact_revision), read
linearizably, so members can be compared at one revision.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Awaitable, Callable

from consensus.mvcc.api import ResponseHeader
from consensus.mvcc.replicated_store import ReplicatedStore

UnaryHandler = Callable[[ReplicatedStore, Any], Awaitable[Any]]

# The etcd API version a node reports in /v3/maintenance/status (the one its
# JSON is checked against is 3.4.23; clients compare major.minor).
ETCD_API_VERSION = "3.4.0"


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
}

# Our extension path for HashKV (module docstring).
HASHKV_PATH = "/v3/maintenance/hashkv"
STATUS_PATH = "/v3/maintenance/status"


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


def _int64(value: int) -> str | None:
    # proto3 JSON: int64 quoted, zero left out
    return str(value) if value else None


def status_json(store: ReplicatedStore) -> dict:
    """etcd 3.4's ``StatusResponse`` for this member, field order as etcd
    writes it. ``dbSize`` is the database file's size, ``dbSizeInUse`` the
    bytes the quota counts; ``raftIndex`` is the commit index."""
    status = store.node.status()
    machine = store.machine
    identity = store.header()
    header = {
        "cluster_id": _int64(identity.cluster_id),
        "member_id": _int64(status.id),
        "revision": _int64(machine.revision),
        "raft_term": _int64(status.term),
    }
    body = {
        "header": {k: v for k, v in header.items() if v is not None},
        "version": ETCD_API_VERSION,
        "dbSize": _int64(machine.db_size_bytes),
        "leader": _int64(status.leader),
        "raftIndex": _int64(status.commit),
        "raftTerm": _int64(status.term),
        "raftAppliedIndex": _int64(status.applied),
        "dbSizeInUse": _int64(machine.stored_bytes),
        "isLearner": True if status.id in status.learners else None,
    }
    return {k: v for k, v in body.items() if v is not None}
