"""Binds the gateway, built once when the ASGI app is imported, to the
member that runs later in the same process.

The gateway's authorizer and its extra routes (``/v3/auth/*``,
``/v3/cluster/member/*``) depend on the running member (its auth state,
its membership service, whether ``--store-auth`` is on). These stand-ins
look the member up on every request; while no member runs they answer
etcd's retryable "unavailable" error.
"""
from __future__ import annotations

import json
from typing import Any

from consensus.auth.routes import AUTH_PATHS, UNAUTHENTICATED_PATHS
from consensus.cluster.member_routes import MEMBER_PATHS
from consensus.gateway.app import ExtraRoute
from consensus.member import local_services
from consensus.mvcc.api import StoreError
from consensus.mvcc.json_codec import error_to_json


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
