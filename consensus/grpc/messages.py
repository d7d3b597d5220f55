"""etcd's protobuf messages to and from the ``api`` dataclasses.

The dataclasses of ``consensus.mvcc.api`` and ``consensus.auth.api`` are
etcd's messages field for field (same names, same defaults), so most of the
mapping is read off the two at import: for each dataclass, its protobuf
class of the same name in ``etcdserverpb``, ``mvccpb`` or ``authpb``, and
per field how it is carried (a scalar as is, an enum as the dataclass's
``IntEnum``, a message as its dataclass, a repeated field as a tuple). A
dataclass field the message does not have is an error at import, so the
two cannot drift apart unnoticed; a protobuf field the dataclass lacks is
one we do not support (``fragment`` of etcd 3.4's watch, which 3.4's
clients never set) and is left at its default.

Coded by hand, because the dataclasses hold them differently:

- ``Compare``'s ``target_union`` oneof is one ``operand`` field, read from
  and written to the member the ``target`` names;
- a txn's ``RequestOp`` / ``ResponseOp`` oneofs are the dataclass itself;
- ``Permission.perm_type`` is ``permType`` in ``auth.proto``.

Unset message fields: an optional one (``prev_kv``) is ``None`` in the
dataclass; the response ``header`` is the all-default header.

Protobuf decoding has already bounded sizes and types by the time a
request gets here; what is left to check (a sort order with no name, say)
the dataclasses' users check, as for JSON.
"""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message

from consensus.auth import api as auth_api
from consensus.grpc.etcdpb.authpb import auth_pb2
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2
from consensus.grpc.etcdpb.mvccpb import kv_pb2
from consensus.mvcc import api
from consensus.mvcc.api import (
    Compare,
    CompareTarget,
    DeleteRangeRequest,
    DeleteRangeResponse,
    InvalidRequestError,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
)

_MODULES = (rpc_pb2, kv_pb2, auth_pb2)
_RENAMED = {(auth_api.Permission, "perm_type"): "permType"}
_HAND_CODED = (Compare, TxnRequest, TxnResponse)

# Compare.operand lives in the oneof member its target names.
_OPERAND_FIELD = {
    CompareTarget.VERSION: "version",
    CompareTarget.CREATE: "create_revision",
    CompareTarget.MOD: "mod_revision",
    CompareTarget.VALUE: "value",
    CompareTarget.LEASE: "lease",
}
# A txn op's oneof member for each dataclass, one table per direction.
_REQUEST_OP = {RangeRequest: "request_range", PutRequest: "request_put",
               DeleteRangeRequest: "request_delete_range", TxnRequest: "request_txn"}
_RESPONSE_OP = {RangeResponse: "response_range", PutResponse: "response_put",
                DeleteRangeResponse: "response_delete_range", TxnResponse: "response_txn"}
_REQUEST_OP_TYPES = {member: cls for cls, member in _REQUEST_OP.items()}
_RESPONSE_OP_TYPES = {member: cls for cls, member in _RESPONSE_OP.items()}


@dataclasses.dataclass(frozen=True, slots=True)
class _Field:
    name: str  # the dataclass field
    pb_name: str  # the protobuf field
    repeated: bool
    message: type | None  # the dataclass of a message field
    enum: type | None  # the IntEnum of an enum field
    optional: bool  # a message field whose unset value is None


class _Plan:
    """How one dataclass maps to its protobuf class."""

    def __init__(self, cls: type, pb_class: type) -> None:
        self.cls = cls
        self.pb_class = pb_class
        hints = typing.get_type_hints(cls)
        fields_by_name = pb_class.DESCRIPTOR.fields_by_name
        self.fields: list[_Field] = []
        for field in dataclasses.fields(cls):
            pb_name = _RENAMED.get((cls, field.name), field.name)
            descriptor = fields_by_name.get(pb_name)
            if descriptor is None:
                raise TypeError(f"{cls.__name__}.{field.name} has no field in etcd's {pb_class.__name__}")
            hint = hints[field.name]
            repeated = descriptor.is_repeated
            element = typing.get_args(hint)[0] if repeated else hint
            optional = False
            if typing.get_origin(element) in (typing.Union, types.UnionType):
                members = [arg for arg in typing.get_args(element) if arg is not type(None)]
                optional = len(members) < len(typing.get_args(element))
                element = members[0] if len(members) == 1 else element
            message = element if descriptor.type == FieldDescriptor.TYPE_MESSAGE else None
            enum_type = element if descriptor.type == FieldDescriptor.TYPE_ENUM else None
            if enum_type is not None and not issubclass(enum_type, enum.IntEnum):
                raise TypeError(f"{cls.__name__}.{field.name} is an enum in etcd's proto but not an IntEnum here")
            self.fields.append(_Field(field.name, pb_name, repeated, message, enum_type, optional))


