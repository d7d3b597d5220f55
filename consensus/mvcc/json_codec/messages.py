"""Messages as JSON objects: the field table of every ``api`` dataclass, and
the encoder and decoder that walk it.

- Field names are the proto field names as written in ``rpc.proto``
  (``create_revision``, ``prev_kv``, ``grantedTTL``, ``ID``); on input the
  lowerCamel JSON names (``rangeEnd``, ``prevKv``) are accepted too, and when
  both spellings are present the lowerCamel one wins, as in golang/protobuf's
  ``jsonpb``. Unknown fields are ignored.
- Fields are written in proto field-number order, the order the gateway
  writes them. Fields holding their default (0, false, empty, unset message)
  are omitted, except the response ``header``, which is always written
  (``{}`` when all of it is zero, as in a nested txn response), and a
  ``Compare``'s operand, which is a oneof and so is written even when it is
  zero.
- ``null`` inside a repeated message field is refused with
  ``RequestDecodeError`` (etcd 3.4 drops the connection).

``Compare``, ``TxnRequest`` and ``TxnResponse`` hold oneofs and are coded by
hand; every other message by its entry in ``_SCHEMAS``, which must name each
dataclass field exactly once (checked at import).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, fields
from typing import Any, Callable

from consensus.mvcc.api import (
    Compare,
    CompactionRequest,
    CompactionResponse,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    Event,
    EventType,
    HashKVRequest,
    HashKVResponse,
    HashRequest,
    HashResponse,
    DefragmentRequest,
    DefragmentResponse,
    AlarmAction,
    AlarmMember,
    AlarmRequest,
    AlarmResponse,
    AlarmType,
    KeyNotFoundError,
    KeyValue,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesRequest,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseStatus,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
    WatchCancelRequest,
    WatchCreateRequest,
    WatchFilter,
    WatchProgressRequest,
    WatchResponse,
)
from consensus.mvcc.json_codec.errors import RequestDecodeError
from consensus.mvcc.json_codec.fields import (
    BOOL,
    BYTES,
    INT64,
    STRING,
    UINT32,
    UINT64,
    BytesCodec,
    EnumCodec,
    IntCodec,
    base64_encode,
)
from consensus.mvcc.json_codec.go_json import type_error

# -- message-valued fields -------------------------------------------------------------


class MessageCodec:
    """A field holding a message of type ``cls``."""

    def __init__(self, cls: type, optional: bool = True) -> None:
        # optional: an unset message is ``None`` in the dataclass (prev_kv);
        # otherwise it is the all-default instance, always written (header).
        self.cls, self.optional = cls, optional

    def encode(self, value: Any) -> Any:
        if value is None:
            return None
        return encode_message(value)

    def decode(self, value: Any) -> Any:
        if value is None:
            return None if self.optional else self.cls()
        return decode_message(self.cls, value)


class RepeatedCodec:
    """A repeated field (a tuple in the dataclass, a JSON array) of ``item``,
    whose Go type is ``[]go_type``."""

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
        if isinstance(item, MessageCodec):
            return item.encode(value) or {}
        if isinstance(item, EnumCodec):
            return item.cls(value).name
        if isinstance(item, BytesCodec):
            return base64_encode(value)
        if isinstance(item, IntCodec):
            return str(value) if item.quoted else value
        encoded = item.encode(value)
        return encoded if encoded is not None else value

    def decode(self, value: Any) -> tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise type_error(value, f"[]{self.go_type}")
        items = []
        for element in value:
            if element is None and isinstance(self.item, MessageCodec):
                raise RequestDecodeError(f"json: null element in a list of {self.item.cls.__name__}")
            items.append(self.item.decode(element))
        return tuple(items)


# -- message schemas -------------------------------------------------------------------


@functools.lru_cache(maxsize=None)
def _camel(name: str) -> str:
    """protoc's JSON name: underscores dropped, the next letter upper-cased.
    Cached: the set of field names is small and fixed, and this is on the
    path of every request and response."""
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


_HEADER = MessageCodec(ResponseHeader, optional=False)
_KV = MessageCodec(KeyValue)
_KVS = RepeatedCodec(MessageCodec(KeyValue), "json.RawMessage")

# Fields in proto field-number order, which is the order the gateway writes them.
_SCHEMAS: dict[type, tuple[_Field, ...]] = {
    ResponseHeader: (
        _f("cluster_id", UINT64), _f("member_id", UINT64), _f("revision", INT64), _f("raft_term", UINT64),
    ),
    KeyValue: (
        _f("key", BYTES), _f("create_revision", INT64), _f("mod_revision", INT64),
        _f("version", INT64), _f("value", BYTES), _f("lease", INT64),
    ),
    RangeRequest: (
        _f("key", BYTES), _f("range_end", BYTES), _f("limit", INT64), _f("revision", INT64),
        _f("sort_order", EnumCodec(SortOrder, "etcdserverpb.RangeRequest_SortOrder")),
        _f("sort_target", EnumCodec(SortTarget, "etcdserverpb.RangeRequest_SortTarget")),
        _f("serializable", BOOL), _f("keys_only", BOOL), _f("count_only", BOOL),
        _f("min_mod_revision", INT64), _f("max_mod_revision", INT64),
        _f("min_create_revision", INT64), _f("max_create_revision", INT64),
    ),
    RangeResponse: (_f("header", _HEADER), _f("kvs", _KVS), _f("more", BOOL), _f("count", INT64)),
    PutRequest: (
        _f("key", BYTES), _f("value", BYTES), _f("lease", INT64), _f("prev_kv", BOOL),
        _f("ignore_value", BOOL), _f("ignore_lease", BOOL),
    ),
    PutResponse: (_f("header", _HEADER), _f("prev_kv", _KV)),
    DeleteRangeRequest: (_f("key", BYTES), _f("range_end", BYTES), _f("prev_kv", BOOL)),
    DeleteRangeResponse: (_f("header", _HEADER), _f("deleted", INT64), _f("prev_kvs", _KVS)),
    CompactionRequest: (_f("revision", INT64), _f("physical", BOOL)),
    CompactionResponse: (_f("header", _HEADER),),
    HashRequest: (),
    DefragmentRequest: (),
    DefragmentResponse: (_f("header", _HEADER),),
    AlarmRequest: (
        _f("action", EnumCodec(AlarmAction, "etcdserverpb.AlarmRequest_AlarmAction")),
        _f("memberID", UINT64), _f("alarm", EnumCodec(AlarmType, "etcdserverpb.AlarmType")),
    ),
    AlarmMember: (_f("memberID", UINT64), _f("alarm", EnumCodec(AlarmType, "etcdserverpb.AlarmType"))),
    AlarmResponse: (
        _f("header", _HEADER), _f("alarms", RepeatedCodec(MessageCodec(AlarmMember), "json.RawMessage")),
    ),
    HashResponse: (_f("header", _HEADER), _f("hash", UINT32)),
    HashKVRequest: (_f("revision", INT64),),
    HashKVResponse: (_f("header", _HEADER), _f("hash", UINT32), _f("compact_revision", INT64)),
    LeaseGrantRequest: (_f("TTL", INT64), _f("ID", INT64)),
    LeaseGrantResponse: (_f("header", _HEADER), _f("ID", INT64), _f("TTL", INT64), _f("error", STRING)),
    LeaseRevokeRequest: (_f("ID", INT64),),
    LeaseRevokeResponse: (_f("header", _HEADER),),
    LeaseKeepAliveRequest: (_f("ID", INT64),),
    LeaseKeepAliveResponse: (_f("header", _HEADER), _f("ID", INT64), _f("TTL", INT64)),
    LeaseTimeToLiveRequest: (_f("ID", INT64), _f("keys", BOOL)),
    LeaseTimeToLiveResponse: (
        _f("header", _HEADER), _f("ID", INT64), _f("TTL", INT64), _f("grantedTTL", INT64),
        _f("keys", RepeatedCodec(BYTES, "[]byte")),
    ),
    LeaseLeasesRequest: (),
    LeaseStatus: (_f("ID", INT64),),
    LeaseLeasesResponse: (
        _f("header", _HEADER), _f("leases", RepeatedCodec(MessageCodec(LeaseStatus), "json.RawMessage")),
    ),
    Event: (
        _f("type", EnumCodec(EventType, "mvccpb.Event_EventType")), _f("kv", _KV), _f("prev_kv", _KV),
    ),
    WatchCreateRequest: (
        _f("key", BYTES), _f("range_end", BYTES), _f("start_revision", INT64),
        _f("progress_notify", BOOL),
        _f("filters", RepeatedCodec(EnumCodec(WatchFilter, "etcdserverpb.WatchCreateRequest_FilterType"),
                                    "etcdserverpb.WatchCreateRequest_FilterType")),
        _f("prev_kv", BOOL), _f("watch_id", INT64),
    ),
    WatchCancelRequest: (_f("watch_id", INT64),),
    WatchProgressRequest: (),
    WatchResponse: (
        _f("header", _HEADER), _f("watch_id", INT64), _f("created", BOOL), _f("canceled", BOOL),
        _f("compact_revision", INT64), _f("cancel_reason", STRING),
        _f("events", RepeatedCodec(MessageCodec(Event), "json.RawMessage")),
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
    ("version", CompareTarget.VERSION, INT64),
    ("create_revision", CompareTarget.CREATE, INT64),
    ("mod_revision", CompareTarget.MOD, INT64),
    ("value", CompareTarget.VALUE, BYTES),
    ("lease", CompareTarget.LEASE, INT64),
)
_OPERAND_FIELD = {target: (name, codec) for name, target, codec in _COMPARE_OPERANDS}
_COMPARE_RESULT = EnumCodec(CompareResult, "etcdserverpb.Compare_CompareResult")
_COMPARE_TARGET = EnumCodec(CompareTarget, "etcdserverpb.Compare_CompareTarget")


# -- encoding and decoding -------------------------------------------------------------


def lookup(obj: dict, name: str) -> tuple[bool, Any]:
    """``(present, value)`` of the field ``name`` (a proto field name) in
    ``obj``. jsonpb accepts the proto name and the lowerCamel name; if both are
    present the lowerCamel one wins."""
    camel = _camel(name)
    if camel in obj:
        return True, obj[camel]
    if name in obj:
        return True, obj[name]
    return False, None


def require_object(value: Any) -> dict:
    """``value`` if it is a JSON object; else Go's ``RequestDecodeError``."""
    if not isinstance(value, dict):
        raise type_error(value, "map[string]json.RawMessage")
    return value


