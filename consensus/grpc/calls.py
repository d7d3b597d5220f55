"""What every gRPC method of the node shares: the caller's token, etcd's
``hasleader`` rule, and how a failure becomes a gRPC status.

- The token is the ``token`` metadata clientv3 sends on every call after
  ``Auth.Authenticate`` (``None`` without one); it goes to the etcd API
  layer as is, which decides (``consensus.etcd_api.authorization``).
- ``hasleader``: a client that sends ``hasleader: true`` (clientv3's
  ``WithRequireLeader``, which etcdctl's watch and clientv3's keep-alives
  use) asks not to be served by a member that has no leader; such a stream
  is refused with etcd's "etcdserver: no leader" (UNAVAILABLE), so the
  client moves to another member instead of waiting on a partitioned one.
- A ``StoreError`` ends the call with its gRPC code and etcd's message,
  which clientv3 turns back into its typed errors (``rpctypes``) by the
  message; anything else is logged and answered INTERNAL
  (``consensus.etcd_api.errors.client_error``).
"""
from __future__ import annotations

from typing import Any, NoReturn

import grpc

from consensus.etcd_api.errors import NoLeaderError, client_error
from consensus.mvcc.api import StoreError

TOKEN_KEY = "token"
HAS_LEADER_KEY = "hasleader"

_STATUS_CODES = {code.value[0]: code for code in grpc.StatusCode}


def metadata_value(context: grpc.aio.ServicerContext, key: str) -> str | None:
    """The first value of request metadata ``key`` (lower case), if sent."""
    for name, value in context.invocation_metadata() or ():
        if name == key:
            return value if isinstance(value, str) else value.decode("latin-1")
    return None


def token_of(context: grpc.aio.ServicerContext) -> str | None:
    return metadata_value(context, TOKEN_KEY)


def requires_leader(context: grpc.aio.ServicerContext) -> bool:
    return metadata_value(context, HAS_LEADER_KEY) == "true"


def status_code(error: StoreError) -> grpc.StatusCode:
    return _STATUS_CODES.get(error.grpc_code, grpc.StatusCode.UNKNOWN)


async def abort(context: grpc.aio.ServicerContext, exc: BaseException, what: str) -> NoReturn:
    """End the call with the status for ``exc`` (module docstring)."""
    error = exc if isinstance(exc, StoreError) else client_error(exc, what)
    await context.abort(status_code(error), error.text)
    raise AssertionError("context.abort returned")  # it raises; this keeps the type checker honest


async def check_leader(context: grpc.aio.ServicerContext, store_leader_known: Any) -> None:
    """Refuse a ``hasleader`` stream when this member knows no leader."""
    if requires_leader(context) and not store_leader_known():
        await abort(context, NoLeaderError(), "checking for a leader")
