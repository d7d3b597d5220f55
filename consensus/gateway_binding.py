"""Binds the client front ends — the JSON gateway, built once when the
ASGI app is imported, and the gRPC server (``serve_local_grpc``) — to the
member that runs later in the same process.

The gateway's authorizer and its extra routes (``/v3/auth/*``,
``/v3/cluster/member/*``) depend on the running member (its auth state,
its membership service, whether ``--store-auth`` is on). These stand-ins
look the member up on every request; while no member runs they answer
etcd's retryable "unavailable" error.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from consensus.auth.routes import AUTH_PATHS, UNAUTHENTICATED_PATHS
from consensus.cluster.member_routes import MEMBER_PATHS
from consensus.gateway.app import ExtraRoute
from consensus.member import local_services, local_store
from consensus.mvcc.api import Limits, StoreError
from consensus.mvcc.json_codec import error_to_json


logger = logging.getLogger(__name__)


class MemberNotRunningError(StoreError):
    grpc_code = 14
    message = "etcdserver: the store member is not running"


class LocalAuthorizer:
    """The running member's authorizer."""

    @staticmethod
    def _current():
        services = local_services()
        if services is None:
            raise MemberNotRunningError()
        return services.authorizer

    async def authenticate(self, token: str | None) -> str | None:
        return await self._current().authenticate(token)

    def authorize(self, user: str | None, kind: str, request: object) -> None:
        self._current().authorize(user, kind, request)

    def watch_changes(self, callback):
        return self._current().watch_changes(callback)


def _delegate(path: str):
    async def handler(body: bytes, user: Any, headers: Any) -> tuple[int, bytes]:
        services = local_services()
        route = services.routes.get(path) if services is not None else None
        if route is None:
            status, error = error_to_json(MemberNotRunningError())
            return status, json.dumps(error).encode()
        return await route(body, user, headers)
    return handler


def local_extra_routes() -> dict[str, ExtraRoute]:
    """Every auth and cluster path, each calling the running member's handler."""
    paths = list(AUTH_PATHS) + list(MEMBER_PATHS)
    return {path: ExtraRoute(_delegate(path), authenticate=path not in UNAUTHENTICATED_PATHS) for path in paths}


async def serve_local_grpc(host: str, port: int, *, limits: Limits | None = None) -> None:
    """etcd's gRPC API on ``host:port`` over this process's member, until
    cancelled; a port that cannot be bound is logged as the flag's error
    and ends the task (which stops the node)."""
    from consensus.etcd_api.calls import EtcdApi
    from consensus.grpc.server import GrpcListenError, serve_grpc

    try:
        await serve_grpc(EtcdApi(local_store, authorizer=LocalAuthorizer()), local_services, host=host, port=port,
                         limits=limits)
    except GrpcListenError as error:
        logger.error("%s", error)  # the line an operator reads; the task's failure stops the node
        raise
