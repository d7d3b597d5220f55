"""The streaming endpoints, ``/v3/watch`` and ``/v3/lease/keepalive``.

Their body is one ``{"result": response}`` object per line
(``stream_line``), and a body they cannot decode is reported with code 2
(UNKNOWN, HTTP 500) rather than 3 (``errors.RequestDecodeError.for_kind``).
A watch request is a oneof of three (``WATCH_REQUESTS``): the body names
``create_request``, ``cancel_request`` or ``progress_request``.
"""
from __future__ import annotations

from typing import Any

from consensus.mvcc.api import WatchCancelRequest, WatchCreateRequest, WatchProgressRequest
from consensus.mvcc.json_codec.errors import RequestDecodeError
from consensus.mvcc.json_codec.messages import decode_message, encode_message, lookup, require_object
from consensus.mvcc.json_codec.paths import STREAMING_KINDS

# Watch requests: a oneof of three, in proto field order.
WATCH_REQUESTS: tuple[tuple[str, type], ...] = (
    ("create_request", WatchCreateRequest),
    ("cancel_request", WatchCancelRequest),
    ("progress_request", WatchProgressRequest),
)
WATCH_REQUEST_TYPES = (WatchCreateRequest, WatchCancelRequest, WatchProgressRequest)


def stream_line(result: dict) -> dict:
    """One line of a streaming body holding the response JSON ``result``."""
    return {"result": result}


def stream_result(kind: str, obj: dict) -> dict:
    """The response JSON in ``obj``: for a streaming ``kind``, ``obj`` may be
    a whole line (``{"result": ...}``); anything else is returned as is."""
    if kind in STREAMING_KINDS and set(obj) == {"result"}:
        return obj["result"]
    return obj


def watch_request_from_json(obj: Any) -> Any:
    """The ``WatchCreateRequest``, ``WatchCancelRequest`` or
    ``WatchProgressRequest`` a ``/v3/watch`` body holds: the last member of
    the oneof that is present and not ``null``, as in jsonpb. Raises
    ``RequestDecodeError`` (left to the caller to mark as streaming)."""
    require_object(obj)
    chosen: Any = None
    for name, cls in WATCH_REQUESTS:
        present, raw = lookup(obj, name)
        if present and raw is not None:
            chosen = decode_message(cls, raw)
    if chosen is None:
        raise RequestDecodeError("a watch request needs create_request, cancel_request or progress_request")
    return chosen


def watch_request_to_json(request: Any) -> dict:
    """The ``/v3/watch`` body for ``request``, one of ``WATCH_REQUEST_TYPES``."""
    name = next(n for n, cls in WATCH_REQUESTS if cls is type(request))
    return {name: encode_message(request)}
