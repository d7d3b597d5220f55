"""``GatewayApp``: the ASGI application that serves ``/v3/...``.

``config_center.asgi`` hands it every HTTP request whose path starts with
``/v3/``; Django never sees them. Per request the path is short on purpose
(the node's put throughput over this API is measured against a real etcd's):
look the path up, read the body, decode it (``json_codec``), hand it to the
etcd API layer (``consensus.etcd_api.EtcdApi``: authentication,
authorization, the store call within a time bound, the header), encode,
answer. No middleware, no per-request objects beyond the request
and its response.

Routes
------
- unary, ``POST`` with a JSON body, answered with one JSON object:
  ``/v3/kv/range|put|deleterange|txn|compaction``,
  ``/v3/lease/grant|revoke|timetolive|leases`` and the
  ``/v3/kv/lease/revoke|timetolive|leases`` aliases,
  ``/v3/maintenance/hash`` and our ``/v3/maintenance/hashkv`` (see
  ``handlers``), ``/v3/maintenance/status`` (no auth, as in etcd);
- streaming: ``/v3/watch`` (``watch_stream``), ``/v3/lease/keepalive``
  (``keepalive_stream``) and ``/v3/maintenance/snapshot``
  (``snapshot_route``);
- ``extra_routes``: whatever the auth and cluster code plug in.

As etcd's gateway answers: an unknown path is ``404`` ``text/plain``
"Not Found"; another method than ``POST`` on a known path is ``405``
"Method Not Allowed"; a body that does not decode is etcd's error body (code
3, HTTP 400; code 2, HTTP 500 on the streaming endpoints); a ``StoreError``
is its message and code with the HTTP status for the code. Differences,
deliberate: no CORS headers and no ``OPTIONS`` preflight answer (etcd
allows every origin by default; a node's store must not be readable by
whatever web page its user's browser has open), so ``OPTIONS`` is a 405 as
well; and a body above ``max_body_bytes`` is refused unread with code 8,
where etcd measures the protobuf message against its gRPC limit.

Time: every unary request, extra routes included, is bounded by
``request_timeout``; a request that runs out of it is answered "etcdserver:
request timed out" (code 14, HTTP 503) — the proposal may still be applied,
as with etcd. Streams bound each store call the same way and end when the
client goes away.

Extra routes
------------
``extra_routes`` maps a path to a handler, ``async (body, user, headers) ->
(status, json_bytes)``: ``body`` the request body, ``user`` what
``authenticate`` returned for the request's ``Authorization`` header,
``headers`` the ASGI header list (lower-case names, bytes). A handler
raising a ``StoreError`` is answered with etcd's error body; ``NotLeaderError``
and ``TimeoutError`` as above. Wrap a handler in ``ExtraRoute(handler,
authenticate=False)`` for a route a client must reach without a valid token
(``/v3/auth/authenticate``): it then gets ``user=None`` and reads the
header itself if it cares. An extra route may not replace a built-in one.
"""
from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Mapping, Union

from consensus.etcd_api.authorization import Authorizer
from consensus.etcd_api.calls import REQUEST_TIMEOUT, EtcdApi, StoreProvider
from consensus.etcd_api.errors import client_error
from consensus.mvcc.api import Limits, StoreError
from consensus.mvcc.json_codec import PATHS, STREAMING_KINDS, parse_body, request_from_json, response_to_json

from .errors import MessageTooLargeError, dumps, error_response
from .keepalive_stream import serve_keepalive
from .snapshot_route import SNAPSHOT_PATH, serve_snapshot
from .status_json import status_json
from .watch_socket import serve_watch_socket
from .watch_stream import serve_watch

logger = logging.getLogger(__name__)

Headers = list[tuple[bytes, bytes]]
Handler = Callable[[bytes, Union[str, None], Headers], Awaitable[tuple[int, bytes]]]

