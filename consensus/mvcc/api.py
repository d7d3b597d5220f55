"""Requests, responses and errors of the replicated store, shaped after etcd
v3's ``etcdserverpb`` messages field for field.

These are the state machine's vocabulary: a committed log entry carries one
request, applying it yields one response. ``json_codec`` maps them to and from
the JSON that etcd's gRPC gateway speaks, so the same bytes a tool sends to a
real etcd reach this store unchanged.

Bytes fields (keys, values) are ``bytes``; revisions and IDs are ints. A
default value means "not set", exactly as in proto3.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Union

# -- errors --------------------------------------------------------------------
# Messages are etcd's own, so clients that match on them keep working. The
# code is the gRPC status code the gateway reports next to the message.


class StoreError(Exception):
    grpc_code = 2  # UNKNOWN
    message = "etcdserver: unknown error"

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def text(self) -> str:
        return str(self)


class CompactedError(StoreError):
    grpc_code = 11  # OUT_OF_RANGE
    message = "etcdserver: mvcc: required revision has been compacted"

    def __init__(self, compact_revision: int) -> None:
        super().__init__()
        self.compact_revision = compact_revision


class FutureRevisionError(StoreError):
    grpc_code = 11
    message = "etcdserver: mvcc: required revision is a future revision"


class LeaseNotFoundError(StoreError):
    grpc_code = 5  # NOT_FOUND
    message = "etcdserver: requested lease not found"


class LeaseExistsError(StoreError):
    grpc_code = 9  # FAILED_PRECONDITION
    message = "etcdserver: lease already exists"


class LeaseTTLTooLargeError(StoreError):
    grpc_code = 11
    message = "etcdserver: too large lease TTL"


class KeyNotProvidedError(StoreError):
    grpc_code = 3  # INVALID_ARGUMENT
    message = "etcdserver: key is not provided"


class DuplicateKeyError(StoreError):
    grpc_code = 3
    message = "etcdserver: duplicate key given in txn request"


class TooManyOpsError(StoreError):
    grpc_code = 3
    message = "etcdserver: too many operations in txn request"


class RequestTooLargeError(StoreError):
    grpc_code = 3
    message = "etcdserver: request is too large"


class NoSpaceError(StoreError):
    grpc_code = 8  # RESOURCE_EXHAUSTED
    message = "etcdserver: mvcc: database space exceeded"


class KeyNotFoundError(StoreError):
    """``ignore_value``/``ignore_lease`` on a key that does not exist."""

    grpc_code = 3
    message = "etcdserver: key not found"


class ValueProvidedError(StoreError):
    """``ignore_value`` together with a non-empty value."""

    grpc_code = 3
    message = "etcdserver: value is provided"


class LeaseProvidedError(StoreError):
    """``ignore_lease`` together with a lease."""

    grpc_code = 3
    message = "etcdserver: lease is provided"


class KeyTooLargeError(StoreError):
    """A key longer than ``Limits.max_key_bytes`` (etcd has no such limit of
    its own beyond the request size; ours defaults to the same bound)."""

    grpc_code = 3
    message = "etcdserver: key is too large"


class InvalidRequestError(StoreError):
    """A malformed request (bad enum value, negative limit, ...); the message
    names the field."""

    grpc_code = 3


# -- key-value ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResponseHeader:
    cluster_id: int = 0
    member_id: int = 0
    revision: int = 0
    raft_term: int = 0


@dataclass(frozen=True, slots=True)
class KeyValue:
    key: bytes
    create_revision: int = 0
    mod_revision: int = 0
    version: int = 0
    value: bytes = b""
    lease: int = 0


class SortOrder(enum.IntEnum):
    NONE = 0
    ASCEND = 1
    DESCEND = 2


class SortTarget(enum.IntEnum):
    KEY = 0
    VERSION = 1
    CREATE = 2
    MOD = 3
    VALUE = 4


@dataclass(frozen=True, slots=True)
class RangeRequest:
    key: bytes = b""
    range_end: bytes = b""
    limit: int = 0
    revision: int = 0
    sort_order: SortOrder = SortOrder.NONE
    sort_target: SortTarget = SortTarget.KEY
    serializable: bool = False
    keys_only: bool = False
    count_only: bool = False
    min_mod_revision: int = 0
    max_mod_revision: int = 0
    min_create_revision: int = 0
    max_create_revision: int = 0


@dataclass(frozen=True, slots=True)
class RangeResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    kvs: tuple[KeyValue, ...] = ()
    more: bool = False
    count: int = 0


@dataclass(frozen=True, slots=True)
class PutRequest:
    key: bytes = b""
    value: bytes = b""
    lease: int = 0
    prev_kv: bool = False
    ignore_value: bool = False
    ignore_lease: bool = False


@dataclass(frozen=True, slots=True)
class PutResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    prev_kv: KeyValue | None = None


@dataclass(frozen=True, slots=True)
class DeleteRangeRequest:
    key: bytes = b""
    range_end: bytes = b""
    prev_kv: bool = False


@dataclass(frozen=True, slots=True)
class DeleteRangeResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    deleted: int = 0
    prev_kvs: tuple[KeyValue, ...] = ()


class CompareResult(enum.IntEnum):
    EQUAL = 0
    GREATER = 1
    LESS = 2
    NOT_EQUAL = 3


class CompareTarget(enum.IntEnum):
    VERSION = 0
    CREATE = 1
    MOD = 2
    VALUE = 3
    LEASE = 4


@dataclass(frozen=True, slots=True)
class Compare:
    """``target`` of every key in ``[key, range_end)`` (or ``key`` alone)
    compared with ``operand`` (an int, or bytes for VALUE)."""

    result: CompareResult = CompareResult.EQUAL
    target: CompareTarget = CompareTarget.VERSION
    key: bytes = b""
    operand: int | bytes = 0
    range_end: bytes = b""


RequestOp = Union[RangeRequest, PutRequest, DeleteRangeRequest, "TxnRequest"]
ResponseOp = Union[RangeResponse, PutResponse, DeleteRangeResponse, "TxnResponse"]


@dataclass(frozen=True, slots=True)
class TxnRequest:
    compare: tuple[Compare, ...] = ()
    success: tuple[RequestOp, ...] = ()
    failure: tuple[RequestOp, ...] = ()


@dataclass(frozen=True, slots=True)
class TxnResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    succeeded: bool = False
    responses: tuple[ResponseOp, ...] = ()


@dataclass(frozen=True, slots=True)
class CompactionRequest:
    revision: int = 0
    physical: bool = False


@dataclass(frozen=True, slots=True)
class CompactionResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class HashKVResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    hash: int = 0
    compact_revision: int = 0


@dataclass(frozen=True, slots=True)
class HashRequest:
    """etcd's ``HashRequest``: a hash of the whole backend (no fields)."""


