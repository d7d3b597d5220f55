"""Revisions: the store's logical clock, etcd v3's ``revision{main, sub}``.

Every write request that changes something is applied at one new *main*
revision; the changes inside it (the keys a txn puts, the keys a delete range
removes) are numbered by *sub* revision 0, 1, 2, ... So ``Revision(7, 2)`` is
the third change of the seventh revision. Revisions order first by main, then
by sub.

Two encodings are used, both preserving that order:

- ``packed`` — one Python int, ``main << 64 | sub``. The in-memory key index
  keeps these (an int per revision is far lighter than an object), and
  comparing two packed ints compares the revisions.
- ``bytes`` — the packed int as 16 big-endian bytes (8 for main, 8 for sub).
  This is the primary key of the backend's ``kv`` table, so SQLite's
  ``memcmp`` order on the blob is revision order and a range scan of the
  table walks history in order.
"""
from __future__ import annotations

from dataclasses import dataclass

SUB_BITS = 64
SUB_MASK = (1 << SUB_BITS) - 1
REV_BYTES = 16


@dataclass(frozen=True, slots=True, order=True)
class Revision:
    """A point in the store's history: ``main`` counts write requests, ``sub``
    counts changes within one. Both are non-negative."""

    main: int
    sub: int = 0

    def __post_init__(self) -> None:
        if self.main < 0 or not 0 <= self.sub <= SUB_MASK:
            raise ValueError(f"revision out of range: main={self.main} sub={self.sub}")

    def pack(self) -> int:
        return pack(self.main, self.sub)

    def to_bytes(self) -> bytes:
        return to_bytes(self.pack())

    @classmethod
    def unpack(cls, packed: int) -> Revision:
        return cls(packed >> SUB_BITS, packed & SUB_MASK)

    @classmethod
    def from_bytes(cls, data: bytes) -> Revision:
        return cls.unpack(from_bytes(data))


def pack(main: int, sub: int = 0) -> int:
    """``(main, sub)`` as one order-preserving int."""
    return (main << SUB_BITS) | sub


def main_of(packed: int) -> int:
    return packed >> SUB_BITS


def sub_of(packed: int) -> int:
    return packed & SUB_MASK


def last_of_main(main: int) -> int:
    """The greatest packed revision whose main is ``main``: everything at or
    before revision ``main`` sorts at or below it."""
    return (main << SUB_BITS) | SUB_MASK


def to_bytes(packed: int) -> bytes:
    """The 16-byte big-endian key of the backend's ``kv`` table."""
    return packed.to_bytes(REV_BYTES, "big")


def from_bytes(data: bytes) -> int:
    if len(data) != REV_BYTES:
        raise ValueError(f"a revision key is {REV_BYTES} bytes, got {len(data)}")
    return int.from_bytes(data, "big")
