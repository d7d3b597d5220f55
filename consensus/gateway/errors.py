"""How a failure becomes what etcd 3.4's gateway would send.

Three shapes, all built from a ``StoreError`` (its message and gRPC code):

- unary endpoints, and a streaming endpoint whose *first* request fails to
  decode: the body ``{"error": msg, "message": msg, "code": grpc_code}``
  with the HTTP status grpc-gateway v1 gives the code (``error_response``,
  which is ``json_codec.error_to_json``);
- a streaming endpoint that fails after it started (a keep-alive stream
  whose member lost leadership): grpc-gateway v1.9's error chunk
  ``{"error": {"grpc_code": c, "http_code": h, "message": msg,
  "http_status": text}}``, the last thing in the stream (``stream_error_chunk``);
- a refused watch create request: the reason in the stream, worded as a Go
  gRPC client prints a status (``grpc_reason``).

What is not JSON is the etcd API layer's (``consensus.etcd_api.errors``,
re-exported here): the runtime's own exceptions translated by
``as_store_error`` ("etcdserver: no leader" and "etcdserver: request timed
out", both code 14, HTTP 503, which clients retry), ``internal_error``,
``grpc_reason``.
"""
from __future__ import annotations

import json
from http import HTTPStatus

from consensus.mvcc.api import StoreError
from consensus.mvcc.json_codec import error_to_json, http_status
from consensus.etcd_api.errors import (  # noqa: F401 (re-exported: the gateway's modules name them here)
    GRPC_CODE_NAMES,
    InternalError,
    NoLeaderError,
    RequestTimedOutError,
    StoreNotRunningError,
    as_store_error,
    grpc_reason,
    internal_error,
)


class MessageTooLargeError(StoreError):
    """A body above the gateway's limit, refused before it is decoded, in
    the words gRPC uses for a message above its receive limit (code 8,
    RESOURCE_EXHAUSTED, HTTP 429)."""

    grpc_code = 8

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"grpc: received message larger than max ({size} vs. {limit})")


_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def dumps(obj: object) -> bytes:
    """Compact JSON bytes, as Go's marshalers write them."""
    return _ENCODER.encode(obj).encode("utf-8", "replace")


def error_response(error: StoreError) -> tuple[int, bytes]:
    """``(http_status, body)`` of a failed unary request."""
    status, body = error_to_json(error)
    return status, dumps(body)


def stream_error_chunk(error: StoreError) -> tuple[int, bytes]:
    """``(http_status, chunk)``: the error chunk that ends a stream, and the
    status it carries when it is also the first thing sent."""
    code = error.grpc_code
    status = http_status(code)
    chunk = {
        "error": {
            "grpc_code": code,
            "http_code": status,
            "message": error.text,
            "http_status": HTTPStatus(status).phrase,
        }
    }
    return status, dumps(chunk)
