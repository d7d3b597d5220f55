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

The runtime's own exceptions are translated by ``as_store_error``:
``NotLeaderError`` is etcd's "etcdserver: no leader" and a proposal or read
that ran out of time (``TimeoutError``) is "etcdserver: request timed out" —
both code 14 (UNAVAILABLE, HTTP 503), which clients retry.
"""
from __future__ import annotations

import json
import logging
from http import HTTPStatus

from consensus.mvcc.api import StoreError
from consensus.mvcc.json_codec import error_to_json, http_status
from consensus.mvcc.retryable_errors import NoLeaderError, RequestTimedOutError, as_store_error  # noqa: F401 (re-exported)

logger = logging.getLogger(__name__)


class StoreNotRunningError(StoreError):
    """The process serves HTTP but its store member is not running (it is
    starting or stopping)."""

    grpc_code = 14
    message = "etcdserver: the store member of this node is not running yet or any more; retry shortly"


class MessageTooLargeError(StoreError):
    """A body above the gateway's limit, refused before it is decoded, in
    the words gRPC uses for a message above its receive limit (code 8,
    RESOURCE_EXHAUSTED, HTTP 429)."""

    grpc_code = 8

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"grpc: received message larger than max ({size} vs. {limit})")


class InternalError(StoreError):
    """A bug on our side; the details are in the node's log."""

    grpc_code = 13  # INTERNAL
    message = "etcdserver: internal error (logged on the node)"


# Go's codes.Code.String(), for messages worded like a gRPC status.
GRPC_CODE_NAMES = (
    "OK", "Canceled", "Unknown", "InvalidArgument", "DeadlineExceeded", "NotFound", "AlreadyExists",
    "PermissionDenied", "ResourceExhausted", "FailedPrecondition", "Aborted", "OutOfRange",
    "Unimplemented", "Internal", "Unavailable", "DataLoss", "Unauthenticated",
)


def internal_error(exc: BaseException, context: str) -> StoreError:
    """Log an unexpected exception with what was being done; the error to
    answer with."""
    logger.error("gateway: %s failed", context, exc_info=exc)
    return InternalError()


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


def grpc_reason(error: StoreError) -> str:
    """``error`` as a Go gRPC client prints a status: the ``cancel_reason``
    etcd gives a watch its permission check refused."""
    code = error.grpc_code
    name = GRPC_CODE_NAMES[code] if 0 <= code < len(GRPC_CODE_NAMES) else f"Code({code})"
    return f"rpc error: code = {name} desc = {error.text}"
