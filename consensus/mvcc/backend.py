"""The store's one SQLite database: every kept revision of every key, the
leases, and the meta row that says how far the log has been applied.

Tables
------
``kv``    one row per revision (``rev``: the 16-byte ``Revision`` encoding,
          so the primary-key order is revision order), with the key, value,
          create/mod revision, version, lease and a tombstone flag. A
          ``WITHOUT ROWID`` table: the rows live in the primary-key b-tree
          itself, one tree to write instead of two.
``lease`` one row per live lease: id and granted TTL. Which keys a lease
          holds is not stored twice: it is the ``lease`` column of each live
          key's latest revision, and is rebuilt from there on open.
``alarm`` one row per raised alarm: the member it was raised for and its
          type (etcd's alarm store, replicated like everything else).
``meta``  a single row: ``applied_index`` (the last Raft index applied —
          etcd's consistent index), ``revision``, ``compact_revision``, the
          physical compaction still to do (``scheduled_compaction`` and
          ``compaction_cursor``), and ``stored_bytes``, the deterministic
          size the quota is checked against, and ``compaction_batch``, fixed
          when the database is created (see ``kv_store``).

Durability
----------
The database runs in WAL mode with ``synchronous=NORMAL``: a commit appends
to the WAL without an fsync; the WAL is fsynced at checkpoints. A power loss
may therefore lose the last few commits, but never tears one, and each
commit carries the ``applied_index`` of the entries it covers. Those entries
are already durable in the Raft log (fsynced before they were even sent,
Raft thesis §3.8 / etcd's "persist before send"), so on restart the lost
tail is simply applied again from the log — entries at or below the
recovered ``applied_index`` are skipped, entries above it re-applied. The
Raft log is the durability boundary; ``FULL`` would fsync every apply for
nothing. (The runtime must not drop Raft log entries above the state
machine's durable applied index unless it holds a snapshot covering them;
``snapshot()`` reads the database it describes.)
"""
from __future__ import annotations

import shutil
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator

import cachetools

from .api import KeyValue
from .revision import from_bytes, to_bytes

