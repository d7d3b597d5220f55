"""Request bodies: reading one as etcd 3.4's gateway reads it, and writing
one as a client would send it.

Decoding is two steps, as in the gateway: ``parse_body`` turns the bytes
into a JSON object, ``request_from_json`` turns the object into a request
of the path's kind. A request that decodes is not otherwise validated
(``key is not provided`` and the like are the store's to raise).
"""
from __future__ import annotations

import json
from typing import Any

from consensus.mvcc.json_codec.errors import RequestDecodeError
from consensus.mvcc.json_codec.go_json import RawNumber, body_syntax_error, type_error
from consensus.mvcc.json_codec.messages import decode_message, encode_message
from consensus.mvcc.json_codec.paths import UNARY_REQUEST_TYPE, kind_of, resolve_kind
from consensus.mvcc.json_codec.streams import (
    WATCH_REQUEST_TYPES,
    watch_request_from_json,
    watch_request_to_json,
)


def parse_body(raw: bytes | str, kind: str = "range") -> dict:
    """The JSON object of a request body, read as the gateway reads it: an
    empty body is ``{}``, only the first JSON value counts (anything after it
    is ignored), and it must be an object or ``null`` (which is ``{}``).
    Raises ``RequestDecodeError``."""
    kind = resolve_kind(kind)
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    stripped = text.lstrip(" \t\r\n")
    if not stripped:
        return {}
    decoder = json.JSONDecoder(parse_float=RawNumber)
    try:
        value, _end = decoder.raw_decode(stripped)
    except json.JSONDecodeError as error:
        raise body_syntax_error(stripped, error).for_kind(kind) from None
    if value is None:
        return {}  # Go leaves the message empty for ``null``; etcd then answers as for ``{}``
    if not isinstance(value, dict):
        raise type_error(value, "map[string]json.RawMessage").for_kind(kind)
    return value


def request_from_json(path_or_kind: str, obj: dict) -> Any:
    """The request a gateway path (or kind) would hand etcd for ``obj``.

    ``obj`` is the parsed body (see ``parse_body``). For ``/v3/watch`` the
    result is a ``WatchCreateRequest``, ``WatchCancelRequest`` or
    ``WatchProgressRequest``. Raises ``InvalidRequestError`` (a
    ``RequestDecodeError`` for JSON that does not fit the message) with the
    gateway's message; a request that decodes is not otherwise validated
    (``key is not provided`` and the like are the store's to raise).
    """
    kind = resolve_kind(path_or_kind)
    try:
        if kind == "watch":
            return watch_request_from_json(obj)
        return decode_message(UNARY_REQUEST_TYPE[kind], obj)
    except RequestDecodeError as error:
        raise error.for_kind(kind)


def request_to_json(request: Any) -> dict:
    """The JSON body a client POSTs to ``path_of(request)``."""
    if isinstance(request, WATCH_REQUEST_TYPES):
        return watch_request_to_json(request)
    kind_of(request)  # rejects types that are not requests
    return encode_message(request)
