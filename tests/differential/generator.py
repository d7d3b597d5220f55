"""Seeded random request sequences for the differential tests.

``Generator(seed)`` yields ``api`` requests: puts (prev_kv, leases,
ignore_value / ignore_lease), deletes (single, range, prefix, from-key, all),
txns (compares over every target and result, single keys and ranges, nested
txns), ranges (limit, count_only, keys_only, every sort, the four revision
filters, historical, compacted and future revisions), compactions, and lease
grant / revoke / time-to-live / leases. Revisions in requests are the store's
own (the harness shifts them for etcd).

The sequence depends only on the seed and on the store's revision and compact
revision, which the generator reads before each request (to aim historical
reads and compactions near the present).

Leases: IDs come from a small fixed pool so grants collide, revokes hit and
miss, and puts attach to live and dead leases. A lease granted with a TTL
below etcd's minimum (2 s) could expire by etcd's wall clock during a seed,
so such a lease never gets keys: its expiry would then delete nothing and
bump no revision. Every other grant is at least a minute, far longer than a
seed runs. IDs are always given: etcd picks a random ID for ``ID=0``, which
no store could reproduce.
"""
from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any, Callable

from consensus.mvcc.api import (
    Compare,
    CompactionRequest,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    TxnRequest,
)
from consensus.mvcc.json_codec import LeaseLeasesRequest

KEYS = (
    b"a", b"a/1", b"a/2", b"a/b", b"a0", b"b", b"b\x00", b"c", b"\x00", b"\x01z", b"\xff", b"\xff\xff",
)
VALUES = (b"", b"x", b"y", b"z", b"\x00\xff", b"value-" * 6, "é".encode())
LEASE_IDS = (1, 2, 3, 7, 1 << 40, (1 << 62) + 5)
LONG_TTLS = (60, 600, 3600, 86400)
SHORT_TTLS = (-1, 0, 1, 2)  # etcd raises each to its minimum, 2 s
TOO_LARGE_TTL = 9_000_000_001


def prefix_end(key: bytes) -> bytes:
    """The range_end that makes ``key`` a prefix (etcd's GetPrefixRangeEnd)."""
    end = bytearray(key)
    for i in range(len(end) - 1, -1, -1):
        if end[i] < 0xFF:
            end[i] += 1
            return bytes(end[: i + 1])
    return b"\x00"  # all 0xff: every key from ``key`` on


@dataclass
class StoreView:
    """What the generator may look at before each request."""

    revision: Callable[[], int]
    compact_revision: Callable[[], int]


