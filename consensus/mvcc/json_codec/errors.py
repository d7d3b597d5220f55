"""Errors as the gateway reports them: the body, the HTTP status, and the
error for a body that does not decode.

A failed request is answered with ``{"error": msg, "message": msg, "code":
grpc_code}`` and the HTTP status grpc-gateway v1 gives that code
(``OUT_OF_RANGE`` is 400, ``NOT_FOUND`` 404, ``FAILED_PRECONDITION`` 412,
...). A body the gateway cannot turn into a request is code 3
(INVALID_ARGUMENT) on unary endpoints and code 2 (UNKNOWN, HTTP 500) on the
streaming ones.
"""
from __future__ import annotations

from consensus.mvcc.api import (
    CompactedError,
    DuplicateKeyError,
    FutureRevisionError,
    InvalidRequestError,
    KeyNotFoundError,
    KeyNotProvidedError,
    KeyTooLargeError,
    LeaseExistsError,
    LeaseNotFoundError,
    LeaseProvidedError,
    LeaseTTLTooLargeError,
    NoSpaceError,
    RequestTooLargeError,
    StoreError,
    TooManyOpsError,
    ValueProvidedError,
)
from consensus.mvcc.json_codec.paths import STREAMING_KINDS


class RequestDecodeError(InvalidRequestError):
    """A body the gateway could not turn into a request. Code 3 on unary
    endpoints; streaming ones report code 2 (``for_kind`` sets it)."""

    def for_kind(self, kind: str) -> "RequestDecodeError":
        if kind in STREAMING_KINDS:
            self.grpc_code = 2
        return self


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
