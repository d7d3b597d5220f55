"""The gateway's ``/v3/auth/*`` endpoints: exactly the sixteen paths etcd
3.4.23 serves (it has no ``/v3/auth/status``; that came with 3.5).

``build_auth_routes(service)`` returns ``{path: handler}`` for the gateway's
extra routes; a handler is ``async (body, user, headers) -> (http_status,
json_bytes)``, where ``user`` is what the authorizer's ``authenticate``
returned. ``UNAUTHENTICATED_PATHS`` must be registered without
authentication (``/v3/auth/authenticate``: a client whose token expired must
still reach it; etcd >= 3.4.26 ignores the token there).

Handlers authorize through the service (root for changes and lists, a user
may read itself and its roles: ``service``), answer etcd's JSON
(``json_messages``), and turn every ``StoreError`` into etcd's error body and
HTTP status. No leader and a timed-out proposal are etcd's "no leader" and
"request timed out" (code 14, HTTP 503), which clients retry.
"""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from consensus.mvcc.api import StoreError
from consensus.mvcc.json_codec import error_to_json
from consensus.mvcc.retryable_errors import as_store_error
from consensus.node import NotLeaderError

from .api import (
    AuthDisableRequest,
    AuthEnableRequest,
    AuthenticateRequest,
    AuthRoleAddRequest,
    AuthRoleDeleteRequest,
    AuthRoleGetRequest,
    AuthRoleGrantPermissionRequest,
    AuthRoleListRequest,
    AuthRoleRevokePermissionRequest,
    AuthUserAddRequest,
    AuthUserChangePasswordRequest,
    AuthUserDeleteRequest,
    AuthUserGetRequest,
    AuthUserGrantRoleRequest,
    AuthUserListRequest,
    AuthUserRevokeRoleRequest,
)
from .json_messages import decode_request, encode_message
from .service import OPERATIONS, AuthService

logger = logging.getLogger(__name__)

Handler = Callable[[bytes, Any, Any], Awaitable[tuple[int, bytes]]]

# Each path and the request it decodes to, in etcd's rpc.proto order.
AUTH_PATHS: dict[str, type] = {
    "/v3/auth/enable": AuthEnableRequest,
    "/v3/auth/disable": AuthDisableRequest,
    "/v3/auth/authenticate": AuthenticateRequest,
    "/v3/auth/user/add": AuthUserAddRequest,
    "/v3/auth/user/get": AuthUserGetRequest,
    "/v3/auth/user/list": AuthUserListRequest,
    "/v3/auth/user/delete": AuthUserDeleteRequest,
    "/v3/auth/user/changepw": AuthUserChangePasswordRequest,
    "/v3/auth/user/grant": AuthUserGrantRoleRequest,
    "/v3/auth/user/revoke": AuthUserRevokeRoleRequest,
    "/v3/auth/role/add": AuthRoleAddRequest,
    "/v3/auth/role/get": AuthRoleGetRequest,
    "/v3/auth/role/list": AuthRoleListRequest,
    "/v3/auth/role/delete": AuthRoleDeleteRequest,
    "/v3/auth/role/grant": AuthRoleGrantPermissionRequest,
    "/v3/auth/role/revoke": AuthRoleRevokePermissionRequest,
}

UNAUTHENTICATED_PATHS = frozenset({"/v3/auth/authenticate"})


def _dumps(obj: dict) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def error_answer(error: StoreError) -> tuple[int, bytes]:
    status, body = error_to_json(error)
    return status, _dumps(body)


def build_auth_routes(service: AuthService) -> dict[str, Handler]:
    """``{path: handler}`` for every path of ``AUTH_PATHS`` (module
    docstring)."""
    routes: dict[str, Handler] = {}
    for path, request_type in AUTH_PATHS.items():
        if request_type is AuthenticateRequest:
            async def call(request: Any, user: Any) -> Any:
                return await service.authenticate(request)
        else:
            operation = OPERATIONS[request_type]

            async def call(request: Any, user: Any, operation=operation) -> Any:
                return await operation(service, request, actor=user)
        routes[path] = _handler(path, request_type, call)
    return routes


def _handler(path: str, request_type: type, call: Callable[[Any, Any], Awaitable[Any]]) -> Handler:
    async def handler(body: bytes, user: Any, headers: Any) -> tuple[int, bytes]:
        try:
            request = decode_request(request_type, body)
            response = await call(request, user)
        except (StoreError, NotLeaderError, TimeoutError) as error:
            return error_answer(as_store_error(error))
        return 200, _dumps(encode_message(response))

    handler.__name__ = handler.__qualname__ = "auth" + path.removeprefix("/v3/auth").replace("/", "_")
    return handler
