"""What every service call needs: the store client, the clock, the limits,
and a cache of content blobs."""
from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol

import cachetools

from config_center.store.client import StoreClient


@dataclass(frozen=True)
class Limits:
    """Refused above these, with ``LimitError``. An item's content must also
    fit the store's own request limit (1.5 MiB by default), which the
    default item size leaves room under."""

    max_item_bytes: int = 1024 * 1024
    max_namespaces: int = 10_000
    max_items_per_namespace: int = 1_000


@dataclass(frozen=True)
class Actor:
    """Who makes a change (a user name), from where, and through which of
    their API tokens if any: all three go into the audit log. Rules about
    people (four eyes) compare ``name`` alone, so a token is its owner."""

    name: str
    address: str = ""
    token: str | None = None


class BlobCache:
    """Content blobs by key, least recently used first out, bounded in
    bytes (``cachetools``). Blobs are immutable (addressed by their hash),
    so a cached blob is never stale."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._blobs: cachetools.LRUCache = cachetools.LRUCache(maxsize=max_bytes, getsizeof=len)

    def get(self, key: bytes) -> bytes | None:
        return self._blobs.get(key)

    def put(self, key: bytes, value: bytes) -> None:
        if len(value) <= self.max_bytes and key not in self._blobs:
            self._blobs[key] = value


class PasswordHasher(Protocol):
    """How user passwords are hashed: the web edge passes Django's hashers.
    Both calls are slow on purpose; the service runs them off the loop."""

    def make(self, password: str) -> str: ...

    def check(self, password: str, encoded: str) -> bool: ...


@dataclass
class ServiceContext:
    client: StoreClient
    limits: Limits = field(default_factory=Limits)
    clock: Callable[[], float] = time.time
    blobs: BlobCache = field(default_factory=BlobCache)
    passwords: PasswordHasher | None = None
    # Seals secret items (``secret_box.SecretBox``); None: no secret items.
    secrets: Any = None

    _chain_locks: "weakref.WeakValueDictionary[str, asyncio.Lock]" = field(
        default_factory=weakref.WeakValueDictionary, repr=False)

    def chain_lock(self, chain: str) -> asyncio.Lock:
        """One lock per audit chain for the changes this process makes:
        they would conflict on the chain's head anyway, and taking turns
        saves the retries (a long change, such as pruning, could otherwise
        lose every race against a busy namespace)."""
        lock = self._chain_locks.get(chain)
        if lock is None:
            lock = asyncio.Lock()
            self._chain_locks[chain] = lock
        return lock

    def now(self) -> str:
        """The current time as RFC 3339 UTC with milliseconds."""
        t = self.clock()
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"
