"""The gateway's ``Authorizer`` seam, backed by the replicated auth state.

``StoreAuthorizer(machine, tokens, read_index=node.read_index,
limits=limits, forwarding=KeepaliveForwarding(cluster_secret))``:

- ``await authenticate(token)`` — ``token`` is the raw ``Authorization``
  header value, ``None`` when there is none. Returns the user name, or
  ``None``: when auth is off (any token is then ignored, as etcd >= 3.4.26
  does; 3.4.23 refused it), and when there is no token — *anonymous*, not
  an error: status and member list are served without a token even with
  auth on, as in etcd (etcd 3.4 also serves lease grants, keep-alives and
  the lease list so; we do not, see ``permissions``), and the others are
  answered "etcdserver: user name is empty" (code 3) when their permission
  check runs, which is what ``authorize(None, ...)`` raises. A forwarded
  keep-alive's proof is answered with a ``ForwardedKeepalive`` (below). Raises
  ``InvalidAuthTokenError`` (code 16, HTTP 401) for a token that is
  malformed, forged, expired, or whose user was deleted or changed its
  password, or that was issued before auth was last enabled. An empty header
  is a token, and an invalid one (as etcd).
- ``authorize(user, kind, request)`` — synchronous; raises the
  ``StoreError`` etcd would (``permissions`` has the rules per kind, the
  system-prefix rule included); ``request`` may be ``None`` for the
  ``member_*`` kinds.

A new cluster is served nothing before its auth is set up: until the first
leader's ``BootstrapRoot`` (``bootstrap``) has been applied on this member,
the auth state is pristine (auth off, no user), which etcd would serve to
anyone; ``authenticate`` answers every request ``AuthNotReadyError``
(retryable) instead, so no one can write, read or create users of their
own in a cluster's first second. Only what asks neither question (status,
``/v3/auth/authenticate``, which fails anyway) is answered.

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

Forwarded keep-alives
---------------------
Only the leader renews leases, so a member that is not the leader forwards
a keep-alive to the leader's client URL (``consensus.cluster.leader_forward``)
— after its own gateway authorized the client, or for the config service in
its own process, which reaches the store without the gateway. The leader
must not refuse it for carrying no user token, nor be handed a token that
could do more than this one renewal. So the forwarding member sends, in the
``Authorization`` header, a proof from ``KeepaliveForwarding``:
``ccfwd1:`` and a token of ``tokens`` signed with a key of its own (derived
from the cluster secret with ``FORWARD_LABEL``, so a proof is never a valid
user token, nor a user token a proof) that names the lease and expires
after ``FORWARD_TTL`` seconds. ``authenticate`` answers it with a
``ForwardedKeepalive``; ``authorize`` lets that renew the lease it names and
refuses it everything else. A proof seen on the wire (client URLs are plain
HTTP, as are the user tokens sent there) lets its holder renew that one
lease for at most ``FORWARD_TTL`` seconds, and do nothing else.

``OpenAuthorizer`` is ``--store-auth=off``: no token needed, every request
allowed, whatever the replicated auth state says.
"""
from __future__ import annotations

import hashlib
import hmac
import time
from typing import Awaitable, Callable, Protocol, Self

from consensus.mvcc.api import LeaseTimeToLiveRequest, Limits

from .api import AuthNotReadyError, InvalidAuthTokenError, PermissionDeniedError
from .auth_state import AuthState
from .permissions import check_request
from .tokens import MAX_CLOCK_SKEW, TokenClaims, TokenSigner

FORWARD_PREFIX = "ccfwd1:"
FORWARD_LABEL = b"config_center store auth: forwarded keep-alive key v1"
# As long as the clock skew tokens tolerate: a proof is checked by another
# member's clock, which may be that far ahead of or behind the issuer's.
FORWARD_TTL = MAX_CLOCK_SKEW


class AuthMachine(Protocol):
    """What the authorizer reads: ``StoreStateMachine`` fits."""

    @property
    def auth_state(self) -> AuthState: ...

    def lease_time_to_live(self, request: LeaseTimeToLiveRequest, remaining: int | None): ...

    def add_auth_listener(self, fn: Callable[[], None]) -> Callable[[], None]: ...


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


