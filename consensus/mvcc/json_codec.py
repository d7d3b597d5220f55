"""The JSON of etcd 3.4's gRPC gateway, to and from ``api`` dataclasses.

etcd 3.4 serves its v3 API as JSON on the client port (``POST /v3/kv/range``
and so on). This module is the one place that knows that JSON, so the store
can serve byte-for-byte what a real etcd would and the differential tests can
read a real etcd's answers into the same dataclasses the store returns.

Everything here was checked against etcd 3.4.23 (Debian bookworm), see
``tests/differential/test_json_codec.py``:

- Field names are the proto field names as written in ``rpc.proto``
  (``create_revision``, ``prev_kv``, ``grantedTTL``, ``ID``); on input the
  lowerCamel JSON names (``rangeEnd``, ``prevKv``) are accepted too, and when
  both spellings are present the lowerCamel one wins, as in golang/protobuf's
  ``jsonpb``. Unknown fields are ignored.
- int64/uint64 are decimal strings on output; on input a JSON integer or a
  quoted one. uint32 (the hash) is a bare number. bytes are standard,
  padded base64. Enums are written by name and read by name or number.
- Fields holding their default (0, false, empty, unset message) are omitted,
  except the response ``header``, which is always written (``{}`` when all of
  it is zero, as in a nested txn response), and a ``Compare``'s operand, which
  is a oneof and so is written even when it is zero.
- Errors: ``{"error": msg, "message": msg, "code": grpc_code}`` with the HTTP
  status grpc-gateway v1 gives that code (``OUT_OF_RANGE`` is 400,
  ``NOT_FOUND`` 404, ``FAILED_PRECONDITION`` 412, ...).
- The streaming endpoints (``/v3/watch``, ``/v3/lease/keepalive``) write one
  ``{"result": response}`` object per line. A body they cannot decode is
  reported with code 2 (UNKNOWN, HTTP 500) rather than 3.

Paths: ``PATHS`` maps every path 3.4.23 answers to a *kind* (``"range"``,
``"lease_grant"``, ...). The lease paths exist both as ``/v3/lease/...`` and
``/v3/kv/lease/...``. ``/v3/maintenance/hash`` answers etcd's whole-backend
``Hash``, not ``HashKV``: both RPCs declare that path in 3.4's ``rpc.proto``
and ``Hash`` wins, so ``HashKV`` is reachable over gRPC only (``etcdctl
endpoint hashkv``); ``/v3/maintenance/hashkv`` is a 404.

Where this codec deliberately differs from the gateway (a JSON shape our
dataclasses cannot hold), it rejects the request with ``InvalidRequestError``
instead of guessing:

- an enum number with no name (``"sort_order": 7``; etcd accepts it and
  treats it as "neither ascending nor descending");
- ``null`` inside a repeated message field (etcd 3.4 drops the connection);
- the wording of JSON *syntax* errors only approximates Go's
  ``encoding/json`` (status and code are exact).

Some messages the store needs have no dataclass in ``api`` yet; until they
move there they are defined here: ``HashRequest``, ``HashResponse``,
``HashKVRequest``, ``LeaseLeasesRequest``, ``WatchCancelRequest``,
``WatchProgressRequest``.
"""
from __future__ import annotations

import binascii
import enum
import json
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from consensus.mvcc.api import (
    Compare,
    CompactedError,
    CompactionRequest,
    CompactionResponse,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    DuplicateKeyError,
    Event,
    EventType,
    FutureRevisionError,
    HashKVResponse,
    InvalidRequestError,
    KeyNotFoundError,
    KeyNotProvidedError,
    KeyTooLargeError,
    KeyValue,
    LeaseExistsError,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseNotFoundError,
    LeaseProvidedError,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseStatus,
    LeaseTTLTooLargeError,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    NoSpaceError,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    RequestTooLargeError,
    ResponseHeader,
    SortOrder,
    SortTarget,
    StoreError,
    TooManyOpsError,
    TxnRequest,
    TxnResponse,
    ValueProvidedError,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)

__all__ = [
    "PATHS",
    "STREAMING_KINDS",
    "HashRequest",
    "HashResponse",
    "HashKVRequest",
    "LeaseLeasesRequest",
    "WatchCancelRequest",
    "WatchProgressRequest",
    "parse_body",
    "request_from_json",
    "request_to_json",
    "kind_of",
    "path_of",
    "response_to_json",
    "response_from_json",
    "stream_item",
    "error_to_json",
    "error_from_json",
    "http_status",
]