# Our extension path for HashKV (``consensus.etcd_api.unary``).
HASHKV_PATH = "/v3/maintenance/hashkv"
STATUS_PATH = "/v3/maintenance/status"
# etcd's gRPC server takes messages up to max_request_bytes + 512 KiB; a
# JSON body carries bytes fields in base64 (4/3 larger), so no body above
# twice that could hold a message etcd would take.
MAX_BODY_BYTES = 2 * (Limits().max_request_bytes + 512 * 1024)
# The gRPC limit the refusal names.
GRPC_MAX_MESSAGE_BYTES = Limits().max_request_bytes + 512 * 1024

# Response headers, as etcd's gateway sends them.
JSON_OK: Headers = [(b"content-type", b"application/json"), (b"grpc-metadata-content-type", b"application/grpc")]
JSON_ERROR: Headers = [(b"content-type", b"application/json")]
_TEXT: Headers = [(b"content-type", b"text/plain; charset=utf-8"), (b"x-content-type-options", b"nosniff")]
# Our own: how many watches this member's hub holds (on /v3/maintenance/status).
WATCHERS_HEADER = b"x-config-center-watchers"


@dataclass(frozen=True)
class ExtraRoute:
    """An extra route's handler and whether the gateway authenticates the
    request before calling it (module docstring, "Extra routes")."""

    handler: Handler
    authenticate: bool = True


class ClientGone(Exception):
    """The client disconnected before its request body was complete."""


async def read_body(receive: Callable[[], Awaitable[dict]], limit: int) -> bytes:
    """The whole request body; ``MessageTooLargeError`` above ``limit``
    bytes, ``ClientGone`` if the client left first."""
    message = await receive()
    if message["type"] != "http.request":
        raise ClientGone()
    body = message.get("body", b"")
    if not message.get("more_body", False):
        if len(body) > limit:
            raise MessageTooLargeError(len(body), GRPC_MAX_MESSAGE_BYTES)
        return body
    parts = [body]
    size = len(body)
    while message.get("more_body", False):
        message = await receive()
        if message["type"] != "http.request":
            raise ClientGone()
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise MessageTooLargeError(size, GRPC_MAX_MESSAGE_BYTES)
        parts.append(chunk)
    return b"".join(parts)


def auth_token(scope: dict) -> str | None:
    """The raw ``Authorization`` header (etcd's clients send the token as is)."""
    for name, value in scope["headers"]:
        if name == b"authorization":
            return value.decode("latin-1")
    return None


async def respond(send: Callable[[dict], Awaitable[None]], status: int, body: bytes, headers: Headers) -> None:
    """One complete response with a ``content-length``."""
    await send({
        "type": "http.response.start",
        "status": status,
        "headers": [*headers, (b"content-length", str(len(body)).encode())],
    })
    await send({"type": "http.response.body", "body": body})


async def respond_error(send, error: StoreError) -> None:
    status, body = error_response(error)
    await respond(send, status, body, JSON_ERROR)


