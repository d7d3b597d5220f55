"""The authorization seam of the gateway: who is asking, and may they.

Auth itself (users, roles, tokens) lives elsewhere; the gateway only asks
two questions through an ``Authorizer``, in this order, before any KV,
lease or watch request touches the store:

1. ``await authenticate(token)`` — ``token`` is the raw value of the
   request's ``Authorization`` header (etcd's clients send the token there
   as is, no ``Bearer``), or ``None`` without one. It returns the user name,
   or ``None`` for "anonymous" (auth off). With auth on, a bad or expired
   token raises ``InvalidAuthTokenError``; a missing one raises
   ``UserEmptyError`` (etcd 3.4 refuses a request without a token with
   "user name is empty", code 3 — not with code 16).
2. ``authorize(user, kind, request)`` — synchronous, it must not wait:
   ``kind`` is the json_codec kind of the request (``"range"``, ``"put"``,
   ``"deleterange"``, ``"txn"``, ``"compaction"``, ``"lease_grant"``,
   ``"lease_revoke"``, ``"lease_timetolive"``, ``"lease_leases"``,
   ``"lease_keepalive"``, ``"watch"`` for each watch create request,
   ``"hash"``, ``"hashkv"``, ``"snapshot"`` with request ``None``),
   ``request`` the decoded ``api`` dataclass. It
   raises ``PermissionDeniedError`` (or another ``StoreError``) to refuse.
   The rules, for whoever implements it (``consensus.auth.permissions``
   has them in full): range/watch need read on the range, put/delete
   write, a txn the permissions of every compare and op,
   compaction/hash/hashkv/snapshot and the lease list the root role; a
   lease grant needs a user, a keep-alive or revoke write on every key the
   lease holds (etcd 3.4 lets anyone grant, renew and list leases; our
   store is locked by default). ``"lease_keepalive"`` is asked once per
   keep-alive of a stream, with the token the stream was opened with.

Any ``StoreError`` raised by either is answered as etcd's gateway answers
it: an error body with the error's gRPC code and the HTTP status for it on
unary endpoints; on ``/v3/watch`` a refused create request is answered in
the stream (``created`` and ``canceled``, ``watch_id`` -1, ``cancel_reason``
"rpc error: code = PermissionDenied desc = etcdserver: permission denied"),
as etcd does; on ``/v3/lease/keepalive`` the stream ends with the gateway's
error chunk. ``/v3/maintenance/status`` asks neither question (etcd does not
either).

``AllowEveryone`` is the authorizer until auth lands: no token needed, every
request allowed, the user is ``None``.

Routes added with ``GatewayApp(extra_routes=...)`` (the auth and cluster
endpoints) get the user from ``authenticate`` too, unless registered with
``ExtraRoute(handler, authenticate=False)`` — ``/v3/auth/authenticate`` must
be reachable by a client whose old token has expired. Authorizing is the
extra handler's own business (see ``app``).
"""
from __future__ import annotations

from typing import Callable, Protocol, runtime_checkable

from consensus.mvcc.api import StoreError


class InvalidAuthTokenError(StoreError):
    """A token that names no live session (etcd: code 16, HTTP 401)."""

    grpc_code = 16  # UNAUTHENTICATED
    message = "etcdserver: invalid auth token"


class UserEmptyError(StoreError):
    """No token while auth is on (etcd 3.4: code 3, HTTP 400)."""

    grpc_code = 3  # INVALID_ARGUMENT
    message = "etcdserver: user name is empty"


class PermissionDeniedError(StoreError):
    """The user may not do this (etcd: code 7, HTTP 403)."""

    grpc_code = 7  # PERMISSION_DENIED
    message = "etcdserver: permission denied"


@runtime_checkable
class Authorizer(Protocol):
    """The two questions the gateway asks before a request reaches the store
    (module docstring). Both are called on the event loop."""

    async def authenticate(self, token: str | None) -> str | None:
        """The user a token (the raw ``Authorization`` header) belongs to;
        ``None`` when auth is off. Raises a ``StoreError`` when auth is on and
        the token is missing or bad."""
        ...

    def authorize(self, user: str | None, kind: str, request: object) -> None:
        """Return if ``user`` may send ``request`` (of json_codec ``kind``);
        raise a ``StoreError`` (``PermissionDeniedError``) if not."""
        ...

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback()`` (synchronously, on the loop) whenever the two
        answers above may have changed, before anything applied after the
        change is handed to watchers; returns the function that stops it.
        Long-lived streams ask again then (``watch_stream``). An authorizer
        whose answers never change calls nothing."""
        return _stop_nothing


class AllowEveryone:
    """Auth off: every request is allowed and nobody is named. The default
    until the auth store lands."""

    __slots__ = ()

    async def authenticate(self, token: str | None) -> str | None:
        return None

    def authorize(self, user: str | None, kind: str, request: object) -> None:
        return None

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        return _stop_nothing


def _stop_nothing() -> None:
    return None
