"""Lease expiry, the leader-local part (etcd's lessor deadlines and its
``Promote``/``Demote``).

Only the leader counts time for leases. It keeps a deadline per lease, moves
it on each keep-alive, and when one passes it *proposes* a revoke through the
log (the runtime does that with what ``expired`` returns); the revoke takes
effect when applied, on every member alike. Nothing here is replicated or
persisted: a new leader starts from the replicated leases and gives each a
full TTL again (``promote``), so a leader change never expires a lease early.

Pure: every method takes ``now`` (seconds, any monotonic origin) from the
caller and never reads a clock. Not thread-safe.

Keeping it in step with the store is the runtime's job: ``on_grant`` after a
grant is applied, ``on_revoke`` after a revoke is applied, ``promote`` with
the store's leases on becoming leader, ``demote`` on losing leadership, and
``reset`` after a snapshot is restored.
"""
from __future__ import annotations

from typing import Iterable

from .api import LeaseNotFoundError

# etcd retries a revoke it proposed for an expired lease after 3 s if the
# lease is still there (the proposal may have been lost).
RETRY_INTERVAL = 3.0


class LeaseClock:
    """Deadlines of the leases this member knows, counted only while it is
    the leader (``is_leader``). A follower keeps the TTLs but no deadlines,
    exactly as etcd's lessor keeps non-primary leases "forever"."""

    __slots__ = ("_ttl", "_deadline", "is_leader", "retry_interval")

    def __init__(self, *, retry_interval: float = RETRY_INTERVAL) -> None:
        self._ttl: dict[int, int] = {}
        self._deadline: dict[int, float] = {}
        self.is_leader = False
        self.retry_interval = retry_interval

    def __contains__(self, lease_id: int) -> bool:
        return lease_id in self._ttl

    # -- replicated events (called after they are applied) ---------------------------------

    def on_grant(self, lease_id: int, ttl: int, now: float) -> None:
        """A grant of ``lease_id`` with (effective) ``ttl`` was applied."""
        self._ttl[lease_id] = ttl
        if self.is_leader:
            self._deadline[lease_id] = now + ttl

    def on_revoke(self, lease_id: int) -> None:
        """A revoke of ``lease_id`` was applied (unknown ids are ignored)."""
        self._ttl.pop(lease_id, None)
        self._deadline.pop(lease_id, None)

    def retain(self, live: Iterable[int]) -> None:
        """Forget every lease not in ``live`` (after a revoke was applied,
        whichever member proposed it)."""
        keep = set(live)
        for lease_id in [lid for lid in self._ttl if lid not in keep]:
            self.on_revoke(lease_id)

    def reset(self, leases: Iterable[tuple[int, int]], now: float) -> None:
        """Replace everything with ``(id, ttl)`` pairs (after a restore); as
        leader every deadline starts over at ``now + ttl``."""
        self._ttl = dict(leases)
        self._deadline = {}
        if self.is_leader:
            self.promote(now)

    # -- leadership ------------------------------------------------------------------------

    def promote(self, now: float, extend: float = 0.0) -> None:
        """This member became leader: every lease gets a fresh deadline,
        ``now + extend + ttl`` (etcd extends by the election timeout so that
        leases do not expire during the leader change)."""
        self.is_leader = True
        self._deadline = {lease_id: now + extend + ttl for lease_id, ttl in self._ttl.items()}

    def demote(self) -> None:
        """This member is no longer leader: stop counting."""
        self.is_leader = False
        self._deadline = {}

    # -- leader-local operations --------------------------------------------------------------

    def keepalive(self, lease_id: int, now: float) -> int:
        """Renew ``lease_id``: its deadline becomes ``now + ttl``; returns
        the TTL (what etcd's keep-alive response carries). Raises
        ``LeaseNotFoundError`` for an unknown lease and ``RuntimeError`` on a
        follower (keep-alives go to the leader)."""
        ttl = self._ttl.get(lease_id)
        if ttl is None:
            raise LeaseNotFoundError()
        if not self.is_leader:
            raise RuntimeError("keepalive on a member that is not the leader")
        self._deadline[lease_id] = now + ttl
        return ttl

    def remaining(self, lease_id: int, now: float) -> int | None:
        """Whole seconds left before ``lease_id`` expires (truncated, as
        etcd's ``int64(Remaining().Seconds())``; 0 once past), or ``None`` if
        unknown or not counted here (follower)."""
        deadline = self._deadline.get(lease_id)
        if deadline is None:
            return None
        return max(0, int(deadline - now))

    def expired(self, now: float, limit: int | None = None) -> list[int]:
        """Leases whose deadline has passed, earliest first (at most
        ``limit``). The runtime proposes a revoke for each. A returned lease
        is not returned again for ``retry_interval`` seconds, so a revoke in
        flight is not proposed on every tick; if it is still there after
        that (the proposal was lost), it is returned again."""
        if not self.is_leader:
            return []
        due = sorted((deadline, lease_id) for lease_id, deadline in self._deadline.items() if deadline <= now)
        if limit is not None:
            due = due[:limit]
        for _, lease_id in due:
            self._deadline[lease_id] = now + self.retry_interval
        return [lease_id for _, lease_id in due]
