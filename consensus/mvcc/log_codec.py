"""The bytes a Raft log entry carries for a store request: msgpack, compact,
versioned.

An entry is the msgpack array ``[FORMAT, tag, field, field, ...]``. ``tag``
names the request type; the fields follow in the dataclass's order, with
trailing fields that hold their default value left out (a plain put is
``[1, 2, key, value]``). A txn's compares and ops are nested arrays of the
same shape without the format number. Enums travel as their ints.

Auth commands (``consensus.auth.commands``) travel the same way, tags 16
and up: their fields are plain values, never a password.

Decoding is strict — wrong types, unknown tags, enum values out of range or
extra fields raise ``InvalidRequestError`` — because a decoded entry is
applied on every member: a malformed one must fail the same way everywhere.
"""
from __future__ import annotations

import enum
from dataclasses import fields
from typing import Any

import msgpack

from consensus.auth.commands import (
    AddRole,
    AddUser,
    BootstrapRoot,
    ChangePassword,
    DeleteRole,
    DeleteUser,
    DisableAuth,
    EnableAuth,
    GrantPermission,
    GrantRole,
    RevokePermission,
    RevokeRole,
)

from .api import (
    AlarmAction,
    AlarmRequest,
    AlarmType,
    Compare,
    CompareResult,
    CompareTarget,
    CompactionRequest,
    DeleteRangeRequest,
    InvalidRequestError,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    Limits,
    PutRequest,
    RangeRequest,
    RequestTooLargeError,
    SortOrder,
    SortTarget,
    TxnRequest,
)

FORMAT = 1

_TAGS: dict[type, int] = {
    RangeRequest: 1,
    PutRequest: 2,
    DeleteRangeRequest: 3,
    TxnRequest: 4,
    CompactionRequest: 5,
    LeaseGrantRequest: 6,
    LeaseRevokeRequest: 7,
    AlarmRequest: 8,
    EnableAuth: 16,
    DisableAuth: 17,
    AddUser: 18,
    DeleteUser: 19,
    ChangePassword: 20,
    GrantRole: 21,
    RevokeRole: 22,
    AddRole: 23,
    DeleteRole: 24,
    GrantPermission: 25,
    RevokePermission: 26,
    BootstrapRoot: 27,
}
_TYPES = {tag: cls for cls, tag in _TAGS.items()}
_ENUMS: dict[tuple[type, str], type] = {
    (RangeRequest, "sort_order"): SortOrder,
    (RangeRequest, "sort_target"): SortTarget,
    (Compare, "result"): CompareResult,
    (Compare, "target"): CompareTarget,
    (AlarmRequest, "action"): AlarmAction,
    (AlarmRequest, "alarm"): AlarmType,
}


def _plain(default: object) -> object:
    """A field's default as it is encoded: enums as ints, tuples as lists."""
    if isinstance(default, enum.IntEnum):
        return int(default)
    if isinstance(default, tuple):
        return list(default)
    return default


# (name, default as encoded) of each field, in order.
_FIELDS = {cls: [(f.name, _plain(f.default)) for f in fields(cls)] for cls in (*_TAGS, Compare)}
# The field types of the requests whose fields are all plain values (no
# enum, no nested message): a field decodes as is once its type matches.
_PLAIN_TYPES = {
    cls: tuple(type(default) for _, default in spec)
    for cls, spec in _FIELDS.items()
    if cls not in (TxnRequest, Compare) and not any((cls, name) in _ENUMS for name, _ in spec)
}


def check_request_size(data: bytes, limits: Limits) -> None:
    """Refuse an encoded request larger than ``max_request_bytes`` (etcd
    measures its Raft entry the same way, before proposing)."""
    if len(data) > limits.max_request_bytes:
        raise RequestTooLargeError()


def encode_request(request: object) -> bytes:
    return msgpack.packb([FORMAT, *_encode(request)], use_bin_type=True)


