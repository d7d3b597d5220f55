"""Encryption of secret items at rest.

A secret item's content is stored sealed with AES-256-GCM (``cryptography``)
under a key that is not in the store: a node derives it from the cluster
secret file in its data dir (HKDF-SHA256), the same on every member. A copy
of the store — a snapshot, a backup, a root user reading ``/v3/kv/range``
— holds only ciphertext. The blob's address is the hash of the sealed
bytes, so not even equality of two secrets shows.

Sealed content: ``b"ccs1" + 12-byte nonce + ciphertext-and-tag``; the
version prefix is also the associated data, so a blob of another format
is refused rather than misread."""
from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = b"ccs1"
NONCE_BYTES = 12
MASK = "********"


class SecretBoxError(ValueError):
    """Sealed content that does not open with this key."""


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("a secret box key is 32 bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_cluster_secret(cls, secret: bytes) -> "SecretBox":
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"config_center secret items").derive(secret)
        return cls(key)

    def seal(self, plaintext: bytes) -> bytes:
        nonce = os.urandom(NONCE_BYTES)
        return VERSION + nonce + self._aead.encrypt(nonce, plaintext, VERSION)

    def open(self, sealed: bytes) -> bytes:
        if not sealed.startswith(VERSION) or len(sealed) < len(VERSION) + NONCE_BYTES + 16:
            raise SecretBoxError("not sealed content of this version")
        nonce = sealed[len(VERSION):len(VERSION) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[len(VERSION) + NONCE_BYTES:], VERSION)
        except InvalidTag:
            raise SecretBoxError("sealed content does not open with this key (another cluster's, or altered)") from None
