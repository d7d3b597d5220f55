"""The JSON of etcd 3.4's gateway for the Auth service, to and from
``api`` dataclasses — the same mapping ``consensus.mvcc.json_codec`` applies
to the KV messages (proto field names on output, lowerCamel accepted on
input, defaults omitted, int64 as strings, bytes as base64, enums by name),
built from that codec's scalar codecs so errors are worded alike.

Checked against a real etcd 3.4.23 (``tests/auth/test_auth_vs_etcd.py``):

- ``Permission`` is written ``{"permType": "WRITE", "key": ..., "range_end":
  ...}``; READ, the zero value, is omitted.
- Lists (``roles``, ``users``, ``perm``) are omitted when empty; the
  response ``header`` is always written.
- ``AuthUserAddRequest.options`` is ``{"no_password": true}``.

As ``json_codec``: an enum number without a name (``"permType": 7``) is
refused with ``RequestDecodeError`` (etcd accepts it and grants a permission
no check ever matches). A JSON string holding a lone UTF-16 surrogate
(``"\\ud800"``) decodes to U+FFFD, as Go decodes it.
"""
from __future__ import annotations

import re
from typing import Any

from consensus.mvcc.api import ResponseHeader
from consensus.mvcc.json_codec.errors import RequestDecodeError
from consensus.mvcc.json_codec.fields import BOOL, BYTES, STRING, EnumCodec
from consensus.mvcc.json_codec.go_json import type_error
from consensus.mvcc.json_codec.messages import MessageCodec, lookup, require_object
from consensus.mvcc.json_codec.requests import parse_body

from .api import (
    AuthDisableRequest,
    AuthDisableResponse,
    AuthEnableRequest,
    AuthEnableResponse,
    AuthenticateRequest,
    AuthenticateResponse,
    AuthRoleAddRequest,
    AuthRoleAddResponse,
    AuthRoleDeleteRequest,
    AuthRoleDeleteResponse,
    AuthRoleGetRequest,
    AuthRoleGetResponse,
    AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse,
    AuthRoleListRequest,
    AuthRoleListResponse,
    AuthRoleRevokePermissionRequest,
    AuthRoleRevokePermissionResponse,
    AuthUserAddRequest,
    AuthUserAddResponse,
    AuthUserChangePasswordRequest,
    AuthUserChangePasswordResponse,
    AuthUserDeleteRequest,
    AuthUserDeleteResponse,
    AuthUserGetRequest,
    AuthUserGetResponse,
    AuthUserGrantRoleRequest,
    AuthUserGrantRoleResponse,
    AuthUserListRequest,
    AuthUserListResponse,
    AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse,
    Permission,
    PermissionType,
    UserAddOptions,
)

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


class _GoString:
    """A proto ``string``: ``json_codec``'s, with lone surrogates made
    U+FFFD on input (Python keeps them; Go replaces them)."""

    def encode(self, value: str) -> Any:
        return STRING.encode(value)

    def decode(self, value: Any) -> str:
        return _LONE_SURROGATE.sub("\ufffd", STRING.decode(value))


class _Message:
    """A message-valued field; ``None`` when absent (``header``: always
    present, written even when all zero)."""

    def __init__(self, cls: type) -> None:
        self.cls = cls

    def encode(self, value: Any) -> Any:
        return None if value is None else encode_message(value)

    def decode(self, value: Any) -> Any:
        return None if value is None else decode_message(self.cls, value)


class _Repeated:
    def __init__(self, item: Any, go_type: str) -> None:
        self.item, self.go_type = item, go_type

    def encode(self, values: tuple) -> Any:
        if not values:
            return None
        if isinstance(self.item, _Message):
            return [encode_message(value) for value in values]
        return list(values)  # strings: each written, "" included

    def decode(self, value: Any) -> tuple:
        if value is None:
            return ()
        if not isinstance(value, list):
            raise type_error(value, f"[]{self.go_type}")
        if isinstance(self.item, _Message) and any(element is None for element in value):
            raise RequestDecodeError(f"json: null element in a list of {self.item.cls.__name__}")
        return tuple(self.item.decode(element) for element in value)


_STRING = _GoString()
_HEADER = MessageCodec(ResponseHeader, optional=False)
_PERM_TYPE = EnumCodec(PermissionType, "authpb.Permission_Type")

