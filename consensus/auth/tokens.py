"""Stateless auth tokens: any member can check one, no member stores one.

A token is the opaque string a client gets from ``/v3/auth/authenticate``
and sends back verbatim in the ``Authorization`` header (etcd's clients do
exactly that). Its shape, for the record — clients must not parse it::

    ccv1.<payload>.<signature>

``payload`` is unpadded URL-safe base64 of the msgpack array ``[user,
auth_revision, issued_at, expires_at]`` (times in whole Unix seconds);
``signature`` is unpadded URL-safe base64 of HMAC-SHA256 over
``"ccv1." + payload`` with the signing key. The signing key is derived from
the cluster secret every member is given: ``HMAC-SHA256(cluster_secret,
SIGNING_LABEL)``, so the raw secret (which also authenticates peers) is
never used as a token key, and every member derives the same key.

What a token proves and what it does not
----------------------------------------
It names a user and the auth revision at which the user's password was
checked. It grants nothing by itself: ``authorizer`` evaluates permissions
against the *current* replicated state on every request, so granting or
revoking a role takes effect at once. The token is refused ("invalid auth
token") when it is malformed, its signature is wrong, it has expired, or
(``auth_state`` docstring) the user has been deleted or has changed its
password since, or auth was disabled since.

TTL: ``DEFAULT_TTL`` = 300 s, etcd's simple-token TTL. etcd renews a simple
token on each use; a stateless token cannot be renewed, so ours expires 300
s after issue and clients authenticate again (etcd's clients do this on
"invalid auth token" by themselves). Members' clocks are compared at
verification: a token issued more than ``MAX_CLOCK_SKEW`` seconds in this
member's future is refused too.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Callable

import msgpack

from .api import InvalidAuthTokenError

PREFIX = "ccv1"
SIGNING_LABEL = b"config_center store auth: token signing key v1"
DEFAULT_TTL = 300
MAX_CLOCK_SKEW = 60
MIN_SECRET_BYTES = 16


@dataclass(frozen=True, slots=True)
class TokenClaims:
    user: str
    auth_revision: int
    issued_at: int
    expires_at: int


class TokenSigner:
    """Issues and verifies tokens with the key derived from
    ``cluster_secret``. ``clock`` is wall-clock Unix time (tokens cross
    members, so it cannot be a monotonic clock)."""

    def __init__(self, cluster_secret: bytes, *, ttl: int = DEFAULT_TTL,
                 clock: Callable[[], float] = time.time, max_clock_skew: int = MAX_CLOCK_SKEW) -> None:
        if len(cluster_secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the cluster secret must be at least {MIN_SECRET_BYTES} bytes")
        if ttl <= 0:
            raise ValueError(f"token ttl must be positive, got {ttl}")
        self._key = hmac.new(cluster_secret, SIGNING_LABEL, hashlib.sha256).digest()
        self.ttl = int(ttl)
        self._clock = clock
        self._skew = max_clock_skew

    def issue(self, user: str, auth_revision: int) -> str:
        """A token for ``user``, whose password was checked against the
        auth state at ``auth_revision``."""
        now = int(self._clock())
        payload = msgpack.packb([user, auth_revision, now, now + self.ttl], use_bin_type=True)
        body = f"{PREFIX}.{_b64(payload)}"
        return f"{body}.{_b64(self._sign(body))}"

    def verify(self, token: str) -> TokenClaims:
        """The claims of a well-formed, authentic, unexpired token; else
        ``InvalidAuthTokenError``. Whether the user still holds those
        credentials is the caller's question (``auth_state``)."""
        parts = token.split(".")
        if len(parts) != 3 or parts[0] != PREFIX:
            raise InvalidAuthTokenError()
        body = f"{parts[0]}.{parts[1]}"
        try:
            signature = _unb64(parts[2])
        except ValueError:
            raise InvalidAuthTokenError() from None
        if not hmac.compare_digest(signature, self._sign(body)):
            raise InvalidAuthTokenError()
        try:
            user, auth_revision, issued_at, expires_at = msgpack.unpackb(_unb64(parts[1]), raw=False)
        except (ValueError, TypeError, msgpack.UnpackException):
            raise InvalidAuthTokenError() from None
        if not (isinstance(user, str) and all(type(v) is int for v in (auth_revision, issued_at, expires_at))):
            raise InvalidAuthTokenError()
        now = self._clock()
        if now >= expires_at or issued_at > now + self._skew:
            raise InvalidAuthTokenError()
        return TokenClaims(user, auth_revision, issued_at, expires_at)

    def _sign(self, body: str) -> bytes:
        return hmac.new(self._key, body.encode("ascii"), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict: only the canonical encoding of some bytes decodes (so a
    token has exactly one spelling)."""
    if not text.isascii():
        raise ValueError("not base64")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error as exc:
        raise ValueError("not base64") from exc
    if _b64(data) != text:
        raise ValueError("not canonical base64")
    return data