def encode_message(message: Any) -> dict:
    """The JSON object of ``message``, an ``api`` dataclass with a mapping
    (``TypeError`` otherwise)."""
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


def decode_message(cls: type, value: Any) -> Any:
    """The ``cls`` instance a JSON ``value`` holds. Raises
    ``RequestDecodeError`` (``KeyNotFoundError`` for an empty txn op, as etcd
    3.4 does)."""
    obj = require_object(value)
    if cls is Compare:
        return _decode_compare(obj)
    if cls is TxnRequest:
        return _decode_txn_request(obj)
    if cls is TxnResponse:
        return _decode_txn_response(obj)
    kwargs = {}
    for spec in _schema(cls):
        present, raw = lookup(obj, spec.name)
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
        ("key", BYTES, compare.key),
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
    range_end = BYTES.encode(compare.range_end)
    if range_end is not None:
        out["range_end"] = range_end
    return out


def _decode_compare(obj: dict) -> Compare:
    kwargs: dict[str, Any] = {}
    for name, codec in (("result", _COMPARE_RESULT), ("target", _COMPARE_TARGET), ("key", BYTES),
                        ("range_end", BYTES)):
        present, raw = lookup(obj, name)
        if present:
            kwargs[name] = codec.decode(raw)
    target = kwargs.get("target", CompareTarget.VERSION)
    # The oneof holds the last operand field (in proto order) that is present.
    # etcd compares against it only if it belongs to the target; otherwise the
    # operand is the zero value (compareKV in etcd's apply.go).
    chosen: tuple[CompareTarget, Any] | None = None
    for name, operand_target, codec in _COMPARE_OPERANDS:
        present, raw = lookup(obj, name)
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
            return {name: encode_message(op)}
    raise TypeError(f"{type(op).__name__} cannot be a txn operation")