class GatewayApp:
    """etcd 3.4's JSON gateway over the store ``store_provider()`` returns
    (``None`` while the member is not running: requests then get a
    retryable code-14 error). See the module docstring for routes, errors,
    time bounds and the extra-route seam."""

    def __init__(
        self,
        store_provider: StoreProvider,
        *,
        authorizer: Authorizer | None = None,
        extra_routes: Mapping[str, Handler | ExtraRoute] | None = None,
        request_timeout: float = REQUEST_TIMEOUT,
        max_body_bytes: int = MAX_BODY_BYTES,
    ) -> None:
        self.api = EtcdApi(store_provider, authorizer=authorizer, request_timeout=request_timeout)
        self.store_provider = store_provider
        self.authorizer: Authorizer = self.api.authorizer
        self.request_timeout = request_timeout
        self.max_body_bytes = max_body_bytes
        self._routes: dict[str, Callable[[dict, Any, Any], Awaitable[None]]] = {}
        for path, kind in PATHS.items():
            if kind == "watch":
                self._routes[path] = self._serve_watch
            elif kind == "lease_keepalive":
                self._routes[path] = self._serve_keepalive
            else:
                self._routes[path] = self._unary_route(kind)
        self._routes[HASHKV_PATH] = self._unary_route("hashkv")
        self._routes[STATUS_PATH] = self._serve_status
        self._routes[SNAPSHOT_PATH] = self._serve_snapshot
        for path, route in (extra_routes or {}).items():
            if path in self._routes:
                raise ValueError(f"extra route {path} would replace a built-in route of the gateway")
            if not path.startswith("/v3/"):
                raise ValueError(f"extra route {path} is not under /v3/, which is all the gateway is given")
            if not isinstance(route, ExtraRoute):
                route = ExtraRoute(route)
            self._routes[path] = self._extra_route(path, route)

    @property
    def paths(self) -> frozenset[str]:
        """Every path served."""
        return frozenset(self._routes)

    async def __call__(self, scope: dict, receive, send) -> None:
        route = self._routes.get(scope["path"])
        if route is None:
            await respond(send, 404, b"Not Found\n", _TEXT)
        elif scope["method"] != "POST":
            await respond(send, 405, b"Method Not Allowed\n", _TEXT)
        else:
            await route(scope, receive, send)

    # -- unary ---------------------------------------------------------------------

    def _unary_route(self, kind: str) -> Callable[[dict, Any, Any], Awaitable[None]]:
        call = self.api.unary
        limit = self.max_body_bytes

        async def serve(scope: dict, receive, send) -> None:
            try:
                body = await read_body(receive, limit)
                request = request_from_json(kind, parse_body(body, kind))
                payload = dumps(response_to_json(await call(kind, request, auth_token(scope))))
            except ClientGone:
                return
            except Exception as exc:  # every outcome is answered; unknown ones are logged
                await respond_error(send, client_error(exc, f"POST {scope['path']}"))
                return
            await respond(send, 200, payload, JSON_OK)

        return serve

    async def _serve_status(self, scope: dict, receive, send) -> None:
        try:
            await read_body(receive, self.max_body_bytes)  # etcd reads it too; it has no fields
            payload = dumps(status_json(self.api.status()))
            watchers = str(len(self.api.store().hub)).encode()
        except ClientGone:
            return
        except Exception as exc:
            await respond_error(send, client_error(exc, "POST /v3/maintenance/status"))
            return
        await respond(send, 200, payload, [*JSON_OK, (WATCHERS_HEADER, watchers)])

    # -- streams ---------------------------------------------------------------------

    async def serve_watch_socket(self, scope: dict, receive, send) -> None:
        """``/ws/v1/watch`` (``watch_socket``), with this gateway's store and access checks."""
        await serve_watch_socket(scope, receive, send, api=self.api, token=auth_token(scope))

    async def _serve_watch(self, scope: dict, receive, send) -> None:
        await self._serve_stream(scope, receive, send, serve_watch)

    async def _serve_keepalive(self, scope: dict, receive, send) -> None:
        await self._serve_stream(scope, receive, send, serve_keepalive)

    async def _serve_snapshot(self, scope: dict, receive, send) -> None:
        await self._serve_stream(scope, receive, send, serve_snapshot)

    async def _serve_stream(self, scope: dict, receive, send, serve) -> None:
        try:
            body = await read_body(receive, self.max_body_bytes)
        except ClientGone:
            return
        except MessageTooLargeError as error:
            await respond_error(send, error)
            return
        await serve(body=body, api=self.api, token=auth_token(scope), receive=receive, send=send)

    # -- extra routes ------------------------------------------------------------------

    def _extra_route(self, path: str, route: ExtraRoute) -> Callable[[dict, Any, Any], Awaitable[None]]:
        async def serve(scope: dict, receive, send) -> None:
            try:
                body = await read_body(receive, self.max_body_bytes)
                user = await self.authorizer.authenticate(auth_token(scope)) if route.authenticate else None
                async with asyncio.timeout(self.request_timeout):
                    status, payload = await route.handler(body, user, scope["headers"])
            except ClientGone:
                return
            except Exception as exc:
                await respond_error(send, client_error(exc, f"POST {path}"))
                return
            await respond(send, status, payload, JSON_OK if status == 200 else JSON_ERROR)

        return serve


assert STREAMING_KINDS == {"watch", "lease_keepalive"}, "a new streaming kind needs a route of its own"