@dataclass(frozen=True, slots=True)
class HashResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    hash: int = 0


@dataclass(frozen=True, slots=True)
class DefragmentRequest:
    """etcd's ``DefragmentRequest`` (no fields)."""


@dataclass(frozen=True, slots=True)
class DefragmentResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class HashKVRequest:
    revision: int = 0


# -- leases ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LeaseGrantRequest:
    TTL: int = 0
    ID: int = 0  # 0: the store picks one


@dataclass(frozen=True, slots=True)
class LeaseGrantResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    ID: int = 0
    TTL: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class LeaseRevokeRequest:
    ID: int = 0


@dataclass(frozen=True, slots=True)
class LeaseRevokeResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveRequest:
    ID: int = 0


@dataclass(frozen=True, slots=True)
class LeaseKeepAliveResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    ID: int = 0
    TTL: int = 0


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveRequest:
    ID: int = 0
    keys: bool = False


@dataclass(frozen=True, slots=True)
class LeaseTimeToLiveResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    ID: int = 0
    TTL: int = 0  # remaining seconds; -1 if the lease does not exist
    grantedTTL: int = 0
    keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseStatus:
    ID: int


@dataclass(frozen=True, slots=True)
class LeaseLeasesResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    leases: tuple[LeaseStatus, ...] = ()


@dataclass(frozen=True, slots=True)
class LeaseLeasesRequest:
    """etcd's ``LeaseLeasesRequest`` (no fields)."""


# -- watches -------------------------------------------------------------------------


class EventType(enum.IntEnum):
    PUT = 0
    DELETE = 1


@dataclass(frozen=True, slots=True)
class Event:
    type: EventType
    kv: KeyValue
    prev_kv: KeyValue | None = None


class WatchFilter(enum.IntEnum):
    NOPUT = 0
    NODELETE = 1


@dataclass(frozen=True, slots=True)
class WatchCreateRequest:
    key: bytes = b""
    range_end: bytes = b""
    start_revision: int = 0
    progress_notify: bool = False
    filters: tuple[WatchFilter, ...] = ()
    prev_kv: bool = False
    watch_id: int = 0


@dataclass(frozen=True, slots=True)
class WatchResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    watch_id: int = 0
    created: bool = False
    canceled: bool = False
    compact_revision: int = 0
    cancel_reason: str = ""
    events: tuple[Event, ...] = ()


@dataclass(frozen=True, slots=True)
class WatchCancelRequest:
    watch_id: int = 0


@dataclass(frozen=True, slots=True)
class WatchProgressRequest:
    """etcd's ``WatchProgressRequest`` (no fields)."""


# -- alarms ----------------------------------------------------------------------------


class AlarmType(enum.IntEnum):
    NONE = 0  # in a request: every type
    NOSPACE = 1
    CORRUPT = 2


class AlarmAction(enum.IntEnum):
    GET = 0
    ACTIVATE = 1
    DEACTIVATE = 2


@dataclass(frozen=True, slots=True)
class AlarmRequest:
    """etcd's ``AlarmRequest``: list, raise or clear an alarm of a member
    (``memberID`` 0 with GET: every member's)."""

    action: AlarmAction = AlarmAction.GET
    memberID: int = 0
    alarm: AlarmType = AlarmType.NONE


@dataclass(frozen=True, slots=True)
class AlarmMember:
    memberID: int = 0
    alarm: AlarmType = AlarmType.NONE


@dataclass(frozen=True, slots=True)
class AlarmResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    alarms: tuple[AlarmMember, ...] = ()


# -- limits --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Limits:
    """etcd's defaults; each is enforced before anything is applied."""

    max_request_bytes: int = 1_572_864
    max_txn_ops: int = 128
    max_key_bytes: int = 1_572_864
    quota_backend_bytes: int = 2 * 1024 * 1024 * 1024
    min_lease_ttl: int = 2  # etcd: 1.5 election timeouts (1.5 s by default), rounded up to whole seconds
    max_lease_ttl: int = 9_000_000_000