def _decode_request_op(value: Any) -> Any:
    obj = require_object(value)
    chosen = None
    for name, cls in _REQUEST_OPS:
        present, raw = lookup(obj, name)
        if present and raw is not None:
            chosen = decode_message(cls, raw)  # the last one present wins, as in jsonpb
    if chosen is None:
        # etcd 3.4 answers an empty RequestOp with this error (code 3).
        raise KeyNotFoundError()
    return chosen


def _encode_response_op(op: Any) -> dict:
    for name, cls in _RESPONSE_OPS:
        if type(op) is cls:
            return {name: encode_message(op)}
    raise TypeError(f"{type(op).__name__} cannot be a txn response")


def _decode_response_op(value: Any) -> Any:
    obj = require_object(value)
    for name, cls in _RESPONSE_OPS:
        present, raw = lookup(obj, name)
        if present:
            return decode_message(cls, raw)
    raise RequestDecodeError(f"a txn response op with none of {[n for n, _ in _RESPONSE_OPS]}: {obj!r}")


def _decode_list(obj: dict, name: str, item: Callable[[Any], Any]) -> tuple:
    present, raw = lookup(obj, name)
    if not present or raw is None:
        return ()
    if not isinstance(raw, list):
        raise type_error(raw, "[]json.RawMessage")
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
        compare=_decode_list(obj, "compare", lambda v: _decode_compare(require_object(v))),
        success=_decode_list(obj, "success", _decode_request_op),
        failure=_decode_list(obj, "failure", _decode_request_op),
    )


def _encode_txn_response(txn: TxnResponse) -> dict:
    out: dict[str, Any] = {"header": encode_message(txn.header)}
    if txn.succeeded:
        out["succeeded"] = True
    if txn.responses:
        out["responses"] = [_encode_response_op(op) for op in txn.responses]
    return out


def _decode_txn_response(obj: dict) -> TxnResponse:
    present, header = lookup(obj, "header")
    return TxnResponse(
        header=_HEADER.decode(header if present else None),
        succeeded=BOOL.decode(lookup(obj, "succeeded")[1]),
        responses=_decode_list(obj, "responses", _decode_response_op),
    )


def _check_schemas() -> None:
    """Every schema names each dataclass field exactly once (a broken
    invariant raises at import)."""
    for cls, specs in _SCHEMAS.items():
        names = {f.name for f in fields(cls)}
        attrs = [spec.attr for spec in specs]
        if sorted(attrs) != sorted(names):
            raise AssertionError(f"JSON schema of {cls.__name__} covers {attrs}, fields are {sorted(names)}")


_check_schemas()
