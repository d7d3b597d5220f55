"""The fan-out index: which watchers want an event on a given key.

A ``WatcherGroup`` holds watchers and answers ``match(key)`` with the buckets
of watchers whose range contains the key. It plays the part of etcd's
``watcherGroup`` (``server/storage/mvcc/watcher_group.go``), which keeps single
keys in a map and ranges in an interval tree; here the ranges are split by
shape, because each shape has a cheaper exact lookup than a general interval
stab:

=================  ===========================  ==============================
shape              request                      lookup for key ``k``
=================  ===========================  ==============================
single key         ``range_end == b""``         one dict probe
prefix ``p``       ``range_end == prefix_end``  one dict probe of ``k[:len(p)]``
                                                per distinct prefix length
from ``s`` on      ``range_end == b"\\0"``       bisect: every start <= ``k``
                                                matches (output-sensitive)
other ``[s, e)``   anything else                bisect on starts, then check
                                                each end (linear in distinct
                                                ranges starting before ``k``)
=================  ===========================  ==============================

Watchers with the same ``(key, range_end)`` share one ``WatcherBucket``, so ten
thousand watchers on one prefix cost one lookup and one bucket: the per-event
work is proportional to the watchers that match, not to all watchers. Since
every watcher in a bucket has the same range, the hub can select a revision's
events once per bucket.

Iteration orders are insertion orders (dicts, sorted containers), never hash
orders of objects, so delivery is deterministic from run to run.
"""
from __future__ import annotations

from itertools import islice
from typing import TYPE_CHECKING, Iterator

from sortedcontainers import SortedDict

if TYPE_CHECKING:
    from .watcher import Watcher

# etcd's "no end" marker: a range_end of b"\0" means every key >= key.
OPEN_END = b"\0"


def prefix_end(prefix: bytes) -> bytes:
    """The ``range_end`` that makes ``[prefix, range_end)`` exactly the keys
    starting with ``prefix`` (etcd's ``GetPrefixRangeEnd``): drop trailing
    0xff bytes and increment the last remaining one. A prefix of only 0xff
    bytes (or empty) has no such bound, and gets etcd's ``b"\\0"`` ("to the
    end")."""
    end = bytearray(prefix)
    while end and end[-1] == 0xFF:
        end.pop()
    if not end:
        return OPEN_END
    end[-1] += 1
    return bytes(end)


def key_in_range(key: bytes, start: bytes, range_end: bytes) -> bool:
    """Whether ``key`` is in the watch range ``(start, range_end)`` as etcd
    reads it: ``range_end`` empty means ``start`` alone, ``b"\\0"`` means
    every key from ``start`` on."""
    if not range_end:
        return key == start
    if range_end == OPEN_END:
        return key >= start
    return start <= key < range_end


def is_empty_range(start: bytes, range_end: bytes) -> bool:
    """etcd refuses a watch whose range holds no key ("mvcc: watcher range
    is empty"): an explicit end that is not after the start."""
    return bool(range_end) and range_end != OPEN_END and range_end <= start


class WatcherBucket:
    """The watchers of one exact ``(key, range_end)``, in insertion order."""

    __slots__ = ("key", "range_end", "watchers")

    def __init__(self, key: bytes, range_end: bytes) -> None:
        self.key = key
        self.range_end = range_end
        self.watchers: dict[Watcher, None] = {}

    def __repr__(self) -> str:
        return f"WatcherBucket({self.key!r}, {self.range_end!r}, {len(self.watchers)} watchers)"


class WatcherGroup:
    """A set of watchers indexed by range for ``match``.

    Contract: a watcher is added at most once (adding it again raises) and
    removed only if present (removing an absent one raises); a watcher's
    ``key`` and ``range_end`` must not change while it is in the group.
    """

    def __init__(self) -> None:
        self._buckets: dict[tuple[bytes, bytes], WatcherBucket] = {}
        self._members: dict[Watcher, WatcherBucket] = {}
        self._single: dict[bytes, WatcherBucket] = {}
        self._prefix: dict[bytes, WatcherBucket] = {}
        # distinct prefix length -> how many prefixes of that length are indexed
        self._prefix_lengths: dict[int, int] = {}
        self._open: SortedDict = SortedDict()  # start -> bucket, for [start, +inf)
        self._ranges: SortedDict = SortedDict()  # (start, end) -> bucket

    def __len__(self) -> int:
        return len(self._members)

    def __contains__(self, watcher: object) -> bool:
        return watcher in self._members

    def __iter__(self) -> Iterator[Watcher]:
        return iter(list(self._members))

    @property
    def bucket_count(self) -> int:
        return len(self._buckets)

    def add(self, watcher: Watcher) -> None:
        if watcher in self._members:
            raise ValueError(f"watcher {watcher.id} is already in the group")
        shape = (watcher.key, watcher.range_end)
        bucket = self._buckets.get(shape)
        if bucket is None:
            bucket = self._buckets[shape] = WatcherBucket(*shape)
            self._index(bucket)
        bucket.watchers[watcher] = None
        self._members[watcher] = bucket

    def remove(self, watcher: Watcher) -> None:
        bucket = self._members.pop(watcher, None)
        if bucket is None:
            raise ValueError(f"watcher {watcher.id} is not in the group")
        del bucket.watchers[watcher]
        if not bucket.watchers:
            del self._buckets[(bucket.key, bucket.range_end)]
            self._unindex(bucket)

    def match(self, key: bytes) -> Iterator[WatcherBucket]:
        """Every bucket whose range contains ``key``, each once. Cost: one
        dict probe for single keys, one per distinct prefix length, a bisect
        for open-ended ranges plus the matches, and for general ranges a
        bisect plus one end comparison per range starting at or before
        ``key``."""
        bucket = self._single.get(key)
        if bucket is not None:
            yield bucket
        if self._prefix_lengths:
            size = len(key)
            for length in self._prefix_lengths:
                if length <= size:
                    bucket = self._prefix.get(key[:length])
                    if bucket is not None:
                        yield bucket
        if self._open:
            yield from islice(self._open.values(), self._open.bisect_right(key))
        if self._ranges:
            # (start, end) <= (key, anything) <=> start <= key; key + b"\0" is
            # the smallest bytes string above key, so this bound is exact.
            for start_end in self._ranges.irange(maximum=(key + b"\0", b""), inclusive=(True, False)):
                if key < start_end[1]:
                    yield self._ranges[start_end]

    # -- index maintenance ----------------------------------------------------

    def _index(self, bucket: WatcherBucket) -> None:
        key, end = bucket.key, bucket.range_end
        if not end:
            self._single[key] = bucket
        elif end == OPEN_END:
            self._open[key] = bucket
        elif key and end == prefix_end(key):
            self._prefix[key] = bucket
            self._prefix_lengths[len(key)] = self._prefix_lengths.get(len(key), 0) + 1
        else:
            self._ranges[(key, end)] = bucket

    def _unindex(self, bucket: WatcherBucket) -> None:
        key, end = bucket.key, bucket.range_end
        if not end:
            del self._single[key]
        elif end == OPEN_END:
            del self._open[key]
        elif key and end == prefix_end(key):
            del self._prefix[key]
            left = self._prefix_lengths[len(key)] - 1
            if left:
                self._prefix_lengths[len(key)] = left
            else:
                del self._prefix_lengths[len(key)]
        else:
            del self._ranges[(key, end)]