class Generator:
    """A seeded stream of requests; ``next_request()`` gives the next one."""

    def __init__(self, seed: int, view: StoreView, *, short_ttls: tuple[int, ...] = SHORT_TTLS) -> None:
        # ``short_ttls=()`` leaves out leases that expire within the run: two
        # servers compared over the wire each expire them on their own clock,
        # so whether one is still there at a given step is a race.
        self.rng = random.Random(seed)
        self.view = view
        self.short_ttls = short_ttls
        self.short_leases: set[int] = set()  # granted with a TTL < 60: never given keys
        self.live_leases: set[int] = set()  # granted and not revoked, as the harness reports

    # -- building blocks -----------------------------------------------------------

    def key(self) -> bytes:
        if self.rng.random() < 0.01:
            return b""  # etcd: key is not provided
        return self.rng.choice(KEYS)

    def value(self) -> bytes:
        if self.rng.random() < 0.1:
            return bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(1, 12)))
        return self.rng.choice(VALUES)

    def key_range(self, *, allow_all: bool = True) -> tuple[bytes, bytes]:
        """(key, range_end): one key, a prefix, from a key on, a span between
        two pool keys (possibly empty), or every key."""
        rng = self.rng
        roll = rng.random()
        key = self.key()
        if roll < 0.45:
            return key, b""
        if roll < 0.65:
            return key, prefix_end(key) if key else b""
        if roll < 0.75:
            return key, b"\x00"
        if roll < 0.92 or not allow_all:
            return key, rng.choice(KEYS)
        return b"\x00", b"\x00"

    def revision(self, *, zero_weight: float = 0.0) -> int:
        """A revision near the store's: mostly in its history, sometimes
        compacted, at the present, or in the future."""
        rng = self.rng
        if rng.random() < zero_weight:
            return 0
        current = self.view.revision()
        compact = self.view.compact_revision()
        roll = rng.random()
        if roll < 0.08:
            return current + rng.randint(1, 3)  # future
        if roll < 0.16 and compact > 1:
            return rng.randint(1, compact - 1)  # compacted away
        if roll < 0.2:
            return current
        return rng.randint(max(1, compact), max(1, current))

    def lease_for_put(self) -> int:
        live = sorted(self.live_leases - self.short_leases)
        if live and self.rng.random() < 0.7:
            return self.rng.choice(live)
        usable = [lease for lease in LEASE_IDS if lease not in self.short_leases]
        return self.rng.choice(usable + [12345])  # 12345: never granted

    # -- requests ------------------------------------------------------------------

    def put(self) -> PutRequest:
        rng = self.rng
        ignore_value = rng.random() < 0.08
        ignore_lease = rng.random() < 0.08
        value = self.value()
        if ignore_value and rng.random() < 0.8:
            value = b""  # mostly valid; else etcd's "value is provided"
        lease = self.lease_for_put() if rng.random() < 0.3 else 0
        if ignore_lease and rng.random() < 0.8:
            lease = 0  # mostly valid; else etcd's "lease is provided"
        return PutRequest(
            key=self.key(),
            value=value,
            lease=lease,
            prev_kv=rng.random() < 0.3,
            ignore_value=ignore_value,
            ignore_lease=ignore_lease,
        )

    def delete_range(self) -> DeleteRangeRequest:
        key, range_end = self.key_range()
        return DeleteRangeRequest(key=key, range_end=range_end, prev_kv=self.rng.random() < 0.5)

    def range(self, *, in_txn: bool = False) -> RangeRequest:
        rng = self.rng
        key, range_end = self.key_range()
        sort_order = rng.choice([SortOrder.NONE] * 4 + [SortOrder.ASCEND, SortOrder.DESCEND])
        sort_target = rng.choice([SortTarget.KEY] * 3 + list(SortTarget))

        def filter_revision() -> int:
            return self.revision() if rng.random() < 0.15 else 0

        revision = self.revision(zero_weight=0.65)
        if rng.random() < 0.02 and not in_txn:
            # etcd: a revision <= 0 means the present. Not inside a txn: there
            # etcd 3.4 compares it with its compact revision, which a reset
            # etcd has and a fresh store has not (test_kv_vs_etcd covers that
            # case against a fresh etcd).
            revision = -1
        return RangeRequest(
            key=key,
            range_end=range_end,
            limit=rng.choice([0] * 6 + [1, 2, 3, -1]),
            revision=revision,
            sort_order=sort_order,
            sort_target=sort_target,
            serializable=rng.random() < 0.1,
            keys_only=rng.random() < 0.15,
            count_only=rng.random() < 0.1,
            min_mod_revision=filter_revision(),
            max_mod_revision=filter_revision(),
            min_create_revision=filter_revision(),
            max_create_revision=filter_revision(),
        )

    def compare(self) -> Compare:
        rng = self.rng
        target = rng.choice(list(CompareTarget))
        if rng.random() < 0.2:
            key, range_end = self.key_range()
        else:
            key, range_end = self.key(), b""
        operand: int | bytes
        if target is CompareTarget.VALUE:
            operand = self.value()
        elif target is CompareTarget.VERSION:
            operand = rng.choice([0, 0, 1, 1, 2, 3])
        elif target is CompareTarget.LEASE:
            operand = rng.choice((0, 0) + LEASE_IDS)
        else:
            operand = 0 if rng.random() < 0.3 else self.revision()
        return Compare(result=rng.choice(list(CompareResult)), target=target, key=key,
                       operand=operand, range_end=range_end)

    def txn_op(self, depth: int) -> Any:
        roll = self.rng.random()
        if roll < 0.4:
            return self.put()
        if roll < 0.7:
            return self.range(in_txn=True)
        if roll < 0.9 or depth >= 2:
            return self.delete_range()
        return self.txn(depth + 1)

    def txn(self, depth: int = 0) -> TxnRequest:
        rng = self.rng
        return TxnRequest(
            compare=tuple(self.compare() for _ in range(rng.choice([0, 1, 1, 2, 3]))),
            success=tuple(self.txn_op(depth) for _ in range(rng.choice([0, 1, 1, 2, 3]))),
            failure=tuple(self.txn_op(depth) for _ in range(rng.choice([0, 1, 1, 2]))),
        )

    def compaction(self) -> CompactionRequest:
        rng = self.rng
        current = self.view.revision()
        compact = self.view.compact_revision()
        roll = rng.random()
        if roll < 0.1:
            revision = current + 1  # future
        elif roll < 0.2 and compact > 0:
            revision = compact  # already compacted
        else:
            revision = rng.randint(max(1, compact), max(1, current))
        return CompactionRequest(revision=revision, physical=rng.random() < 0.3)

    def lease_grant(self) -> LeaseGrantRequest:
        rng = self.rng
        lease = rng.choice(LEASE_IDS)
        roll = rng.random()
        if roll < 0.15 and self.short_ttls:
            ttl = rng.choice(self.short_ttls)
            self.short_leases.add(lease)
        elif roll < 0.18:
            ttl = TOO_LARGE_TTL
        else:
            ttl = rng.choice(LONG_TTLS)
            # A long grant of an ID that is held short fails (lease exists),
            # so the ID stays short; only a revoke frees it.
        return LeaseGrantRequest(TTL=ttl, ID=lease)

    def lease_revoke(self) -> LeaseRevokeRequest:
        # The harness calls ``revoked`` when it succeeds: then the ID may be
        # granted again with a long TTL.
        live = sorted(self.live_leases)
        if live and self.rng.random() < 0.6:
            return LeaseRevokeRequest(ID=self.rng.choice(live))
        return LeaseRevokeRequest(ID=self.rng.choice(LEASE_IDS + (12345,)))

    def lease_time_to_live(self) -> LeaseTimeToLiveRequest:
        return LeaseTimeToLiveRequest(ID=self.rng.choice(LEASE_IDS + (12345,)), keys=self.rng.random() < 0.7)

    def next_request(self) -> Any:
        roll = self.rng.random()
        for weight, make in (
            (0.27, self.put),
            (0.10, self.delete_range),
            (0.20, self.txn),
            (0.23, self.range),
            (0.04, self.compaction),
            (0.06, self.lease_grant),
            (0.04, self.lease_revoke),
            (0.04, self.lease_time_to_live),
            (0.02, LeaseLeasesRequest),
        ):
            if roll < weight:
                return make()
            roll -= weight
        return self.range()

    def observe(self, request: Any, succeeded: bool) -> None:
        """The harness reports each request's fate, so later requests aim at
        leases that exist: a grant that succeeded makes a lease live, a
        revoke that succeeded frees its ID (it may be granted again, long)."""
        if not succeeded:
            return
        if isinstance(request, LeaseGrantRequest):
            self.live_leases.add(request.ID)
        elif isinstance(request, LeaseRevokeRequest):
            self.live_leases.discard(request.ID)
            self.short_leases.discard(request.ID)
