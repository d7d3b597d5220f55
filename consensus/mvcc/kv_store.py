"""The multi-version key-value store (after etcd's ``mvcc`` store): the
key index in memory, every kept revision in the backend, and the store's
revision counters.

Reads ask the ``TreeIndex`` which revision of each key is visible at the
revision read, then fetch those rows from SQLite in one query. Writes go
through a ``WriteTxn``: all the changes of one request share one new main
revision, numbered by sub revision in the order they are made, and reads
inside it see its earlier changes.

Compaction has two halves. The logical half is immediate and replicated:
``compact(rev)`` sets the compact revision, so from then on reads below it
fail and nothing can observe a superseded revision at or below it. The
physical half deletes those rows, in batches of ``compaction_batch`` rows,
one batch inside each apply's own backend transaction (``compaction_step``:
the compaction's own apply and every later one), until done. Why this way:

- bounded: no single apply deletes more than one batch;
- deterministic: every member applies the same entries in the same order,
  so it deletes the same rows at the same index; ``stored_bytes`` (what the
  quota checks) is thus the same everywhere. The batch size is part of the
  replicated state for that reason: recorded in the meta row when the
  database is created (all members run the same code, so the same
  default), and carried by snapshots;
- resumable: the cursor is in the meta row, committed with the batch and
  the applied index; after a crash the next apply continues where the last
  commit left off (and a replayed entry, being a no-op, deletes nothing).

Which rows compaction at ``C`` keeps:

- every row above ``C``;
- every row *at* ``C`` — its puts and also its deletes, until the next
  compaction. A watch may start at the compact revision (etcd's rule), and
  needs that revision's events whole. etcd 3.4.23 removed the tombstones at
  ``C`` and so silently dropped those deletes (etcd-io/etcd#18089, fixed in
  3.4.34 by keeping them; #19179, fixed in 3.4.36 for a restart): here they
  stay, and survive a restart since history is read from the rows;
- below ``C``, for each key, only the revision that was current at ``C``
  (``KeyIndex.kept_at``), if the key existed then.

Everything else below ``C`` is garbage. Reads (through the index), history
and ``hash`` skip garbage rows, so which rows are still physically present
never changes what they return.
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Iterator

from .api import CompactedError, Event, EventType, FutureRevisionError, KeyValue
from .backend import Backend, Meta
from .lessor import Lessor
from .revision import main_of, pack
from .tree_index import TreeIndex

# etcd's quota cost of a put: the key, the value and a fixed overhead.
KV_OVERHEAD = 256
LEASE_OVERHEAD = 64

COMPACTION_BATCH = 1000
HISTORY_WINDOW = 100_000  # revisions one history() call scans at most

_HASH_ROW = struct.Struct(">IIqqqqB")


def row_cost(key: bytes, value: bytes) -> int:
    return KV_OVERHEAD + len(key) + len(value)


@dataclass(frozen=True, slots=True)
class RangeResult:
    """``kvs`` (at most the limit), ``count`` (all keys matching), and the
    store revision the read was served at (etcd's ``RangeResult.Rev``)."""

    kvs: list[KeyValue]
    count: int
    rev: int


@dataclass(frozen=True, slots=True)
class Change:
    """One change of a write: a put (``kv`` as stored) or a delete (``kv``
    carries only the key and ``mod_revision``, as etcd's delete events do)."""

    type: EventType
    kv: KeyValue
    rev: int  # packed


class KVStore:
    """Revisions of every key; the store the applier reads and writes.

    ``meta`` is shared with the state machine, which persists it at the end
    of each apply. ``changes`` collects every change of the current apply
    (cleared by the state machine) so it can notify listeners after commit.
    """

    def __init__(self, backend: Backend, lessor: Lessor, meta: Meta) -> None:
        self.backend = backend
        self.lessor = lessor
        self.meta = meta
        self.index = TreeIndex()
        self.changes: list[Change] = []
        self.dirty = False  # a row was written in the current apply
        self.pages_to_release = 0

    # -- open ----------------------------------------------------------------------------

    def rebuild(self) -> None:
        """Rebuild the key index and the lease attachments from the backend:
        one scan of every row in revision order. Rows that a pending
        compaction has yet to delete are indexed too and then compacted out
        of the index."""
        index = TreeIndex()
        latest: dict[bytes, tuple[int, bool]] = {}  # key -> (lease, tombstone) of its latest row
        compact = self.meta.compact_revision
        for rev, key, create, version, lease, tomb in self.backend.index_rows():
            if not index.restore(key, rev, create, version, tomb):
                if main_of(rev) > compact:
                    raise RuntimeError(f"tombstone of {key!r} at {main_of(rev)} for a key that does not exist")
                # An orphan tombstone at or below the compact revision: the
                # puts of its generation were compacted away. It stays for
                # history (at the compact revision) or is garbage a pending
                # compaction deletes; the index has no use for it either way.
                continue
            latest[key] = (lease, tomb)
        if compact >= 0:
            index.compact(compact)
        self.backend.shrink_memory()
        self.index = index
        self.lessor.load(
            (key, lease) for key, (lease, tomb) in latest.items()
            if lease and not tomb and index.key_index(key) is not None
        )

    # -- reads ---------------------------------------------------------------------------

    def range_keys(
        self, key: bytes, end: bytes | None, *, cur_rev: int, rev: int = 0, limit: int = 0, count_only: bool = False,
        from_end: bool = False,
    ) -> RangeResult:
        """The keys in the range as of ``rev`` (0: ``cur_rev``), key order,
        at most ``limit`` of them (0: all) — the last ones with ``from_end`` —
        with the count of all. etcd's ``rangeKeys``: a future revision or one
        below the compact revision raises."""
        if rev > cur_rev:
            raise FutureRevisionError()
        if rev <= 0:
            rev = cur_rev
        if rev < self.meta.compact_revision:
            raise CompactedError(self.meta.compact_revision)
        pairs = self.index.revisions(key, end, rev)
        if not pairs or count_only:
            return RangeResult([], len(pairs), cur_rev)
        if limit <= 0 or limit >= len(pairs):
            wanted = pairs
        else:
            wanted = pairs[-limit:] if from_end else pairs[:limit]
        return RangeResult(self.backend.fetch([r for _, r in wanted]), len(pairs), cur_rev)

    def write(self) -> WriteTxn:
        return WriteTxn(self)

    # -- compaction ------------------------------------------------------------------------

    def compact(self, rev: int) -> None:
        """Compact at ``rev``: reads below it fail from now on; the rows it
        makes garbage are deleted by later ``compaction_step`` calls. etcd's
        errors: ``rev`` at or below the compact revision -> compacted, above
        the current revision -> future."""
        m = self.meta
        if rev <= m.compact_revision:
            raise CompactedError(m.compact_revision)
        if rev > m.revision:
            raise FutureRevisionError()
        m.compact_revision = rev
        # A new compaction supersedes a pending one: garbage at the old
        # revision is garbage at the new one too. Rows before the old cursor
        # that were kept then may be garbage now, so start over.
        m.scheduled_compaction = rev
        m.compaction_cursor = 0

    def compaction_step(self, budget: int | None = None) -> int:
        """Examine up to ``budget`` rows (default ``meta.compaction_batch``) of
        the pending compaction and delete the garbage among them, inside
        the caller's transaction. Returns how many rows were deleted."""
        m = self.meta
        target = m.scheduled_compaction
        if target < 0:
            return 0
        budget = budget or m.compaction_batch
        rows = self.backend.compaction_candidates(m.compaction_cursor, pack(target), budget)
        dead: list[int] = []
        freed = 0
        compact_key = self.index.compact_key
        for rev, key, size in rows:
            ki = compact_key(key, target)
            if ki is None or ki.kept_at(target) != rev:
                dead.append(rev)
                freed += KV_OVERHEAD + size
        if dead:
            self.backend.delete(dead)
            m.stored_bytes -= freed
            # About as many pages as were freed go back to the file system
            # after the commit (see release_pages).
            self.pages_to_release += len(dead) + 64
        if len(rows) < budget:
            m.scheduled_compaction = -1
            m.compaction_cursor = 0
        else:
            m.compaction_cursor = rows[-1][0] + 1
        return len(dead)

    def release_pages(self) -> None:
        """Give pages freed by compaction back to the file system, outside
        the apply's transaction. Purely physical: which pages move never
        changes what is read, so it need not be deterministic."""
        if self.pages_to_release:
            pages, self.pages_to_release = self.pages_to_release, 0
            self.backend.release_free_pages(pages)

    def is_garbage(self, key: bytes, rev: int) -> bool:
        """A row a pending (or finished) compaction deletes (see the module
        docstring for what is kept)."""
        compact = self.meta.compact_revision
        if main_of(rev) >= compact:
            return False
        ki = self.index.key_index(key)
        return ki is None or ki.kept_at(compact) != rev

    # -- hash -----------------------------------------------------------------------------

    def hash(self, rev: int) -> int:
        """CRC-32 of every revision at or below ``rev`` that compaction keeps
        (key, value, revisions, version, lease, tombstone flag), in revision
        order: equal on members that applied the same log, whatever their
        physical compaction progress. The caller checks ``rev``."""
        h = zlib.crc32(b"kv")
        compact = self.meta.compact_revision
        for row in self.backend.rows(0, pack(rev + 1)):
            kv = row.kv
            if main_of(row.rev) < compact and self.is_garbage(kv.key, row.rev):
                continue
            h = zlib.crc32(row.rev.to_bytes(16, "big"), h)
            h = zlib.crc32(
                _HASH_ROW.pack(len(kv.key), len(kv.value), kv.create_revision, kv.mod_revision,
                               kv.version, kv.lease, row.tombstone),
                h,
            )
            h = zlib.crc32(kv.value, zlib.crc32(kv.key, h))
        return h

    # -- history ---------------------------------------------------------------------------

    def history(
        self, key: bytes, end: bytes | None, start: int, max_events: int, window: int = HISTORY_WINDOW
    ) -> tuple[list[tuple[int, Event]], int]:
        """Events for keys in the range from main revision ``start`` on; see
        ``StoreStateMachine.history``. Scans at most ``window`` revisions."""
        m = self.meta
        if start < m.compact_revision:
            raise CompactedError(m.compact_revision)
        start = max(start, 1)
        if start > m.revision:
            return [], start
        max_events = max(1, max_events)
        upper = min(m.revision, start + window - 1)
        rows = self.backend.history_rows(pack(start), pack(upper + 1), key, end, max_events)
        if len(rows) == max_events:
            # Full: finish the last revision (never split one), stop after it.
            last = main_of(rows[-1].rev)
            rows += self.backend.history_rows(rows[-1].rev + 1, pack(last + 1), key, end, 1 << 62)
            next_rev = last + 1
        else:
            next_rev = upper + 1
        changes = [
            Change(EventType.DELETE if r.tombstone else EventType.PUT,
                   KeyValue(r.kv.key, mod_revision=main_of(r.rev)) if r.tombstone else r.kv, r.rev)
            for r in rows
            if not self.is_garbage(r.kv.key, r.rev)
        ]
        events = self.events(changes)
        return [(main_of(c.rev), e) for c, e in zip(changes, events)], next_rev

    def events(self, changes: list[Change]) -> list[Event]:
        """``changes`` as watch events with ``prev_kv``: the key as it was at
        the revision before the change (etcd's watch server reads it at
        ``mod_revision - 1``). None for a creation, and for a change at the
        compact revision (the revision before it is compacted)."""
        prev_revs = self.prev_revisions(changes)
        wanted = [r for r in prev_revs if r is not None]
        return events_of(changes, prev_revs, iter(self.backend.fetch(wanted) if wanted else ()))

    def prev_revisions(self, changes: list[Change]) -> list[int | None]:
        """The first half of ``events``: for each change, the revision its
        ``prev_kv`` is read from (None if it has none), from the index
        alone. Ask right after the changes are made — the answer depends on
        the compact revision then; the rows may be fetched later, as long
        as no new compaction has deleted them meanwhile."""
        compact = self.meta.compact_revision
        index_get = self.index.get
        prev_revs: list[int | None] = []
        for c in changes:
            main = main_of(c.rev)
            if (c.type == EventType.PUT and c.kv.version == 1) or main - 1 < compact:
                prev_revs.append(None)
                continue
            got = index_get(c.kv.key, main - 1)
            prev_revs.append(None if got is None else got[0])
        return prev_revs


def events_of(changes: list[Change], prev_revs: list[int | None], prev_kvs: Iterator[KeyValue]) -> list[Event]:
    """The second half of ``KVStore.events``: ``changes`` as events, taking
    the next of ``prev_kvs`` (the rows of ``prev_revs``, in order) for each
    change that has a ``prev_kv``."""
    return [
        Event(c.type, c.kv, None if r is None else next(prev_kvs))
        for c, r in zip(changes, prev_revs)
    ]


class WriteTxn:
    """The changes of one request at main revision ``begin_rev + 1`` (etcd's
    ``storeTxnWrite``). Rows go to the backend as they are made, inside the
    apply's transaction; the index is updated in place, so later operations
    of the same request see earlier ones. ``end()`` moves the store's
    revision if anything changed."""

    __slots__ = ("_store", "begin_rev", "changes")

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self.begin_rev = store.meta.revision
        self.changes: list[Change] = []

    @property
    def rev(self) -> int:
        """The revision reads inside this txn are served at."""
        return self.begin_rev + 1 if self.changes else self.begin_rev

    def range(self, key: bytes, end: bytes | None, *, rev: int = 0, limit: int = 0, count_only: bool = False,
              from_end: bool = False) -> RangeResult:
        return self._store.range_keys(key, end, cur_rev=self.rev, rev=rev, limit=limit, count_only=count_only,
                                      from_end=from_end)

    def put(self, key: bytes, value: bytes, lease: int) -> int:
        """Write ``key`` = ``value`` held by ``lease`` (0: none). Returns the
        revision written at."""
        store = self._store
        main = self.begin_rev + 1
        rev = pack(main, len(self.changes))
        got = store.index.get(key, main)
        if got is not None:
            _, created, version = got
            old_lease = store.lessor.lease_of(key)
        else:
            created, version, old_lease = main, 0, 0
        kv = KeyValue(key, created, main, version + 1, value, lease)
        store.backend.insert(rev, kv, False)
        store.dirty = True
        store.index.put(key, rev)
        self.changes.append(Change(EventType.PUT, kv, rev))
        store.meta.stored_bytes += row_cost(key, value)
        if old_lease:
            store.lessor.detach(old_lease, key)
        if lease:
            store.lessor.attach(lease, key)
        return main

    def delete_range(self, key: bytes, end: bytes | None) -> tuple[int, int]:
        """Delete every key in the range that exists now. Returns ``(deleted,
        revision)``: the revision is the txn's new one if it has changed
        anything, else the current one (etcd's ``DeleteRange``)."""
        store = self._store
        at = self.rev
        keys = [ki.key for ki in store.index.key_indexes(key, end) if ki.get(at) is not None]
        for k in keys:
            self._delete(k)
        if keys or self.changes:
            return len(keys), self.begin_rev + 1
        return 0, self.begin_rev

    def _delete(self, key: bytes) -> None:
        store = self._store
        main = self.begin_rev + 1
        rev = pack(main, len(self.changes))
        kv = KeyValue(key, mod_revision=main)
        store.backend.insert(rev, kv, True)
        store.dirty = True
        store.index.tombstone(key, rev)
        self.changes.append(Change(EventType.DELETE, kv, rev))
        store.meta.stored_bytes += row_cost(key, b"")
        lease = store.lessor.lease_of(key)
        if lease:
            store.lessor.detach(lease, key)

    def end(self) -> None:
        if self.changes:
            self._store.meta.revision = self.begin_rev + 1
            self._store.changes.extend(self.changes)