FORMAT = 1
_IN_CHUNK = 500  # revisions per "IN (...)" lookup, well under SQLite's variable limit
# Rows kept in memory by revision (``RowCache``): enough for the records a
# service reads over and over (heads, settings, tokens, drafts), small
# beside the key index (about 90 MB for 100,000 keys).
ROW_CACHE_BYTES = 8 * 1024 * 1024
COPY_CHUNK = 1 << 20  # a snapshot is read back and handed on in pieces of this size

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    rev BLOB PRIMARY KEY,
    key BLOB NOT NULL,
    value BLOB NOT NULL,
    create_revision INTEGER NOT NULL,
    mod_revision INTEGER NOT NULL,
    version INTEGER NOT NULL,
    lease INTEGER NOT NULL,
    tombstone INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS lease (
    id INTEGER PRIMARY KEY,
    ttl INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    format INTEGER NOT NULL,
    applied_index INTEGER NOT NULL,
    revision INTEGER NOT NULL,
    compact_revision INTEGER NOT NULL,
    scheduled_compaction INTEGER NOT NULL,
    compaction_cursor BLOB NOT NULL,
    stored_bytes INTEGER NOT NULL,
    compaction_batch INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS auth (
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    data BLOB NOT NULL,
    PRIMARY KEY (kind, name)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS alarm (
    member_id INTEGER NOT NULL,
    type INTEGER NOT NULL,
    PRIMARY KEY (member_id, type)
) WITHOUT ROWID;
"""

_KV_COLUMNS = "rev, key, value, create_revision, mod_revision, version, lease, tombstone"
_INSERT_KV = f"INSERT INTO kv ({_KV_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
# Inserted rows buffered at most before they are sent: one executemany per
# this many saves most of the cost of a statement per row, and a large batch
# does not keep all its rows in memory until the commit.
_INSERT_BUFFER = 256


class BackendError(RuntimeError):
    """The database is not a store of this format, or is damaged."""


@dataclass(slots=True)
class Meta:
    """The meta row. ``compact_revision`` is -1 until the first compaction
    (etcd's ``compactMainRev``); ``scheduled_compaction`` is -1 when no
    physical compaction is pending, else the compact revision whose
    superseded rows are still being deleted, from ``compaction_cursor`` (a
    packed revision) on."""

    applied_index: int = 0
    revision: int = 1
    compact_revision: int = -1
    scheduled_compaction: int = -1
    compaction_cursor: int = 0
    stored_bytes: int = 0
    compaction_batch: int = 1000


@dataclass(frozen=True, slots=True)
class Row:
    """One stored revision."""

    rev: int  # packed
    kv: KeyValue
    tombstone: bool


def _row(r: tuple) -> Row:
    rev, key, value, create, mod, version, lease, tomb = r
    return Row(from_bytes(rev), KeyValue(key, create, mod, version, value, lease), bool(tomb))


class Backend:
    """One SQLite connection to the store's database. Transactions are
    explicit: ``begin()`` ... ``commit()`` / ``rollback()``; reads outside a
    transaction see the last commit. Not thread-safe; the state machine
    serializes access."""

    def __init__(self, conn: sqlite3.Connection, path: Path, *, row_cache_bytes: int = ROW_CACHE_BYTES) -> None:
        self._conn = conn
        self.path = path
        # Rows ``insert`` has buffered, sent to SQLite in one executemany
        # before any other statement runs (see ``conn``); always empty
        # outside a transaction.
        self._inserts: list[tuple] = []
        self._rows = RowCache(row_cache_bytes)
        # Rows written by the open transaction: cached once it commits
        # (unless the same transaction deleted them again).
        self._written: list[tuple[bytes, KeyValue]] = []
        self._deleted: set[bytes] = set()

    @property
    def conn(self) -> sqlite3.Connection:
        """The connection, with every buffered insert sent first — so every
        statement, read or write, sees the rows inserted before it. All SQL
        goes through here."""
        if self._inserts:
            self._send_inserts()
        return self._conn

    def _send_inserts(self) -> None:
        rows, self._inserts = self._inserts, []
        self._conn.executemany(_INSERT_KV, rows)

    @classmethod
    def open(cls, path: str | Path, *, compaction_batch: int = 1000) -> Backend:
        """Open or create the database; ``compaction_batch`` is recorded only
        when it is created."""
        path = Path(path)
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        try:
            _configure(conn)
            conn.executescript(_SCHEMA)
            if conn.execute("SELECT COUNT(*) FROM meta").fetchone()[0] == 0:
                if compaction_batch < 1:
                    raise ValueError(f"compaction_batch must be at least 1, got {compaction_batch}")
                m = Meta(compaction_batch=compaction_batch)
                conn.execute(
                    "INSERT INTO meta VALUES (0, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (FORMAT, m.applied_index, m.revision, m.compact_revision,
                     m.scheduled_compaction, to_bytes(m.compaction_cursor), m.stored_bytes, m.compaction_batch),
                )
            backend = cls(conn, path)
            backend.read_meta()  # checks the format
            return backend
        except BaseException:
            conn.close()
            raise

    def close(self) -> None:
        self._inserts.clear()  # never committed
        self._written.clear()
        self._rows.clear()
        self._conn.close()

    # -- transactions ------------------------------------------------------------------

    def begin(self) -> None:
        if self._inserts:
            raise RuntimeError(f"{len(self._inserts)} rows inserted outside a transaction were never sent")
        self._conn.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.conn.execute("COMMIT")
        for rev, kv in self._written:
            if rev not in self._deleted:
                self._rows.put(rev, kv)
        self._written.clear()
        self._deleted.clear()

    def rollback(self) -> None:
        self._inserts.clear()
        self._written.clear()
        self._deleted.clear()
        if self._conn.in_transaction:
            self._conn.execute("ROLLBACK")

    # -- meta --------------------------------------------------------------------------

    def read_meta(self) -> Meta:
        row = self.conn.execute(
            "SELECT format, applied_index, revision, compact_revision, scheduled_compaction,"
            " compaction_cursor, stored_bytes, compaction_batch FROM meta WHERE id = 0"
        ).fetchone()
        if row is None:
            raise BackendError(f"{self.path}: no meta row; not a store database")
        if row[0] != FORMAT:
            raise BackendError(f"{self.path}: store format {row[0]}, this code reads format {FORMAT}")
        return Meta(row[1], row[2], row[3], row[4], from_bytes(row[5]), row[6], row[7])

    def write_meta(self, m: Meta) -> None:
        self.conn.execute(
            "UPDATE meta SET applied_index = ?, revision = ?, compact_revision = ?,"
            " scheduled_compaction = ?, compaction_cursor = ?, stored_bytes = ? WHERE id = 0",
            (m.applied_index, m.revision, m.compact_revision, m.scheduled_compaction,
             to_bytes(m.compaction_cursor), m.stored_bytes),
        )

    # -- revisions ---------------------------------------------------------------------

    def insert(self, rev: int, kv: KeyValue, tombstone: bool) -> None:
        """Add the row of revision ``rev``, inside a transaction. Buffered:
        the rows go to SQLite together, in one ``executemany`` (before the
        next statement of any kind — at the latest the commit — or once
        ``_INSERT_BUFFER`` are waiting), which saves a statement execution
        per row. An error in a row surfaces there, and fails the transaction
        either way."""
        inserts = self._inserts
        rev_bytes = to_bytes(rev)
        inserts.append((rev_bytes, kv.key, kv.value, kv.create_revision, kv.mod_revision,
                        kv.version, kv.lease, int(tombstone)))
        if not tombstone:
            self._written.append((rev_bytes, kv))
        if len(inserts) >= _INSERT_BUFFER:
            self._send_inserts()

    def fetch(self, revs: list[int]) -> list[KeyValue]:
        """The stored ``KeyValue`` of each revision, in the order given —
        from the row cache, else one query per ``_IN_CHUNK`` revisions. A
        revision with no row is a broken invariant (the index points at it)
        and raises."""
        found: dict[bytes, KeyValue] = {}
        keys = [to_bytes(r) for r in revs]
        cached = self._rows.get
        missing = []
        for k in keys:
            kv = cached(k)
            if kv is None:
                missing.append(k)
            else:
                found[k] = kv
        execute = self.conn.execute if missing else None
        for i in range(0, len(missing), _IN_CHUNK):
            chunk = missing[i:i + _IN_CHUNK]
            marks = ",".join("?" * len(chunk))
            for rev, key, value, create, mod, version, lease in execute(
                "SELECT rev, key, value, create_revision, mod_revision, version, lease"
                f" FROM kv WHERE rev IN ({marks})", chunk
            ):
                kv = KeyValue(key, create, mod, version, value, lease)
                found[rev] = kv
                if not self._conn.in_transaction:
                    self._rows.put(rev, kv)
        try:
            return [found[k] for k in keys]
        except KeyError as missing:
            raise BackendError(f"{self.path}: no row for revision {from_bytes(missing.args[0])}") from None

    def index_rows(self) -> Iterator[tuple[int, bytes, int, int, int, bool]]:
        """``(rev, key, create_revision, version, lease, tombstone)`` of every
        row in revision order — what rebuilding the key index needs."""
        for rev, key, create, version, lease, tomb in self.conn.execute(
            "SELECT rev, key, create_revision, version, lease, tombstone FROM kv ORDER BY rev"
        ):
            yield from_bytes(rev), key, create, version, lease, bool(tomb)

    def shrink_memory(self) -> None:
        """Drop the page cache (after a full scan filled it with pages that
        are not the working set)."""
        self.conn.execute("PRAGMA shrink_memory")

    def rows(self, low: int, high: int) -> Iterator[Row]:
        """Every row with ``low <= rev < high`` (packed), in order."""
        for r in self.conn.execute(
            f"SELECT {_KV_COLUMNS} FROM kv WHERE rev >= ? AND rev < ? ORDER BY rev",
            (to_bytes(low), to_bytes(high)),
        ):
            yield _row(r)

    def history_rows(
        self, low: int, high: int, key: bytes, end: bytes | None, limit: int
    ) -> list[Row]:
        """Up to ``limit`` rows with ``low <= rev < high`` whose key is in the
        range (``end``: ``None`` single key, ``b""`` to the end, else
        exclusive), in revision order. The key filter runs inside SQLite."""
        sql = f"SELECT {_KV_COLUMNS} FROM kv WHERE rev >= ? AND rev < ?"
        args: list = [to_bytes(low), to_bytes(high)]
        if end is None:
            sql += " AND key = ?"
            args.append(key)
        else:
            sql += " AND key >= ?"
            args.append(key)
            if end:
                sql += " AND key < ?"
                args.append(end)
        sql += " ORDER BY rev LIMIT ?"
        args.append(limit)
        return [_row(r) for r in self.conn.execute(sql, args)]

    def compaction_candidates(self, low: int, high: int, limit: int) -> list[tuple[int, bytes, int]]:
        """``(rev, key, stored size)`` of up to ``limit`` rows with
        ``low <= rev < high``, in order: what one physical compaction batch
        examines."""
        return [
            (from_bytes(rev), key, size)
            for rev, key, size in self.conn.execute(
                "SELECT rev, key, length(key) + length(value) FROM kv"
                " WHERE rev >= ? AND rev < ? ORDER BY rev LIMIT ?",
                (to_bytes(low), to_bytes(high), limit),
            )
        ]

    def delete(self, revs: Iterable[int]) -> None:
        keys = [to_bytes(r) for r in revs]
        for k in keys:
            self._rows.discard(k)
        self._deleted.update(keys)
        self.conn.executemany("DELETE FROM kv WHERE rev = ?", ((k,) for k in keys))

    def release_free_pages(self, pages: int) -> None:
        """Give up to ``pages`` free pages back to the file system (the
        database uses incremental auto-vacuum), in a transaction of its own:
        call it outside one. (``execute`` would run the pragma for one page
        only; ``executescript`` runs it to the end, but commits first.)"""
        if self.conn.in_transaction:
            raise RuntimeError("release_free_pages inside a transaction")
        self.conn.executescript(f"PRAGMA incremental_vacuum({int(pages)});")

    # -- leases ------------------------------------------------------------------------

    def leases(self) -> list[tuple[int, int]]:
        return self.conn.execute("SELECT id, ttl FROM lease ORDER BY id").fetchall()

    def put_lease(self, lease_id: int, ttl: int) -> None:
        self.conn.execute("INSERT INTO lease (id, ttl) VALUES (?, ?)", (lease_id, ttl))

    def delete_lease(self, lease_id: int) -> None:
        self.conn.execute("DELETE FROM lease WHERE id = ?", (lease_id,))

    # -- auth --------------------------------------------------------------------------

    def auth_records(self) -> list[tuple[str, str, bytes]]:
        """Every ``(kind, name, data)`` row of the auth state."""
        return self.conn.execute("SELECT kind, name, data FROM auth ORDER BY kind, name").fetchall()

    def put_auth_record(self, kind: str, name: str, data: bytes) -> None:
        self.conn.execute("INSERT OR REPLACE INTO auth (kind, name, data) VALUES (?, ?, ?)", (kind, name, data))

    def delete_auth_record(self, kind: str, name: str) -> None:
        self.conn.execute("DELETE FROM auth WHERE kind = ? AND name = ?", (kind, name))

    # -- alarms ------------------------------------------------------------------------

    def alarms(self) -> list[tuple[int, int]]:
        """Every raised ``(member_id, alarm_type)``; member IDs are stored as
        signed 64-bit integers (SQLite's), so they are mapped back here."""
        return [(member & 0xFFFFFFFFFFFFFFFF, kind)
                for member, kind in self.conn.execute("SELECT member_id, type FROM alarm ORDER BY member_id, type")]

    def put_alarm(self, member_id: int, alarm_type: int) -> None:
        self.conn.execute("INSERT OR IGNORE INTO alarm (member_id, type) VALUES (?, ?)",
                          (_signed64(member_id), alarm_type))

    def delete_alarm(self, member_id: int, alarm_type: int) -> None:
        self.conn.execute("DELETE FROM alarm WHERE member_id = ? AND type = ?", (_signed64(member_id), alarm_type))

    # -- size, snapshot, restore ----------------------------------------------------------

    def file_bytes(self) -> int:
        """Bytes on disk: the database file plus its WAL."""
        total = 0
        for suffix in ("", "-wal"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                total += p.stat().st_size
        return total

    def defragment(self) -> None:
        """Rewrite the database file without its free pages (SQLite's
        ``VACUUM``), then fold the WAL into it and truncate the WAL, so the
        file is as small as what it holds. Outside a transaction only."""
        if self.conn.in_transaction:
            raise RuntimeError("defragment inside a transaction")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.conn.execute("VACUUM")
        self.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def snapshot_into(self, write: Callable[[bytes], object]) -> None:
        """A consistent copy of the whole database, as the bytes of a SQLite
        file handed to ``write`` in pieces of ``COPY_CHUNK``. Made with
        SQLite's online backup API into a temporary file beside the
        database, then read back a piece at a time: the copy never sits in
        memory whole, however large the store."""
        with tempfile.TemporaryDirectory(dir=self.path.parent, prefix=".snapshot-") as tmp:
            target = Path(tmp) / "snapshot.db"
            dst = sqlite3.connect(target)
            try:
                self.conn.backup(dst)
            finally:
                dst.close()
            with open(target, "rb") as copy:
                while piece := copy.read(COPY_CHUNK):
                    write(piece)

    def snapshot(self) -> bytes:
        """``snapshot_into`` gathered into bytes (etcd's snapshot download)."""
        pieces: list[bytes] = []
        self.snapshot_into(pieces.append)
        return b"".join(pieces)

    def restore(self, data: bytes) -> None:
        """``restore_file`` from bytes."""
        with tempfile.TemporaryDirectory(dir=self.path.parent, prefix=".restore-") as tmp:
            source = Path(tmp) / "restore.db"
            source.write_bytes(data)
            self.restore_file(source)

    def restore_file(self, path: Path) -> None:
        """Replace the whole database with the snapshot in the file ``path``
        (left as it is), atomically: the file is copied beside the database
        (by the kernel, not through memory), checked, and copied into this
        connection with the backup API, which replaces the destination in
        one transaction (a crash leaves either the old or the new database,
        never a mix)."""
        with tempfile.TemporaryDirectory(dir=self.path.parent, prefix=".restore-") as tmp:
            source = Path(tmp) / "restore.db"
            shutil.copyfile(path, source)
            src = sqlite3.connect(source)
            try:
                try:
                    check = src.execute("PRAGMA quick_check").fetchone()[0]
                    Backend(src, source).read_meta()
                except sqlite3.DatabaseError as exc:
                    raise BackendError(f"snapshot is not a store database: {exc}") from None
                if check != "ok":
                    raise BackendError(f"snapshot is damaged: {check}")
                self._rows.clear()
                src.backup(self.conn)
            finally:
                src.close()
        # A snapshot from a member that predates a table lacks it.
        self.conn.executescript(_SCHEMA)


def _signed64(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _row_size(kv: KeyValue) -> int:
    return len(kv.key) + len(kv.value) + 120


class RowCache:
    """Stored rows by revision, least recently used out first, bounded in
    bytes (``cachetools``). A revision's row never changes once committed
    (compaction only deletes rows, and ``delete`` drops them here too; a
    restore clears the cache), so a cached row is never stale. Rows enter
    only once committed: a rolled-back transaction leaves nothing behind."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._rows: cachetools.LRUCache = cachetools.LRUCache(maxsize=max_bytes, getsizeof=_row_size)

    def get(self, rev: bytes) -> KeyValue | None:
        return self._rows.get(rev)

    def put(self, rev: bytes, kv: KeyValue) -> None:
        if _row_size(kv) <= self.max_bytes // 8 and rev not in self._rows:
            self._rows[rev] = kv

    def discard(self, rev: bytes) -> None:
        self._rows.pop(rev, None)

    def clear(self) -> None:
        self._rows.clear()

    @property
    def _bytes(self) -> int:
        return self._rows.currsize

    def __len__(self) -> int:
        return len(self._rows)


def _configure(conn: sqlite3.Connection) -> None:
    # auto_vacuum only takes effect on a database with no tables yet; on an
    # existing database this is a no-op.
    conn.execute("PRAGMA auto_vacuum = INCREMENTAL")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if mode.lower() != "wal":
        raise BackendError(f"cannot put the database in WAL mode (got {mode})")
    # NORMAL, not FULL: see the module docstring — the Raft log is the
    # durability boundary and applied_index makes re-applying idempotent.
    conn.execute("PRAGMA synchronous = NORMAL")
    # 16 MiB of page cache: reads fetch values by revision, mostly recent
    # ones; the OS page cache holds the rest of the file.
    conn.execute("PRAGMA cache_size = -16384")
    conn.execute("PRAGMA temp_store = MEMORY")