def decode_request(data: bytes) -> object:
    try:
        items = msgpack.unpackb(data, raw=False, use_list=True, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise InvalidRequestError(f"etcdserver: undecodable request: {exc}") from None
    if not isinstance(items, list) or len(items) < 2:
        raise InvalidRequestError("etcdserver: request is not a [format, tag, ...] array")
    if items[0] != FORMAT or type(items[0]) is not int:
        raise InvalidRequestError(f"etcdserver: request format {items[0]!r}, expected {FORMAT}")
    return _decode(items[1:])


def _encode(obj: object) -> list:
    tag = _TAGS.get(type(obj))
    if tag is None:
        raise TypeError(f"cannot encode {type(obj).__name__} as a log request")
    return [tag, *_fields_of(obj)]


def _fields_of(obj: Any) -> list:
    out = []
    for name, default in _FIELDS[type(obj)]:
        value = getattr(obj, name)
        if isinstance(obj, TxnRequest):
            value = [_fields_of(c) for c in value] if name == "compare" else [_encode(op) for op in value]
        elif isinstance(value, bool):
            pass
        elif isinstance(value, int):
            value = int(value)  # enums as plain ints
        out.append(value)
    # Drop trailing defaults; the decoder fills them back in.
    spec = _FIELDS[type(obj)]
    n = len(out)
    while n and type(out[n - 1]) is type(spec[n - 1][1]) and out[n - 1] == spec[n - 1][1]:
        n -= 1
    return out[:n]


def _decode(items: list) -> object:
    tag = items[0]
    cls = _TYPES.get(tag) if type(tag) is int else None
    if cls is None:
        raise InvalidRequestError(f"etcdserver: unknown request tag {tag!r}")
    return _build(cls, items[1:])


def _build(cls: type, values: list) -> object:
    spec = _FIELDS[cls]
    if len(values) > len(spec):
        raise InvalidRequestError(f"etcdserver: {cls.__name__} has {len(spec)} fields, got {len(values)}")
    plain = _PLAIN_TYPES.get(cls)
    if plain is not None:
        # The common case (every put): check the types, build positionally.
        # A mismatch takes the general path below, which names the field.
        for value, expected in zip(values, plain):
            if type(value) is not expected:
                break
        else:
            return cls(*values)
    kwargs = {}
    for (name, default), value in zip(spec, values):
        kwargs[name] = _field(cls, name, default, value)
    return cls(**kwargs)


def _field(cls: type, name: str, default: object, value: object) -> object:
    if cls is TxnRequest:
        if not isinstance(value, list):
            raise InvalidRequestError(f"etcdserver: txn {name} is not a list")
        if name == "compare":
            return tuple(_build(Compare, _list(c, "compare")) for c in value)
        return tuple(_op(op) for op in value)
    if cls is Compare and name == "operand":
        if type(value) not in (int, bytes):
            raise InvalidRequestError(f"etcdserver: compare operand must be int or bytes, got {type(value).__name__}")
        return value
    if type(value) is not type(default):
        raise InvalidRequestError(
            f"etcdserver: {cls.__name__}.{name} must be {type(default).__name__}, got {type(value).__name__}"
        )
    enum = _ENUMS.get((cls, name))
    if enum is not None:
        try:
            return enum(value)
        except ValueError:
            raise InvalidRequestError(f"etcdserver: {cls.__name__}.{name}: no such value {value}") from None
    return value


def _op(item: object) -> object:
    items = _list(item, "txn op")
    if not items:
        raise InvalidRequestError("etcdserver: empty txn op")
    op = _decode(items)
    if not isinstance(op, (RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest)):
        raise InvalidRequestError(f"etcdserver: {type(op).__name__} cannot be a txn op")
    return op


def _list(value: object, what: str) -> list:
    if not isinstance(value, list):
        raise InvalidRequestError(f"etcdserver: {what} is not an array")
    return value