# -- messages api.py does not have yet ------------------------------------------------


@dataclass(frozen=True, slots=True)
class HashRequest:
    """etcd's ``HashRequest``: a hash of the whole backend (no fields)."""


@dataclass(frozen=True, slots=True)
class HashResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    hash: int = 0


@dataclass(frozen=True, slots=True)
class HashKVRequest:
    revision: int = 0


@dataclass(frozen=True, slots=True)
class LeaseLeasesRequest:
    """etcd's ``LeaseLeasesRequest`` (no fields)."""


@dataclass(frozen=True, slots=True)
class WatchCancelRequest:
    watch_id: int = 0


@dataclass(frozen=True, slots=True)
class WatchProgressRequest:
    """etcd's ``WatchProgressRequest`` (no fields)."""


# -- paths and kinds -----------------------------------------------------------------

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
    HashKVRequest: "hashkv",
    WatchCreateRequest: "watch",
    WatchCancelRequest: "watch",
    WatchProgressRequest: "watch",
}

_RESPONSE_TYPE: dict[str, type] = {
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


def _resolve_kind(path_or_kind: str) -> str:
    if path_or_kind in PATHS:
        return PATHS[path_or_kind]
    if path_or_kind in _RESPONSE_TYPE:
        return path_or_kind
    raise ValueError(f"unknown path or kind {path_or_kind!r}; paths: {sorted(PATHS)}")


# -- decoding errors ----------------------------------------------------------------


class RequestDecodeError(InvalidRequestError):
    """A body the gateway could not turn into a request. Code 3 on unary
    endpoints; streaming ones report code 2 (``for_kind`` sets it)."""

    def for_kind(self, kind: str) -> "RequestDecodeError":
        if kind in STREAMING_KINDS:
            self.grpc_code = 2
        return self


def _json_kind(value: Any) -> str:
    """Go's ``encoding/json`` name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, _RawNumber)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _type_error(value: Any, go_type: str) -> RequestDecodeError:
    return RequestDecodeError(f"json: cannot unmarshal {_json_kind(value)} into Go value of type {go_type}")


class _RawNumber(str):
    """A JSON number with a fraction or exponent, kept as written (Go quotes
    the literal in its error message)."""


def _syntax_error(text: str, error: json.JSONDecodeError) -> RequestDecodeError:
    # Go's messages name the offending character; this is close, not exact.
    if error.pos >= len(text):
        return RequestDecodeError("unexpected end of JSON input")
    char = text[error.pos]
    where = "looking for beginning of value"
    if error.msg.startswith("Expecting property name"):
        where = "looking for beginning of object key string"
    elif error.msg.startswith("Extra data"):
        where = "after top-level value"
    elif error.msg.startswith("Expecting ',' delimiter"):
        where = "after object key:value pair" if "{" in text else "after array element"
    return RequestDecodeError(f"invalid character {char!r} {where}")


def parse_body(raw: bytes | str, kind: str = "range") -> dict:
    """The JSON object of a request body, read as the gateway reads it: an
    empty body is ``{}``, only the first JSON value counts (anything after it
    is ignored), and it must be an object. Raises ``RequestDecodeError``."""
    kind = _resolve_kind(kind)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return {}
    decoder = json.JSONDecoder(parse_float=_RawNumber)
    try:
        value, _end = decoder.raw_decode(stripped)
    except json.JSONDecodeError as error:
        raise _syntax_error(stripped, error).for_kind(kind) from None
    if not isinstance(value, dict):
        raise _type_error(value, "map[string]json.RawMessage").for_kind(kind)
    return value


# -- scalar codecs ------------------------------------------------------------------
# Each codec turns one field's value into JSON (``None``: omit the field) and
# back. ``decode`` receives what ``json`` produced and raises RequestDecodeError.

_INT_LITERAL = re.compile(r"-?(0|[1-9][0-9]*)")


class _Int:
    def __init__(self, go_type: str, low: int, high: int, quoted: bool) -> None:
        self.go_type, self.low, self.high, self.quoted = go_type, low, high, quoted

    def encode(self, value: int) -> Any:
        if not value:
            return None
        return str(value) if self.quoted else value

    def decode(self, value: Any) -> int:
        if value is None:
            return 0
        if isinstance(value, bool):
            raise _type_error(value, self.go_type)
        if isinstance(value, str) and not isinstance(value, _RawNumber):
            # A quoted number: Go decodes what is inside the quotes as JSON.
            inner = value.strip(" \t\r\n")
            if not _INT_LITERAL.fullmatch(inner):
                try:
                    parsed = json.JSONDecoder(parse_float=_RawNumber).decode(inner)
                except json.JSONDecodeError as error:
                    raise _syntax_error(inner, error) from None
                if isinstance(parsed, (int, _RawNumber)) and not isinstance(parsed, bool):
                    raise RequestDecodeError(
                        f"json: cannot unmarshal number {inner} into Go value of type {self.go_type}"
                    )
                raise _type_error(parsed, self.go_type)
            value = int(inner)
        elif isinstance(value, _RawNumber):
            raise RequestDecodeError(f"json: cannot unmarshal number {value} into Go value of type {self.go_type}")
        elif not isinstance(value, int):
            raise _type_error(value, self.go_type)
        if not self.low <= value <= self.high:
            raise RequestDecodeError(f"json: cannot unmarshal number {value} into Go value of type {self.go_type}")
        return value


_INT64 = _Int("int64", -(2**63), 2**63 - 1, quoted=True)
_UINT64 = _Int("uint64", 0, 2**64 - 1, quoted=True)
_UINT32 = _Int("uint32", 0, 2**32 - 1, quoted=False)


class _Bool:
    def encode(self, value: bool) -> Any:
        return True if value else None

    def decode(self, value: Any) -> bool:
        if value is None:
            return False
        if not isinstance(value, bool):
            raise _type_error(value, "bool")
        return value


class _String:
    def encode(self, value: str) -> Any:
        return value or None

    def decode(self, value: Any) -> str:
        if value is None:
            return ""
        if not isinstance(value, str) or isinstance(value, _RawNumber):
            raise _type_error(value, "string")
        return value


_BASE64_VALUES = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")}


class _Bytes:
    def encode(self, value: bytes) -> Any:
        return base64_encode(value) if value else None

    def decode(self, value: Any) -> bytes:
        if value is None:
            return b""
        if not isinstance(value, str) or isinstance(value, _RawNumber):
            raise _type_error(value, "[]uint8")
        return base64_decode(value)


def base64_encode(data: bytes) -> str:
    """Standard, padded base64, as Go's ``encoding/json`` writes ``[]byte``."""
    return binascii.b2a_base64(data, newline=False).decode("ascii")


def base64_decode(text: str) -> bytes:
    """Standard, padded base64 read the way Go's ``encoding/base64`` reads it
    for ``encoding/json``: CR and LF are skipped, unused low bits of the last
    character are ignored, and an error names the offset Go names (the bad
    character, the start of an unfinished group, or what follows the padding).
    """
    out = bytearray()
    si, n = 0, len(text)
    while si < n:
        group: list[int] = []
        while len(group) < 4:
            if si == n:
                if not group:
                    return bytes(out)
                raise RequestDecodeError(f"illegal base64 data at input byte {si - len(group)}")
            char = text[si]
            si += 1
            if char in _BASE64_VALUES:
                group.append(_BASE64_VALUES[char])
                continue
            if char in "\r\n":
                continue
            if char != "=" or len(group) < 2:
                raise RequestDecodeError(f"illegal base64 data at input byte {si - 1}")
            if len(group) == 2:  # "==" expected; the first one is consumed
                while si < n and text[si] in "\r\n":
                    si += 1
                if si == n:
                    raise RequestDecodeError(f"illegal base64 data at input byte {n}")
                if text[si] != "=":
                    raise RequestDecodeError(f"illegal base64 data at input byte {si - 1}")
                si += 1
            while si < n and text[si] in "\r\n":
                si += 1
            if si < n:
                raise RequestDecodeError(f"illegal base64 data at input byte {si}")
            break
        bits = 0
        for value in group:
            bits = bits << 6 | value
        bits <<= 6 * (4 - len(group))
        out += bits.to_bytes(3, "big")[: len(group) - 1]
    return bytes(out)


class _Enum:
    def __init__(self, cls: type[enum.IntEnum], go_type: str) -> None:
        self.cls, self.go_type = cls, go_type

    def encode(self, value: enum.IntEnum) -> Any:
        return self.cls(value).name if value else None

    def decode(self, value: Any) -> enum.IntEnum:
        if value is None:
            return self.cls(0)
        if isinstance(value, str) and not isinstance(value, _RawNumber):
            try:
                return self.cls[value]
            except KeyError:
                raise RequestDecodeError(f'unknown value "{value}" for enum {self.go_type}') from None
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                return self.cls(value)
            except ValueError:
                # etcd keeps an unnamed number; our enums cannot hold one.
                raise RequestDecodeError(f"unknown value {value} for enum {self.go_type}") from None
        raise _type_error(value, self.go_type)


class _Message:
    def __init__(self, cls: type, optional: bool = True) -> None:
        # optional: an unset message is ``None`` in the dataclass (prev_kv);
        # otherwise it is the all-default instance, always written (header).
        self.cls, self.optional = cls, optional

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        return _encode_message(value)

    def decode(self, value: Any) -> Any:
        if value is None:
            return None if self.optional else self.cls()
        return _decode_message(self.cls, value)


class _Repeated:
    def __init__(self, item: Any, go_type: str) -> None:
        self.item, self.go_type = item, go_type

    def encode(self, values: tuple) -> Any:
        if not values:
            return None
        return [self._element(value) for value in values]

    def _element(self, value: Any) -> Any:
        """A repeated element is always written, even when it is the default
        (``[{}]``, ``["NOPUT"]``, ``[""]``)."""
        item = self.item
        if isinstance(item, _Message):
            return item.encode(value) or {}
        if isinstance(item, _Enum):
            return item.cls(value).name
        if isinstance(item, _Bytes):
            return base64_encode(value)
        if isinstance(item, _Int):
            return str(value) if item.quoted else value
        encoded = item.encode(value)
        return encoded if encoded is not None else value

    def decode(self, value: Any) -> tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise _type_error(value, f"[]{self.go_type}")
        items = []
        for element in value:
            if element is None and isinstance(self.item, _Message):
                raise RequestDecodeError(f"json: null element in a list of {self.item.cls.__name__}")
            items.append(self.item.decode(element))
        return tuple(items)


_BYTES, _BOOL, _STRING = _Bytes(), _Bool(), _String()


# -- message schemas -------------------------------------------------------------------


def _camel(name: str) -> str:
    """protoc's JSON name: underscores dropped, the next letter upper-cased."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


@dataclass(frozen=True)
class _Field:
    attr: str
    name: str
    codec: Any

    @property
    def json_name(self) -> str:
        return _camel(self.name)


def _f(name: str, codec: Any, attr: str | None = None) -> _Field:
    return _Field(attr or name, name, codec)


_HEADER = _Message(ResponseHeader, optional=False)
_KV = _Message(KeyValue)
_KVS = _Repeated(_Message(KeyValue), "json.RawMessage")

# Fields in proto field-number order, which is the order the gateway writes them.
_SCHEMAS: dict[type, tuple[_Field, ...]] = {
    ResponseHeader: (
        _f("cluster_id", _UINT64), _f("member_id", _UINT64), _f("revision", _INT64), _f("raft_term", _UINT64),
    ),
    KeyValue: (
        _f("key", _BYTES), _f("create_revision", _INT64), _f("mod_revision", _INT64),
        _f("version", _INT64), _f("value", _BYTES), _f("lease", _INT64),
    ),
    RangeRequest: (
        _f("key", _BYTES), _f("range_end", _BYTES), _f("limit", _INT64), _f("revision", _INT64),
        _f("sort_order", _Enum(SortOrder, "etcdserverpb.RangeRequest_SortOrder")),
        _f("sort_target", _Enum(SortTarget, "etcdserverpb.RangeRequest_SortTarget")),
        _f("serializable", _BOOL), _f("keys_only", _BOOL), _f("count_only", _BOOL),
        _f("min_mod_revision", _INT64), _f("max_mod_revision", _INT64),
        _f("min_create_revision", _INT64), _f("max_create_revision", _INT64),
    ),
    RangeResponse: (_f("header", _HEADER), _f("kvs", _KVS), _f("more", _BOOL), _f("count", _INT64)),
    PutRequest: (
        _f("key", _BYTES), _f("value", _BYTES), _f("lease", _INT64), _f("prev_kv", _BOOL),
        _f("ignore_value", _BOOL), _f("ignore_lease", _BOOL),
    ),
    PutResponse: (_f("header", _HEADER), _f("prev_kv", _KV)),
    DeleteRangeRequest: (_f("key", _BYTES), _f("range_end", _BYTES), _f("prev_kv", _BOOL)),
    DeleteRangeResponse: (_f("header", _HEADER), _f("deleted", _INT64), _f("prev_kvs", _KVS)),
    CompactionRequest: (_f("revision", _INT64), _f("physical", _BOOL)),
    CompactionResponse: (_f("header", _HEADER),),
    HashRequest: (),
    HashResponse: (_f("header", _HEADER), _f("hash", _UINT32)),
    HashKVRequest: (_f("revision", _INT64),),
    HashKVResponse: (_f("header", _HEADER), _f("hash", _UINT32), _f("compact_revision", _INT64)),
    LeaseGrantRequest: (_f("TTL", _INT64), _f("ID", _INT64)),
    LeaseGrantResponse: (_f("header", _HEADER), _f("ID", _INT64), _f("TTL", _INT64), _f("error", _STRING)),
    LeaseRevokeRequest: (_f("ID", _INT64),),
    LeaseRevokeResponse: (_f("header", _HEADER),),
    LeaseKeepAliveRequest: (_f("ID", _INT64),),
    LeaseKeepAliveResponse: (_f("header", _HEADER), _f("ID", _INT64), _f("TTL", _INT64)),
    LeaseTimeToLiveRequest: (_f("ID", _INT64), _f("keys", _BOOL)),
    LeaseTimeToLiveResponse: (
        _f("header", _HEADER), _f("ID", _INT64), _f("TTL", _INT64), _f("grantedTTL", _INT64),
        _f("keys", _Repeated(_BYTES, "[]byte")),
    ),
    LeaseLeasesRequest: (),
    LeaseStatus: (_f("ID", _INT64),),
    LeaseLeasesResponse: (
        _f("header", _HEADER), _f("leases", _Repeated(_Message(LeaseStatus), "json.RawMessage")),
    ),
    Event: (
        _f("type", _Enum(EventType, "mvccpb.Event_EventType")), _f("kv", _KV), _f("prev_kv", _KV),
    ),
    WatchCreateRequest: (
        _f("key", _BYTES), _f("range_end", _BYTES), _f("start_revision", _INT64),
        _f("progress_notify", _BOOL),
        _f("filters", _Repeated(_Enum(WatchFilter, "etcdserverpb.WatchCreateRequest_FilterType"),
                                "etcdserverpb.WatchCreateRequest_FilterType")),
        _f("prev_kv", _BOOL), _f("watch_id", _INT64),
    ),
    WatchCancelRequest: (_f("watch_id", _INT64),),
    WatchProgressRequest: (),
    WatchResponse: (
        _f("header", _HEADER), _f("watch_id", _INT64), _f("created", _BOOL), _f("canceled", _BOOL),
        _f("compact_revision", _INT64), _f("cancel_reason", _STRING),
        _f("events", _Repeated(_Message(Event), "json.RawMessage")),
    ),
}

# Request and response ops of a txn: a oneof, in proto field order.
_REQUEST_OPS: tuple[tuple[str, type], ...] = (
    ("request_range", RangeRequest),
    ("request_put", PutRequest),
    ("request_delete_range", DeleteRangeRequest),
    ("request_txn", TxnRequest),
)
_RESPONSE_OPS: tuple[tuple[str, type], ...] = (
    ("response_range", RangeResponse),
    ("response_put", PutResponse),
    ("response_delete_range", DeleteRangeResponse),
    ("response_txn", TxnResponse),
)
# A Compare's operand, a oneof: JSON field, target it belongs to, codec.
_COMPARE_OPERANDS: tuple[tuple[str, CompareTarget, Any], ...] = (
    ("version", CompareTarget.VERSION, _INT64),
    ("create_revision", CompareTarget.CREATE, _INT64),
    ("mod_revision", CompareTarget.MOD, _INT64),
    ("value", CompareTarget.VALUE, _BYTES),
    ("lease", CompareTarget.LEASE, _INT64),
)
_OPERAND_FIELD = {target: (name, codec) for name, target, codec in _COMPARE_OPERANDS}
_COMPARE_RESULT = _Enum(CompareResult, "etcdserverpb.Compare_CompareResult")
_COMPARE_TARGET = _Enum(CompareTarget, "etcdserverpb.Compare_CompareTarget")
# Watch requests: a oneof of three.
_WATCH_REQUESTS: tuple[tuple[str, type], ...] = (
    ("create_request", WatchCreateRequest),
    ("cancel_request", WatchCancelRequest),
    ("progress_request", WatchProgressRequest),
)


def _lookup(obj: dict, name: str) -> tuple[bool, Any]:
    """jsonpb accepts the proto name and the lowerCamel name; if both are
    present the lowerCamel one wins."""
    camel = _camel(name)
    if camel in obj:
        return True, obj[camel]
    if name in obj:
        return True, obj[name]
    return False, None


def _require_object(value: Any) -> dict:
    if not isinstance(value, dict):
        raise _type_error(value, "map[string]json.RawMessage")
    return value


def _encode_message(message: Any) -> dict:
    cls = type(message)
    if cls is Compare:
        return _encode_compare(message)
    if cls is TxnRequest:
        return _encode_txn_request(message)
    if cls is TxnResponse:
        return _encode_txn_response(message)
    out: dict[str, Any] = {}
    for spec in _schema(cls):
        value = spec.codec.encode(getattr(message, spec.attr))
        if spec.codec is _HEADER and value is None:
            value = {}
        if value is not None:
            out[spec.name] = value
    return out


def _decode_message(cls: type, value: Any) -> Any:
    obj = _require_object(value)
    if cls is Compare:
        return _decode_compare(obj)
    if cls is TxnRequest:
        return _decode_txn_request(obj)
    if cls is TxnResponse:
        return _decode_txn_response(obj)
    kwargs = {}
    for spec in _schema(cls):
        present, raw = _lookup(obj, spec.name)
        if present:
            kwargs[spec.attr] = spec.codec.decode(raw)
    if cls is KeyValue:
        kwargs.setdefault("key", b"")
    elif cls is Event:
        kwargs.setdefault("type", EventType.PUT)
        kwargs["kv"] = kwargs.get("kv") or KeyValue(b"")
    return cls(**kwargs)


def _schema(cls: type) -> tuple[_Field, ...]:
    try:
        return _SCHEMAS[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} has no JSON mapping") from None


def _encode_compare(compare: Compare) -> dict:
    out: dict[str, Any] = {}
    for name, codec, value in (
        ("result", _COMPARE_RESULT, compare.result),
        ("target", _COMPARE_TARGET, compare.target),
        ("key", _BYTES, compare.key),
    ):
        encoded = codec.encode(value)
        if encoded is not None:
            out[name] = encoded
    name, codec = _OPERAND_FIELD[compare.target]
    operand = compare.operand
    if compare.target is CompareTarget.VALUE:
        if not isinstance(operand, bytes):
            raise TypeError(f"a VALUE compare needs a bytes operand, got {operand!r}")
        out[name] = base64_encode(operand)
    else:
        if isinstance(operand, bytes):
            raise TypeError(f"a {compare.target.name} compare needs an int operand, got {operand!r}")
        out[name] = str(operand)  # a oneof member is written even when zero
    range_end = _BYTES.encode(compare.range_end)
    if range_end is not None:
        out["range_end"] = range_end
    return out


def _decode_compare(obj: dict) -> Compare:
    kwargs: dict[str, Any] = {}
    for name, codec in (("result", _COMPARE_RESULT), ("target", _COMPARE_TARGET), ("key", _BYTES),
                        ("range_end", _BYTES)):
        present, raw = _lookup(obj, name)
        if present:
            kwargs[name] = codec.decode(raw)
    target = kwargs.get("target", CompareTarget.VERSION)
    # The oneof holds the last operand field (in proto order) that is present.
    # etcd compares against it only if it belongs to the target; otherwise the
    # operand is the zero value (compareKV in etcd's apply.go).
    chosen: tuple[CompareTarget, Any] | None = None
    for name, operand_target, codec in _COMPARE_OPERANDS:
        present, raw = _lookup(obj, name)
        if present:
            chosen = (operand_target, codec.decode(raw))
    if chosen is not None and chosen[0] == target:
        kwargs["operand"] = chosen[1]
    elif target is CompareTarget.VALUE:
        kwargs["operand"] = b""
    return Compare(**kwargs)


def _encode_request_op(op: Any) -> dict:
    for name, cls in _REQUEST_OPS:
        if type(op) is cls:
            return {name: _encode_message(op)}
    raise TypeError(f"{type(op).__name__} cannot be a txn operation")


def _decode_request_op(value: Any) -> Any:
    obj = _require_object(value)
    chosen = None
    for name, cls in _REQUEST_OPS:
        present, raw = _lookup(obj, name)
        if present and raw is not None:
            chosen = _decode_message(cls, raw)  # the last one present wins, as in jsonpb
    if chosen is None:
        # etcd 3.4 answers an empty RequestOp with this error (code 3).
        raise KeyNotFoundError()
    return chosen


def _encode_response_op(op: Any) -> dict:
    for name, cls in _RESPONSE_OPS:
        if type(op) is cls:
            return {name: _encode_message(op)}
    raise TypeError(f"{type(op).__name__} cannot be a txn response")


def _decode_response_op(value: Any) -> Any:
    obj = _require_object(value)
    for name, cls in _RESPONSE_OPS:
        present, raw = _lookup(obj, name)
        if present:
            return _decode_message(cls, raw)
    raise RequestDecodeError(f"a txn response op with none of {[n for n, _ in _RESPONSE_OPS]}: {obj!r}")


def _decode_list(obj: dict, name: str, item: Callable[[Any], Any]) -> tuple:
    present, raw = _lookup(obj, name)
    if not present or raw is None:
        return ()
    if not isinstance(raw, list):
        raise _type_error(raw, "[]json.RawMessage")
    items = []
    for element in raw:
        if element is None:
            raise RequestDecodeError(f"json: null element in {name!r}")
        items.append(item(element))
    return tuple(items)


def _encode_txn_request(txn: TxnRequest) -> dict:
    out: dict[str, Any] = {}
    if txn.compare:
        out["compare"] = [_encode_compare(c) for c in txn.compare]
    if txn.success:
        out["success"] = [_encode_request_op(op) for op in txn.success]
    if txn.failure:
        out["failure"] = [_encode_request_op(op) for op in txn.failure]
    return out


def _decode_txn_request(obj: dict) -> TxnRequest:
    return TxnRequest(
        compare=_decode_list(obj, "compare", lambda v: _decode_compare(_require_object(v))),
        success=_decode_list(obj, "success", _decode_request_op),
        failure=_decode_list(obj, "failure", _decode_request_op),
    )


def _encode_txn_response(txn: TxnResponse) -> dict:
    out: dict[str, Any] = {"header": _encode_message(txn.header)}
    if txn.succeeded:
        out["succeeded"] = True
    if txn.responses:
        out["responses"] = [_encode_response_op(op) for op in txn.responses]
    return out


def _decode_txn_response(obj: dict) -> TxnResponse:
    present, header = _lookup(obj, "header")
    return TxnResponse(
        header=_HEADER.decode(header if present else None),
        succeeded=_BOOL.decode(_lookup(obj, "succeeded")[1]),
        responses=_decode_list(obj, "responses", _decode_response_op),
    )


# -- public entry points --------------------------------------------------------------


def request_from_json(path_or_kind: str, obj: dict) -> Any:
    """The request a gateway path (or kind) would hand etcd for ``obj``.

    ``obj`` is the parsed body (see ``parse_body``). For ``/v3/watch`` the
    result is a ``WatchCreateRequest``, ``WatchCancelRequest`` or
    ``WatchProgressRequest``. Raises ``InvalidRequestError`` (a
    ``RequestDecodeError`` for JSON that does not fit the message) with the
    gateway's message; a request that decodes is not otherwise validated
    (``key is not provided`` and the like are the store's to raise).
    """
    kind = _resolve_kind(path_or_kind)
    try:
        if kind == "watch":
            _require_object(obj)
            chosen: Any = None
            for name, cls in _WATCH_REQUESTS:
                present, raw = _lookup(obj, name)
                if present and raw is not None:
                    chosen = _decode_message(cls, raw)
            if chosen is None:
                raise RequestDecodeError("a watch request needs create_request, cancel_request or progress_request")
            return chosen
        request_type = {
            "range": RangeRequest, "put": PutRequest, "deleterange": DeleteRangeRequest,
            "txn": TxnRequest, "compaction": CompactionRequest, "lease_grant": LeaseGrantRequest,
            "lease_revoke": LeaseRevokeRequest, "lease_keepalive": LeaseKeepAliveRequest,
            "lease_timetolive": LeaseTimeToLiveRequest, "lease_leases": LeaseLeasesRequest,
            "hash": HashRequest, "hashkv": HashKVRequest,
        }[kind]
        return _decode_message(request_type, obj)
    except RequestDecodeError as error:
        raise error.for_kind(kind)


def request_to_json(request: Any) -> dict:
    """The JSON body a client POSTs to ``path_of(request)``."""
    if isinstance(request, (WatchCreateRequest, WatchCancelRequest, WatchProgressRequest)):
        name = next(n for n, cls in _WATCH_REQUESTS if cls is type(request))
        return {name: _encode_message(request)}
    kind_of(request)  # rejects types that are not requests
    return _encode_message(request)


def response_to_json(response: Any) -> dict:
    """Exactly the JSON object etcd 3.4's gateway writes for ``response``
    (for the streaming kinds: the object inside ``{"result": ...}``)."""
    if type(response) not in _RESPONSE_TYPE.values():
        raise TypeError(f"{type(response).__name__} is not a response this codec knows")
    return _encode_message(response)


def stream_item(response: Any) -> dict:
    """One line of a streaming endpoint's body: ``{"result": response}``."""
    return {"result": response_to_json(response)}


def response_from_json(kind: str, obj: dict) -> Any:
    """The response dataclass for a gateway answer of ``kind`` (a kind or a
    path). For streaming kinds, ``obj`` may be the ``{"result": ...}`` line."""
    kind = _resolve_kind(kind)
    if kind in STREAMING_KINDS and set(obj) == {"result"}:
        obj = obj["result"]
    return _decode_message(_RESPONSE_TYPE[kind], obj)


# -- errors ---------------------------------------------------------------------------

# grpc-gateway v1's HTTPStatusFromCode, which etcd 3.4's gateway uses.
_HTTP_STATUS = {
    0: 200,   # OK
    1: 408,   # CANCELLED
    2: 500,   # UNKNOWN
    3: 400,   # INVALID_ARGUMENT
    4: 504,   # DEADLINE_EXCEEDED
    5: 404,   # NOT_FOUND
    6: 409,   # ALREADY_EXISTS
    7: 403,   # PERMISSION_DENIED
    8: 429,   # RESOURCE_EXHAUSTED
    9: 412,   # FAILED_PRECONDITION
    10: 409,  # ABORTED
    11: 400,  # OUT_OF_RANGE
    12: 501,  # UNIMPLEMENTED
    13: 500,  # INTERNAL
    14: 503,  # UNAVAILABLE
    15: 500,  # DATA_LOSS
    16: 401,  # UNAUTHENTICATED
}


def http_status(grpc_code: int) -> int:
    """The HTTP status the gateway answers a gRPC status code with."""
    return _HTTP_STATUS.get(grpc_code, 500)


def error_to_json(error: StoreError) -> tuple[int, dict]:
    """``(http_status, body)`` of the gateway's answer for a failed request."""
    text = error.text
    return http_status(error.grpc_code), {"error": text, "message": text, "code": error.grpc_code}


# Errors etcd names by message, mapped back to our classes.
_ERROR_BY_MESSAGE: dict[str, type[StoreError]] = {
    cls.message: cls
    for cls in (
        CompactedError, FutureRevisionError, LeaseNotFoundError, LeaseExistsError,
        LeaseTTLTooLargeError, KeyNotProvidedError, DuplicateKeyError, TooManyOpsError,
        RequestTooLargeError, NoSpaceError, KeyNotFoundError, ValueProvidedError, LeaseProvidedError,
        KeyTooLargeError,
    )
}


def error_from_json(status: int, obj: dict) -> StoreError:
    """The ``StoreError`` behind a gateway error body (``status`` is the HTTP
    status). Known messages give their class; others an ``InvalidRequestError``
    (code 3) or a plain ``StoreError`` carrying the reported code."""
    message = obj.get("message") or obj.get("error") or f"HTTP {status}"
    code = int(obj.get("code", 2))
    cls = _ERROR_BY_MESSAGE.get(message)
    if cls is CompactedError:
        error: StoreError = CompactedError(0)
    elif cls is not None:
        error = cls()
    elif code == InvalidRequestError.grpc_code:
        error = InvalidRequestError(message)
    else:
        error = StoreError(message)
    if error.grpc_code != code:
        error.grpc_code = code
    return error


def _check_schemas() -> None:
    """Every schema names each dataclass field exactly once (a broken
    invariant raises at import)."""
    for cls, specs in _SCHEMAS.items():
        names = {f.name for f in fields(cls)}
        attrs = [spec.attr for spec in specs]
        if sorted(attrs) != sorted(names):
            raise AssertionError(f"JSON schema of {cls.__name__} covers {attrs}, fields are {sorted(names)}")


_check_schemas()
