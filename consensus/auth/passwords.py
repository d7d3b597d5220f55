"""Password hashes: salted scrypt, computed by the proposer so that the log
(and every member's database) carries the hash, never the password.

Format: ``scrypt$<n>$<r>$<p>$<salt b64>$<key b64>`` (standard base64, 16
bytes of salt from ``os.urandom`` per hash, a 32-byte key). The parameters
travel with the hash, so raising the cost later leaves old hashes
verifiable. Default cost: n=2**15, r=8, p=1 — 32 MiB and about 0.1 s on
this project's reference machine, a little above bcrypt cost 10 (etcd's
default). Hashing and verifying are CPU-bound: ``PasswordHasher`` runs them
in a worker thread (``asyncio.to_thread``), never on the event loop.

Nothing here logs, and no error message quotes a password.
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import os
from dataclasses import dataclass

SCHEME = "scrypt"
DEFAULT_N = 2**15
DEFAULT_R = 8
DEFAULT_P = 1
SALT_BYTES = 16
KEY_BYTES = 32
# Refuse hashes whose parameters would take absurd memory or time to check.
_MAX_N = 2**20
_MAX_R = 32
_MAX_P = 16


def _memory(n: int, r: int, p: int) -> int:
    return 128 * r * (n + p + 2) + 1024 * 1024


def _encode_password(password: str) -> bytes:
    # Lone surrogates cannot come from JSON (json_messages replaces them),
    # but a password must never make hashing raise.
    return password.encode("utf-8", "surrogatepass")


def hash_password(password: str, *, n: int = DEFAULT_N, r: int = DEFAULT_R, p: int = DEFAULT_P,
                  salt: bytes | None = None) -> str:
    """The encoded hash of ``password`` with a fresh random salt (or
    ``salt``, for tests)."""
    salt = os.urandom(SALT_BYTES) if salt is None else salt
    key = hashlib.scrypt(_encode_password(password), salt=salt, n=n, r=r, p=p, dklen=KEY_BYTES,
                         maxmem=_memory(n, r, p))
    return "$".join((SCHEME, str(n), str(r), str(p), _b64(salt), _b64(key)))


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``password`` matches ``encoded``. A malformed hash, or one
    with out-of-bounds parameters, matches nothing."""
    try:
        scheme, n_text, r_text, p_text, salt_text, key_text = encoded.split("$")
        n, r, p = int(n_text), int(r_text), int(p_text)
        salt, expected = base64.b64decode(salt_text, validate=True), base64.b64decode(key_text, validate=True)
    except (ValueError, binascii.Error):
        return False
    if scheme != SCHEME or not (1 < n <= _MAX_N and n & (n - 1) == 0 and 0 < r <= _MAX_R and 0 < p <= _MAX_P):
        return False
    if not expected:
        return False
    key = hashlib.scrypt(_encode_password(password), salt=salt, n=n, r=r, p=p, dklen=len(expected),
                         maxmem=_memory(n, r, p))
    return hmac.compare_digest(key, expected)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


@dataclass(frozen=True)
class PasswordHasher:
    """Hashing with fixed cost parameters, off the event loop."""

    n: int = DEFAULT_N
    r: int = DEFAULT_R
    p: int = DEFAULT_P

    def __post_init__(self) -> None:
        if not (1 < self.n <= _MAX_N and self.n & (self.n - 1) == 0):
            raise ValueError(f"scrypt n must be a power of two in (1, {_MAX_N}], got {self.n}")
        if not (0 < self.r <= _MAX_R and 0 < self.p <= _MAX_P):
            raise ValueError(f"scrypt r and p out of bounds: r={self.r}, p={self.p}")

    def hash_sync(self, password: str) -> str:
        return hash_password(password, n=self.n, r=self.r, p=self.p)

    async def hash(self, password: str) -> str:
        return await asyncio.to_thread(self.hash_sync, password)

    async def verify(self, password: str, encoded: str) -> bool:
        return await asyncio.to_thread(verify_password, password, encoded)

    async def waste(self, password: str) -> None:
        """Take as long as a verification, for a user that does not exist,
        so a failed login does not tell whether the user exists."""
        await asyncio.to_thread(hash_password, password, n=self.n, r=self.r, p=self.p, salt=b"\0" * SALT_BYTES)