# (proto field name, dataclass attribute, codec), in proto field order.
_SCHEMAS: dict[type, tuple[tuple[str, str, Any], ...]] = {
    Permission: (("permType", "perm_type", _PERM_TYPE), ("key", "key", BYTES), ("range_end", "range_end", BYTES)),
    UserAddOptions: (("no_password", "no_password", BOOL),),
    AuthEnableRequest: (),
    AuthDisableRequest: (),
    AuthenticateRequest: (("name", "name", _STRING), ("password", "password", _STRING)),
    AuthUserAddRequest: (
        ("name", "name", _STRING), ("password", "password", _STRING),
        ("options", "options", _Message(UserAddOptions)),
    ),
    AuthUserGetRequest: (("name", "name", _STRING),),
    AuthUserDeleteRequest: (("name", "name", _STRING),),
    AuthUserChangePasswordRequest: (("name", "name", _STRING), ("password", "password", _STRING)),
    AuthUserGrantRoleRequest: (("user", "user", _STRING), ("role", "role", _STRING)),
    AuthUserRevokeRoleRequest: (("name", "name", _STRING), ("role", "role", _STRING)),
    AuthRoleAddRequest: (("name", "name", _STRING),),
    AuthRoleGetRequest: (("role", "role", _STRING),),
    AuthUserListRequest: (),
    AuthRoleListRequest: (),
    AuthRoleDeleteRequest: (("role", "role", _STRING),),
    AuthRoleGrantPermissionRequest: (("name", "name", _STRING), ("perm", "perm", _Message(Permission))),
    AuthRoleRevokePermissionRequest: (
        ("role", "role", _STRING), ("key", "key", BYTES), ("range_end", "range_end", BYTES),
    ),
    AuthEnableResponse: (("header", "header", _HEADER),),
    AuthDisableResponse: (("header", "header", _HEADER),),
    AuthenticateResponse: (("header", "header", _HEADER), ("token", "token", _STRING)),
    AuthUserAddResponse: (("header", "header", _HEADER),),
    AuthUserGetResponse: (("header", "header", _HEADER), ("roles", "roles", _Repeated(_STRING, "string"))),
    AuthUserDeleteResponse: (("header", "header", _HEADER),),
    AuthUserChangePasswordResponse: (("header", "header", _HEADER),),
    AuthUserGrantRoleResponse: (("header", "header", _HEADER),),
    AuthUserRevokeRoleResponse: (("header", "header", _HEADER),),
    AuthRoleAddResponse: (("header", "header", _HEADER),),
    AuthRoleGetResponse: (
        ("header", "header", _HEADER), ("perm", "perm", _Repeated(_Message(Permission), "*authpb.Permission")),
    ),
    AuthRoleListResponse: (("header", "header", _HEADER), ("roles", "roles", _Repeated(_STRING, "string"))),
    AuthUserListResponse: (("header", "header", _HEADER), ("users", "users", _Repeated(_STRING, "string"))),
    AuthRoleDeleteResponse: (("header", "header", _HEADER),),
    AuthRoleGrantPermissionResponse: (("header", "header", _HEADER),),
    AuthRoleRevokePermissionResponse: (("header", "header", _HEADER),),
}


def encode_message(message: Any) -> dict:
    """The gateway's JSON object for ``message`` (a request or a response)."""
    out: dict[str, Any] = {}
    for name, attr, codec in _schema(type(message)):
        value = codec.encode(getattr(message, attr))
        if value is not None:
            out[name] = value
    return out


def decode_message(cls: type, value: Any) -> Any:
    """The ``cls`` instance the JSON ``value`` holds; ``RequestDecodeError``
    with Go's words if it does not fit. Unknown fields are ignored."""
    obj = require_object(value)
    kwargs = {}
    for name, attr, codec in _schema(cls):
        present, raw = lookup(obj, name)
        if present:
            decoded = codec.decode(raw)
            if decoded is not None or codec is _HEADER:
                kwargs[attr] = decoded
    return cls(**kwargs)


def decode_request(cls: type, body: bytes | str) -> Any:
    """A request of type ``cls`` from a POST body, read as the gateway
    reads it (an empty body is ``{}``)."""
    return decode_message(cls, parse_body(body))


def _schema(cls: type) -> tuple:
    try:
        return _SCHEMAS[cls]
    except KeyError:
        raise TypeError(f"{cls.__name__} has no auth JSON mapping") from None
