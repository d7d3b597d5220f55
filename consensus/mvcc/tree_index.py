"""The in-memory index of every key: an ordered map key -> ``KeyIndex``
(after etcd's ``treeIndex``, which keeps them in a B-tree).

It holds revisions only, never values: a read finds here *which* revision of
each key it wants, then fetches those rows from the backend in one query.
The order is ``sortedcontainers.SortedDict``'s (bytes order), so a range
``[key, end)`` is a slice of the map.

Range ends follow etcd's ``mkGteRange``: ``end=None`` is the single key
``key``; ``end=b""`` means every key from ``key`` on (what a request's
``range_end = b"\\0"`` becomes); otherwise the half-open ``[key, end)``.
"""
from __future__ import annotations

from typing import Iterator

from sortedcontainers import SortedDict

from .key_index import KeyIndex


def range_end_of(range_end: bytes) -> bytes | None:
    """A request's ``range_end`` as this index takes it: ``b""`` (absent) is
    the single key (``None``); ``b"\\0"`` is "to the end of the keyspace"
    (``b""``); anything else is an exclusive upper bound."""
    if not range_end:
        return None
    if range_end == b"\0":
        return b""
    return range_end


def key_in_range(key: bytes, start: bytes, end: bytes | None) -> bool:
    """Whether ``key`` is in the range ``(start, end)`` as this index reads it."""
    if end is None:
        return key == start
    return key >= start and (not end or key < end)


class TreeIndex:
    """key -> ``KeyIndex``, ordered by key. Not thread-safe; the store
    serializes access."""

    __slots__ = ("_tree",)

    def __init__(self) -> None:
        self._tree: SortedDict = SortedDict()

    def __len__(self) -> int:
        return len(self._tree)

    def key_index(self, key: bytes) -> KeyIndex | None:
        return self._tree.get(key)

    def key_indexes(self, key: bytes, end: bytes | None) -> Iterator[KeyIndex]:
        """The key indexes in the range, in key order."""
        tree = self._tree
        if end is None:
            ki = tree.get(key)
            if ki is not None:
                yield ki
            return
        if end and end <= key:
            return
        for k in tree.irange(key, end or None, inclusive=(True, False)):
            yield tree[k]

    def all(self) -> Iterator[KeyIndex]:
        return iter(self._tree.values())

    # -- writes ----------------------------------------------------------------------

    def put(self, key: bytes, rev: int) -> None:
        ki = self._tree.get(key)
        if ki is None:
            ki = self._tree[key] = KeyIndex(key)
        ki.put(rev)

    def tombstone(self, key: bytes, rev: int) -> None:
        ki = self._tree.get(key)
        if ki is None:
            raise KeyError(key)
        ki.tombstone(rev)

    def restore(self, key: bytes, rev: int, created: int, version: int, tombstone: bool) -> bool:
        """Rebuild from one stored row, rows arriving in revision order.
        Returns False for a tombstone of a key the index does not hold — only
        possible for a row that compaction has yet to delete, which the
        caller checks."""
        ki = self._tree.get(key)
        if tombstone:
            if ki is None or not ki.is_live():
                return False
            ki.tombstone(rev)
            return True
        if ki is None:
            ki = self._tree[key] = KeyIndex(key)
        ki.restore(rev, created, version)
        return True

    # -- reads -----------------------------------------------------------------------

    def get(self, key: bytes, at_main: int) -> tuple[int, int, int] | None:
        """``(modified, created, version)`` of ``key`` at ``at_main``, or
        ``None`` if it did not exist then."""
        ki = self._tree.get(key)
        return None if ki is None else ki.get(at_main)

    def revisions(self, key: bytes, end: bytes | None, at_main: int) -> list[tuple[bytes, int]]:
        """``(key, modified)`` of every key in the range that existed at
        ``at_main``, in key order."""
        out = []
        for ki in self.key_indexes(key, end):
            got = ki.get(at_main)
            if got is not None:
                out.append((ki.key, got[0]))
        return out

    # -- compaction ------------------------------------------------------------------

    def compact_key(self, key: bytes, at_main: int) -> KeyIndex | None:
        """Compact one key at ``at_main``; remove it if nothing of it is left.
        Returns what remains of it."""
        ki = self._tree.get(key)
        if ki is None:
            return None
        ki.compact(at_main)
        if ki.is_empty():
            del self._tree[key]
            return None
        return ki

    def compact(self, at_main: int) -> None:
        """Compact every key at ``at_main`` (O(keys); used on open only —
        while running, keys are compacted as the backend's rows are)."""
        for key in list(self._tree.keys()):
            self.compact_key(key, at_main)
