"""The gateway's endpoint paths and the *kind* of request each one serves.

``PATHS`` maps every path etcd 3.4.23's gateway answers to a kind
(``"range"``, ``"lease_grant"``, ...). The lease paths exist both as
``/v3/lease/...`` and ``/v3/kv/lease/...``. ``/v3/maintenance/hash`` answers
etcd's whole-backend ``Hash``, not ``HashKV``: both RPCs declare that path in
3.4's ``rpc.proto`` and ``Hash`` wins, so ``HashKV`` is reachable over gRPC
only (``etcdctl endpoint hashkv``); ``/v3/maintenance/hashkv`` is a 404.

A kind also names the response type an answer decodes to, and whether the
endpoint streams (``STREAMING_KINDS``, see ``streams``).
"""
from __future__ import annotations

from typing import Any

from consensus.mvcc.api import (
    CompactionRequest,
    CompactionResponse,
    DefragmentRequest,
    DefragmentResponse,
    AlarmRequest,
    AlarmResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    HashKVRequest,
    HashKVResponse,
    HashRequest,
    HashResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    WatchCancelRequest,
    WatchCreateRequest,
    WatchProgressRequest,
    WatchResponse,
)

PATHS: dict[str, str] = {
    "/v3/kv/range": "range",
    "/v3/kv/put": "put",
    "/v3/kv/deleterange": "deleterange",
    "/v3/kv/txn": "txn",
    "/v3/kv/compaction": "compaction",
    "/v3/lease/grant": "lease_grant",
    "/v3/lease/revoke": "lease_revoke",
    "/v3/kv/lease/revoke": "lease_revoke",
    "/v3/lease/keepalive": "lease_keepalive",
    "/v3/lease/timetolive": "lease_timetolive",
    "/v3/kv/lease/timetolive": "lease_timetolive",
    "/v3/lease/leases": "lease_leases",
    "/v3/kv/lease/leases": "lease_leases",
    "/v3/maintenance/hash": "hash",
    "/v3/maintenance/defragment": "defragment",
    "/v3/maintenance/alarm": "alarm",
    "/v3/watch": "watch",
}

# The canonical path of each kind (the first one listed above). ``hashkv`` has
# none: etcd 3.4's gateway does not reach it (see the module docstring).
_CANONICAL_PATH: dict[str, str] = {}
for _path, _kind in PATHS.items():
    _CANONICAL_PATH.setdefault(_kind, _path)

STREAMING_KINDS = frozenset({"watch", "lease_keepalive"})

_REQUEST_KIND: dict[type, str] = {
    RangeRequest: "range",
    PutRequest: "put",
    DeleteRangeRequest: "deleterange",
    TxnRequest: "txn",
    CompactionRequest: "compaction",
    LeaseGrantRequest: "lease_grant",
    LeaseRevokeRequest: "lease_revoke",
    LeaseKeepAliveRequest: "lease_keepalive",
    LeaseTimeToLiveRequest: "lease_timetolive",
    LeaseLeasesRequest: "lease_leases",
    HashRequest: "hash",
    DefragmentRequest: "defragment",
    AlarmRequest: "alarm",
    HashKVRequest: "hashkv",
    WatchCreateRequest: "watch",
    WatchCancelRequest: "watch",
    WatchProgressRequest: "watch",
}

# The request type a unary kind decodes to; ``watch`` is a oneof of three
# (``streams.WATCH_REQUESTS``).
UNARY_REQUEST_TYPE: dict[str, type] = {
    "range": RangeRequest, "put": PutRequest, "deleterange": DeleteRangeRequest,
    "txn": TxnRequest, "compaction": CompactionRequest, "lease_grant": LeaseGrantRequest,
    "lease_revoke": LeaseRevokeRequest, "lease_keepalive": LeaseKeepAliveRequest,
    "lease_timetolive": LeaseTimeToLiveRequest, "lease_leases": LeaseLeasesRequest,
    "hash": HashRequest, "hashkv": HashKVRequest, "defragment": DefragmentRequest,
    "alarm": AlarmRequest,
}

RESPONSE_TYPE: dict[str, type] = {
    "range": RangeResponse,
    "put": PutResponse,
    "deleterange": DeleteRangeResponse,
    "txn": TxnResponse,
    "compaction": CompactionResponse,
    "lease_grant": LeaseGrantResponse,
    "lease_revoke": LeaseRevokeResponse,
    "lease_keepalive": LeaseKeepAliveResponse,
    "lease_timetolive": LeaseTimeToLiveResponse,
    "lease_leases": LeaseLeasesResponse,
    "hash": HashResponse,
    "defragment": DefragmentResponse,
    "alarm": AlarmResponse,
    "hashkv": HashKVResponse,
    "watch": WatchResponse,
}


def kind_of(request: Any) -> str:
    """The kind (``"range"``, ``"lease_grant"``, ...) a request belongs to."""
    try:
        return _REQUEST_KIND[type(request)]
    except KeyError:
        raise TypeError(f"{type(request).__name__} is not a request this codec knows") from None


def path_of(request: Any) -> str:
    """The gateway path a request is POSTed to."""
    kind = kind_of(request)
    try:
        return _CANONICAL_PATH[kind]
    except KeyError:
        raise ValueError(f"etcd 3.4's gateway has no path for {kind!r} requests") from None


def resolve_kind(path_or_kind: str) -> str:
    """The kind of a gateway path, or ``path_or_kind`` itself if it is a kind.
    Raises ``ValueError`` for anything else."""
    if path_or_kind in PATHS:
        return PATHS[path_or_kind]
    if path_or_kind in RESPONSE_TYPE:
        return path_or_kind
    raise ValueError(f"unknown path or kind {path_or_kind!r}; paths: {sorted(PATHS)}")
