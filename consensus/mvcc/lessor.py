"""Leases, the replicated part (after etcd's ``lessor``): which leases exist,
their granted TTL, and which keys each one holds.

Time is not here. Whether a lease has expired is the leader's local
judgement (``lease_clock.LeaseClock``); when it decides so, it proposes a
``LeaseRevokeRequest`` through the log, and every member applies the revoke
here at the same point of the log. So this module is deterministic: a grant
or revoke changes the same state on every member.

Attachments follow the keys: a put with ``lease=L`` attaches the key to
``L`` (detaching it from any lease it had), a put without a lease detaches
it, and deleting the key detaches it. They are not stored separately: each
live key's latest revision carries its lease, and ``load`` rebuilds the map
from there on open. Grants and revokes write the ``lease`` table in the
apply's own transaction, so leases, keys and the applied index commit
together.
"""
from __future__ import annotations

from typing import Iterable

from .backend import Backend


class Lessor:
    """Live leases and their attached keys. Every mutation is part of the
    current apply's backend transaction; the caller serializes access."""

    __slots__ = ("_backend", "_ttl", "_keys", "_lease_of")

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._ttl: dict[int, int] = {}
        self._keys: dict[int, set[bytes]] = {}
        self._lease_of: dict[bytes, int] = {}

    def load(self, attachments: Iterable[tuple[bytes, int]]) -> None:
        """Read the lease table and attach ``(key, lease)`` pairs (every live
        key with a lease). A key held by a lease that does not exist means
        the database is inconsistent: raises."""
        self._ttl = dict(self._backend.leases())
        self._keys = {lease_id: set() for lease_id in self._ttl}
        self._lease_of = {}
        for key, lease_id in attachments:
            if lease_id not in self._ttl:
                raise RuntimeError(f"key {key!r} is attached to lease {lease_id}, which does not exist")
            self._keys[lease_id].add(key)
            self._lease_of[key] = lease_id

    # -- reads -------------------------------------------------------------------------

    def lookup(self, lease_id: int) -> int | None:
        """The granted TTL of ``lease_id``, or ``None`` if it does not exist."""
        return self._ttl.get(lease_id)

    def lease_of(self, key: bytes) -> int:
        """The lease holding ``key`` now, 0 if none."""
        return self._lease_of.get(key, 0)

    def keys(self, lease_id: int) -> list[bytes]:
        """The keys ``lease_id`` holds, sorted (the order a revoke deletes
        them in, so every member writes the same sub-revisions)."""
        return sorted(self._keys.get(lease_id, ()))

    def leases(self) -> list[tuple[int, int]]:
        """``(id, granted TTL)`` of every lease, by id."""
        return sorted(self._ttl.items())

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self._ttl

    # -- writes ------------------------------------------------------------------------

    def grant(self, lease_id: int, ttl: int) -> None:
        if lease_id in self._ttl:
            raise RuntimeError(f"lease {lease_id} granted twice")
        self._backend.put_lease(lease_id, ttl)
        self._ttl[lease_id] = ttl
        self._keys[lease_id] = set()

    def remove(self, lease_id: int) -> None:
        """Forget ``lease_id``; its keys must have been deleted already (a
        revoke deletes them in the same revision)."""
        if self._keys.get(lease_id):
            raise RuntimeError(f"lease {lease_id} removed while it holds {len(self._keys[lease_id])} keys")
        self._backend.delete_lease(lease_id)
        del self._ttl[lease_id]
        del self._keys[lease_id]

    def attach(self, lease_id: int, key: bytes) -> None:
        keys = self._keys.get(lease_id)
        if keys is None:
            raise RuntimeError(f"attach {key!r} to lease {lease_id}, which does not exist")
        keys.add(key)
        self._lease_of[key] = lease_id

    def detach(self, lease_id: int, key: bytes) -> None:
        keys = self._keys.get(lease_id)
        if keys is None or key not in keys:
            raise RuntimeError(f"detach {key!r} from lease {lease_id}, which does not hold it")
        keys.discard(key)
        del self._lease_of[key]