class ForwardedKeepalive(str):
    """Who sent a keep-alive another member forwarded with a valid proof
    (module docstring, "Forwarded keep-alives"): not a user. It is the empty
    name, so a check that does not know this type sees "no user" and
    refuses; ``StoreAuthorizer.authorize`` lets it renew ``lease_id`` and
    nothing else."""

    lease_id: int

    def __new__(cls, lease_id: int) -> Self:
        self = super().__new__(cls, "")
        self.lease_id = lease_id
        return self

    def __repr__(self) -> str:
        return f"ForwardedKeepalive(lease_id={self.lease_id})"


class KeepaliveForwarding:
    """Issues and checks the proofs a member sends with the keep-alives it
    forwards to the leader (module docstring). Every member of a cluster
    must be given the same ``cluster_secret``."""

    def __init__(self, cluster_secret: bytes, *, clock: Callable[[], float] = time.time) -> None:
        key = hmac.new(cluster_secret, FORWARD_LABEL, hashlib.sha256).digest()
        self._signer = TokenSigner(key, ttl=FORWARD_TTL, clock=clock)

    def proof(self, lease_id: int) -> str:
        """The ``Authorization`` header value for forwarding a keep-alive of
        ``lease_id``."""
        return FORWARD_PREFIX + self._signer.issue(_lease_subject(lease_id), 0)

    def lease_of(self, proof: str) -> int:
        """The lease an authentic, unexpired ``proof`` lets its holder
        renew; else ``InvalidAuthTokenError``."""
        if not proof.startswith(FORWARD_PREFIX):
            raise InvalidAuthTokenError()
        kind, _, lease = self._signer.verify(proof[len(FORWARD_PREFIX):]).user.partition(" ")
        if kind != "lease":  # signed by this key, yet not a keep-alive's proof
            raise InvalidAuthTokenError()
        return int(lease)


def _lease_subject(lease_id: int) -> str:
    return f"lease {lease_id}"


class StoreAuthorizer:
    """The ``Authorizer`` of a member with ``--store-auth=on`` (module
    docstring). ``limits`` must be the store's (its request checks run here
    first, as etcd runs them before auth). ``forwarding`` checks forwarded
    keep-alives' proofs; without it (a member outside a cluster, which
    never receives one) a proof is an invalid token."""

    def __init__(self, machine: AuthMachine, tokens: TokenSigner, *,
                 read_index: Callable[[], Awaitable[object]] | None = None, limits: Limits = Limits(),
                 forwarding: KeepaliveForwarding | None = None, locked_until_set_up: bool = True) -> None:
        self._machine = machine
        self._tokens = tokens
        self._read_index = read_index
        self._limits = limits
        self._forwarding = forwarding
        # False only to model etcd, whose store starts open until someone
        # enables auth (the tests that compare with it).
        self._locked_until_set_up = locked_until_set_up

    async def authenticate(self, token: str | None) -> str | None:
        state = self._machine.auth_state
        if state.pristine and self._locked_until_set_up:
            # A new cluster whose first leader has not enabled auth yet: open
            # in etcd's sense, and so never to be served (module docstring).
            raise AuthNotReadyError()
        if not state.enabled or token is None:
            return None
        if token.startswith(FORWARD_PREFIX):
            if self._forwarding is None:
                raise InvalidAuthTokenError()
            return ForwardedKeepalive(self._forwarding.lease_of(token))
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
        state = self._machine.auth_state
        if isinstance(user, ForwardedKeepalive) and state.enabled:
            if kind == "lease_keepalive" and request.ID == user.lease_id:
                return  # the forwarding member checked the client
            raise PermissionDeniedError()
        check_request(state, user, kind, request, self._lease_keys, self._limits)

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        """``callback()`` after every committed change of the auth state."""
        return self._machine.add_auth_listener(callback)

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

    def watch_changes(self, callback: Callable[[], None]) -> Callable[[], None]:
        return _stop_nothing


def _stop_nothing() -> None:
    return None