def _pb_class(cls: type) -> type:
    for module in _MODULES:
        pb_class = getattr(module, cls.__name__, None)
        if pb_class is not None:
            return pb_class
    raise TypeError(f"etcd's protos have no message {cls.__name__}")


def _dataclasses() -> list[type]:
    found = []
    for module in (api, auth_api):
        for value in vars(module).values():
            if isinstance(value, type) and dataclasses.is_dataclass(value) and value.__module__ == module.__name__:
                if any(getattr(m, value.__name__, None) is not None for m in _MODULES):
                    found.append(value)
    return found


_PLANS: dict[type, _Plan] = {cls: _Plan(cls, _pb_class(cls)) for cls in _dataclasses() if cls not in _HAND_CODED}
PB_CLASS: dict[type, type] = {cls: _pb_class(cls) for cls in _dataclasses()}


# -- to protobuf ---------------------------------------------------------------------


def to_pb(obj: Any) -> Message:
    """The protobuf message of an ``api`` dataclass instance."""
    cls = type(obj)
    if cls is Compare:
        return _compare_to_pb(obj)
    if cls is TxnRequest:
        return rpc_pb2.TxnRequest(
            compare=[_compare_to_pb(c) for c in obj.compare],
            success=[_request_op(op) for op in obj.success],
            failure=[_request_op(op) for op in obj.failure],
        )
    if cls is TxnResponse:
        return rpc_pb2.TxnResponse(
            header=to_pb(obj.header), succeeded=obj.succeeded,
            responses=[rpc_pb2.ResponseOp(**{_RESPONSE_OP[type(r)]: to_pb(r)}) for r in obj.responses],
        )
    plan = _PLANS[cls]
    values: dict[str, Any] = {}
    for field in plan.fields:
        value = getattr(obj, field.name)
        if field.message is not None:
            if field.repeated:
                if value:
                    values[field.pb_name] = [to_pb(item) for item in value]
            elif value is not None:
                values[field.pb_name] = to_pb(value)
        elif value:
            values[field.pb_name] = list(value) if field.repeated else value
    return plan.pb_class(**values)


def _compare_to_pb(compare: Compare) -> Message:
    member = _OPERAND_FIELD[CompareTarget(compare.target)]
    return rpc_pb2.Compare(result=compare.result, target=compare.target, key=compare.key,
                           range_end=compare.range_end, **{member: compare.operand})


def _request_op(op: Any) -> Message:
    return rpc_pb2.RequestOp(**{_REQUEST_OP[type(op)]: to_pb(op)})


# -- from protobuf -------------------------------------------------------------------


def from_pb(cls: type, message: Message) -> Any:
    """The ``cls`` instance a protobuf message of etcd's holds;
    ``InvalidRequestError`` for an enum number with no name (as the JSON
    codec refuses it)."""
    if cls is Compare:
        return _compare_from_pb(message)
    if cls is TxnRequest:
        return TxnRequest(
            compare=tuple(_compare_from_pb(c) for c in message.compare),
            success=tuple(_op_from_pb(op, _REQUEST_OP_TYPES, "request") for op in message.success),
            failure=tuple(_op_from_pb(op, _REQUEST_OP_TYPES, "request") for op in message.failure),
        )
    if cls is TxnResponse:
        return TxnResponse(
            header=from_pb(api.ResponseHeader, message.header), succeeded=message.succeeded,
            responses=tuple(_op_from_pb(op, _RESPONSE_OP_TYPES, "response") for op in message.responses),
        )
    plan = _PLANS[cls]
    values: dict[str, Any] = {}
    for field in plan.fields:
        value = getattr(message, field.pb_name)
        if field.message is not None:
            if field.repeated:
                values[field.name] = tuple(from_pb(field.message, item) for item in value)
            elif field.optional and not message.HasField(field.pb_name):
                values[field.name] = None
            else:
                values[field.name] = from_pb(field.message, value)
        elif field.enum is not None:
            values[field.name] = (tuple(_enum(field, v) for v in value) if field.repeated
                                  else _enum(field, value))
        else:
            values[field.name] = tuple(value) if field.repeated else value
    return cls(**values)


def _enum(field: _Field, number: int) -> Any:
    try:
        return field.enum(number)
    except ValueError:
        raise InvalidRequestError(f"{field.name} has no value numbered {number}") from None


def _compare_from_pb(message: Message) -> Compare:
    try:
        target = CompareTarget(message.target)
        result = api.CompareResult(message.result)
    except ValueError:
        raise InvalidRequestError("a compare's target or result has no such value") from None
    # The member the target names; another one set is ignored, as etcd does.
    member = _OPERAND_FIELD[target]
    operand: int | bytes = getattr(message, member)
    return Compare(result=result, target=target, key=message.key, operand=operand, range_end=message.range_end)


def _op_from_pb(op: Message, types: dict[str, type], kind: str) -> Any:
    member = op.WhichOneof(kind)
    if member is None:
        raise InvalidRequestError(f"a txn {kind} op names no operation")
    return from_pb(types[member], getattr(op, member))
