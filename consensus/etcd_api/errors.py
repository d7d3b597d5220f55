"""The failures of the etcd API layer that are not the store's own, and how
any failure is named to a client whatever the codec.

- ``StoreNotRunningError``: the process serves clients but its member is
  starting or stopping (code 14, which clients retry).
- ``InternalError``: a bug on our side, logged with what was being done
  (``internal_error``); the client gets code 13 and no details.
- ``grpc_reason``: an error worded as a Go gRPC client prints a status, the
  ``cancel_reason`` etcd gives a refused watch.

``as_store_error`` (re-exported from ``consensus.mvcc.retryable_errors``)
turns the runtime's own exceptions into etcd's: no leader and a timed-out
proposal are both code 14.
"""
from __future__ import annotations

import logging

from consensus.mvcc.api import StoreError
from consensus.mvcc.retryable_errors import NoLeaderError, RequestTimedOutError, as_store_error  # noqa: F401

logger = logging.getLogger("consensus.etcd_api")


class StoreNotRunningError(StoreError):
    """The process serves clients but its store member is not running (it is
    starting or stopping)."""

    grpc_code = 14
    message = "etcdserver: the store member of this node is not running yet or any more; retry shortly"


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
    logger.error("etcd API: %s failed", context, exc_info=exc)
    return InternalError()


def client_error(exc: BaseException, context: str) -> StoreError:
    """The ``StoreError`` a client is answered with for ``exc``: the store's
    and the runtime's own errors as etcd names them, anything else an
    ``InternalError`` (logged)."""
    return as_store_error(exc) or internal_error(exc, context)


def grpc_reason(error: StoreError) -> str:
    """``error`` as a Go gRPC client prints a status."""
    code = error.grpc_code
    name = GRPC_CODE_NAMES[code] if 0 <= code < len(GRPC_CODE_NAMES) else f"Code({code})"
    return f"rpc error: code = {name} desc = {error.text}"
