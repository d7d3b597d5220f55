"""The gateway's ``Authorizer`` seam, backed by the replicated auth state.

``StoreAuthorizer(machine, tokens, read_index=node.read_index,
limits=limits)``:

- ``await authenticate(token)`` — ``token`` is the raw ``Authorization``
  header value, ``None`` when there is none. Returns the user name, or
  ``None``: when auth is off (any token is then ignored, as etcd >= 3.4.26
  does; 3.4.23 refused it), and when there is no token — *anonymous*, not
  an error: etcd serves some requests without a token even with auth on
  (status, member list, lease grant and keep-alive, lease list), and answers
  the others "etcdserver: user name is empty" (code 3) when their permission
  check runs, which is what ``authorize(None, ...)`` raises. Raises
  ``InvalidAuthTokenError`` (code 16, HTTP 401) for a token that is
  malformed, forged, expired, or whose user was deleted or changed its
  password, or that was issued before auth was last enabled. An empty header
  is a token, and an invalid one (as etcd).
- ``authorize(user, kind, request)`` — synchronous; raises the
  ``StoreError`` etcd would (``permissions`` has the rules per kind, the
  system-prefix rule included); ``request`` may be ``None`` for the
  ``member_*`` kinds.

A member may lag behind the one that issued a token: a token naming an
auth revision this member has not applied yet is checked again after a
ReadIndex (``read_index``), so a user who just authenticated against the
leader is not refused by a follower.

Permission checks read this member's applied state at the moment of the
request. etcd additionally re-checks writes at apply time against the auth
revision the request was checked at; the store's requests carry no such
revision here, so a permission revoked while a write is in flight may let
that one write through (auth *management* commands, by contrast, are
re-checked at apply: ``commands``).

``OpenAuthorizer`` is ``--store-auth=off``: no token needed, every request
allowed, whatever the replicated auth state says.
"""
from __future__ import annotations

from typing import Awaitable, Callable, Protocol

from consensus.mvcc.api import LeaseTimeToLiveRequest, Limits

from .api import InvalidAuthTokenError
from .auth_state import AuthState
from .permissions import check_request
from .tokens import TokenClaims, TokenSigner


class AuthMachine(Protocol):
    """What the authorizer reads: ``StoreStateMachine`` fits."""

    @property
    def auth_state(self) -> AuthState: ...

    def lease_time_to_live(self, request: LeaseTimeToLiveRequest, remaining: int | None): ...


def token_valid(state: AuthState, claims: TokenClaims) -> bool:
    """Whether a token with authentic, unexpired ``claims`` still stands
    for its user in ``state`` (``auth_state`` docstring, "The auth
    revision")."""
    if not state.enabled or claims.auth_revision > state.revision:
        return False
    user = state.users.get(claims.user)
    return (
        user is not None
        and not user.no_password
        and user.credential_revision <= claims.auth_revision
        and state.enabled_revision <= claims.auth_revision
    )


class StoreAuthorizer:
    """The ``Authorizer`` of a member with ``--store-auth=on`` (module
    docstring). ``limits`` must be the store's (its request checks run here
    first, as etcd runs them before auth)."""

    def __init__(self, machine: AuthMachine, tokens: TokenSigner, *,
                 read_index: Callable[[], Awaitable[object]] | None = None, limits: Limits = Limits()) -> None:
        self._machine = machine
        self._tokens = tokens
        self._read_index = read_index
        self._limits = limits

    async def authenticate(self, token: str | None) -> str | None:
        state = self._machine.auth_state
        if not state.enabled or token is None:
            return None
        claims = self._tokens.verify(token)
        if claims.auth_revision > state.revision and self._read_index is not None:
            await self._read_index()  # this member is behind the issuer
            state = self._machine.auth_state
            if not state.enabled:
                return None
        if not token_valid(state, claims):
            raise InvalidAuthTokenError()
        return claims.user

    def authorize(self, user: str | None, kind: str, request: object) -> None:
        check_request(self._machine.auth_state, user, kind, request, self._lease_keys, self._limits)

    def _lease_keys(self, lease_id: int) -> tuple[bytes, ...]:
        response = self._machine.lease_time_to_live(LeaseTimeToLiveRequest(ID=lease_id, keys=True), None)
        return response.keys


class OpenAuthorizer:
    """``--store-auth=off``: nobody is named and everything is allowed."""

    __slots__ = ()

    async def authenticate(self, token: str | None) -> str | None:
        return None

    def authorize(self, user: str | None, kind: str, request: object) -> None:
        return None
