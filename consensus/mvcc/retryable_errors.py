"""What a client is told when the runtime could not finish its request.

``consensus.node`` raises ``NotLeaderError`` (no leader, or leadership lost
while the request waited) and proposals and reads raise ``TimeoutError``.
Every edge that answers clients (the gateway, the auth and membership
routes) turns them into etcd's errors with ``as_store_error``, so the
wording and codes live here once.
"""
from __future__ import annotations

from consensus.node import NotLeaderError

from .api import StoreError


class NoLeaderError(StoreError):
    """No leader, or leadership was lost while the request waited."""

    grpc_code = 14  # UNAVAILABLE
    message = "etcdserver: no leader"


class RequestTimedOutError(StoreError):
    """The proposal or read did not complete in its time; it may still be
    applied later, exactly as with etcd."""

    grpc_code = 14
    message = "etcdserver: request timed out"


def as_store_error(exc: BaseException) -> StoreError | None:
    """The ``StoreError`` a client should see for ``exc``; ``None`` for an
    exception that is not a known outcome (a bug: the caller logs it and
    answers an internal error)."""
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, NotLeaderError):
        return NoLeaderError()
    if isinstance(exc, TimeoutError):
        return RequestTimedOutError()
    return None
