"""``DurableStorage``: the Raft log on disk (WAL + snapshot files) behind the
``LogStorage`` protocol the core reads.

Layout of a data directory::

    LOCK                      exclusive flock while open (files.py)
    wal/<seq>-<first>.wal     WAL segments (wal.py, segment.py)
    snap/<term>-<index>.snap  snapshot files (snapshot_files.py)
    snap/<term>-<index>.payload  their payloads (snapshot_payloads.py)

The ready contract (persist → send → apply → advance): ``save`` returns only
after the batch's records are fsynced, and only then updates the in-memory
``MemoryStorage`` the core reads, so the core never reads an entry that is not
durable. Concurrent ``save`` calls share fsyncs (group commit) and their
in-memory updates are applied in WAL order, so memory always equals what
recovery would rebuild (but for the entries kept behind a snapshot for
followers catching up, which live in memory only: ``create_snapshot``).

Snapshots are committed by the WAL: a snapshot file is written atomically
first, then a SNAPSHOT_MARKER is appended and fsynced; only the marker makes
the snapshot count. After a snapshot, snapshot files beyond the newest
``keep_snapshots`` are deleted, and the WAL is released up to the *oldest kept*
snapshot, so the entries after every kept snapshot stay on disk.

A stored snapshot's data is always a ``PayloadRef``: the state machine's
copy lives in the payload file, written and read in pieces, so neither the
log in memory nor a snapshot sent to a follower holds a whole store
(``payload_writer``, ``payload_path``). A payload is written first, then
its snapshot file, then the marker; payloads whose snapshot file is gone
(pruned, or never written) are deleted with the snapshots.

Recovery choice (``open``): the snapshot used is the newest file that verifies
and is not newer than the WAL's latest marker. Files newer than that marker
belong to a snapshot whose marker never became durable (the operation was
never acknowledged) and are deleted. A file that does not verify is reported
with ``logging.error`` and renamed to ``*.broken``, and the next older one is
tried; if the one used is older than the WAL's latest marker, an error log
says which snapshot is used instead. This is sound because a snapshot is
always of committed state, and the WAL still holds every entry after each kept
snapshot; when it does not (the newer snapshot was installed from the leader,
so the entries before it never existed here), ``open`` raises
UnrecoverableStateError rather than start with a hole. While running from an
older snapshot, ``first_index()`` is lower than it was before the restart.
"""
from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Callable, Sequence

from consensus.raft.log_storage import MemoryStorage, SnapshotOutOfDateError, UnavailableError
from consensus.raft.messages import EMPTY_SNAPSHOT, ConfState, Entry, HardState, Snapshot, SnapshotMetadata

from .errors import SnapshotFileError, StorageClosedError, StorageFailedError, UnrecoverableStateError
from .files import OS_FILES, DirLock, FileSystem
from .log_tail import LogTail
from .records import EntryBatch, Record, SnapshotMarker
from .replay import replay
from .snapshot_files import SnapshotFiles, SnapshotName
from .snapshot_payloads import PayloadRef, PayloadWriter, SnapshotPayloads
from .wal import DEFAULT_SEGMENT_SIZE, WAL, WALStats

log = logging.getLogger(__name__)

WAL_DIR = "wal"
SNAP_DIR = "snap"
# Entries kept behind each snapshot for followers that fall a little behind.
CATCH_UP_ENTRIES = 5000


class DurableStorage:
    """A durable ``LogStorage``. Thread-safe; see the module docstring for the
    ordering guarantees."""

    def __init__(
        self,
        data_dir: Path,
        lock: DirLock,
        wal: WAL,
        snap_files: SnapshotFiles,
        payloads: SnapshotPayloads,
        memory: MemoryStorage,
        keep_snapshots: int,
        catch_up_entries: int = 0,
    ) -> None:
        """Use :meth:`open`."""
        self._data_dir = data_dir
        self._lock = lock
        self._wal = wal
        self._snap_files = snap_files
        self._payloads = payloads
        self._memory = memory
        self._keep_snapshots = keep_snapshots
        self._catch_up_entries = catch_up_entries
        # Guards _memory; in-memory updates wait here for their WAL turn.
        self._memory_cond = threading.Condition(threading.Lock())
        self._applied_ticket = 0
        # One snapshot operation at a time: file, marker and pruning belong together.
        self._snapshot_lock = threading.Lock()
        self._failure: BaseException | None = None
        self._closed = False

    @classmethod
    def open(
        cls, data_dir: Path | str, *, segment_size: int = DEFAULT_SEGMENT_SIZE, keep_snapshots: int = 2,
        catch_up_entries: int = CATCH_UP_ENTRIES, files: FileSystem = OS_FILES,
    ) -> "DurableStorage":
        """Lock ``data_dir`` (created if missing), recover the log from its
        snapshot files and WAL, and open it for writing.

        Raises DataDirLockedError if the directory is in use, WALCorruptionError
        if the WAL is damaged other than in a torn tail, UnrecoverableStateError
        if snapshots and WAL cannot rebuild the log together.
        """
        if keep_snapshots < 1:
            raise ValueError(f"keep_snapshots must be at least 1, got {keep_snapshots}")
        if catch_up_entries < 0:
            raise ValueError(f"catch_up_entries must be 0 or more, got {catch_up_entries}")
        data_dir = Path(data_dir)
        files.make_dirs(data_dir)
        lock = files.lock(data_dir)
        try:
            snap_files = SnapshotFiles(data_dir / SNAP_DIR, files)
            snap_files.remove_temp_files()
            payloads = SnapshotPayloads(data_dir / SNAP_DIR, files)
            for path in payloads.remove_temp_files():
                log.warning("snapshot directory: removed %s left by an interrupted payload write", path)
            if not WAL.exists(data_dir / WAL_DIR, files) and snap_files.list():
                raise UnrecoverableStateError(
                    f"{data_dir}: snapshot files exist but the WAL directory has no segments; "
                    "refusing to start with the hard state and log missing"
                )
            wal, records = WAL.open(data_dir / WAL_DIR, segment_size=segment_size, files=files)
            try:
                snapshot = _choose_snapshot(snap_files, payloads, wal.tail)
                _remove_orphan_payloads(snap_files, payloads, None)
                memory = replay(records, snapshot)
            except BaseException:
                wal.close()
                raise
        except BaseException:
            lock.release()
            raise
        return cls(data_dir, lock, wal, snap_files, payloads, memory, keep_snapshots, catch_up_entries)

    # -- LogStorage (reads) ------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        with self._memory_cond:
            return self._memory.initial_state()

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        with self._memory_cond:
            return self._memory.entries(lo, hi, max_size)

    def term(self, index: int) -> int:
        with self._memory_cond:
            return self._memory.term(index)

    def first_index(self) -> int:
        with self._memory_cond:
            return self._memory.first_index()

    def last_index(self) -> int:
        with self._memory_cond:
            return self._memory.last_index()

    def snapshot(self) -> Snapshot:
        with self._memory_cond:
            return self._memory.snapshot()

    @property
    def hard_state(self) -> HardState:
        with self._memory_cond:
            return self._memory.hard_state

    @property
    def data_dir(self) -> Path:
        return self._data_dir

    @property
    def wal_stats(self) -> WALStats:
        return self._wal.stats

    # -- snapshot payloads ----------------------------------------------------

    def payload_writer(self) -> PayloadWriter:
        """A new payload file to write a state machine's copy into, for
        ``create_snapshot`` (taken here) or ``save`` (received from the
        leader: the transport writes it, then delivers the snapshot)."""
        self._check_usable()
        return self._payloads.writer()

    def payload_path(self, snapshot: Snapshot) -> Path:
        """The payload file of a stored or received snapshot. It stays
        readable through an open file even after a newer snapshot prunes
        it, so a reader opens it once (the transport, a restore)."""
        meta = snapshot.metadata
        if PayloadRef.decode(snapshot.data) is None:
            raise ValueError(f"snapshot at index {meta.index} holds its payload inline, not a reference")
        return self._payloads.path(meta.term, meta.index)

    def payload_file(self, snapshot: Snapshot) -> tuple[Path, int, int] | None:
        """(path, size, CRC32) of ``snapshot``'s payload; None if its data is
        inline (the transport's ``SnapshotPayloads``)."""
        ref = PayloadRef.decode(snapshot.data)
        if ref is None:
            return None
        meta = snapshot.metadata
        return self._payloads.path(meta.term, meta.index), ref.size, ref.crc

    @staticmethod
    def payload_reference(data: bytes) -> tuple[int, int] | None:
        ref = PayloadRef.decode(data)
        return None if ref is None else (ref.size, ref.crc)

    def read_payload(self, snapshot: Snapshot) -> bytes:
        """The whole payload of ``snapshot`` (small state machines and tests)."""
        return self._snap_files.files.read_bytes(self.payload_path(snapshot))

    # -- writes -------------------------------------------------------------

    def save(
        self,
        hard_state: HardState | None = None,
        entries: Sequence[Entry] = (),
        snapshot: Snapshot | None = None,
        *,
        sync: bool = True,
    ) -> None:
        """Persist one ready batch, then make it visible to reads.

        Order on disk: the snapshot file (if any, written atomically), then one
        WAL batch [snapshot marker, entries, hard state] and one (group) fsync.
        On return everything is durable and the in-memory log shows it: the
        snapshot replaces the whole log, the entries replace any conflicting
        suffix. Raises ValueError / SnapshotOutOfDateError before writing
        anything if the batch breaks the log's rules (see ``log_tail.py``).

        Several threads may call ``save`` at once: their batches share fsyncs
        and reach memory in WAL order. Batches that depend on each other (the
        entries of one log) must still be issued in order by the caller, as
        the runtime's single raft task does. An I/O error makes the storage
        refuse all further writes (StorageFailedError), except while writing
        a snapshot file, which raises OSError and leaves the log untouched.

        ``sync=False`` is for a hard state whose term and vote are unchanged
        (only the commit index moved: etcd's ``MustSync`` is false). It is
        written without waiting for an fsync and becomes durable with the next
        one. Losing it is harmless, since the commit index is learned again
        from the leader; entries and snapshots always wait for the fsync.
        """
        self._check_usable()
        if not sync and (entries or snapshot is not None):
            raise ValueError("entries and snapshots must be saved with sync=True")
        has_snapshot = snapshot is not None and not snapshot.is_empty
        records: list[Record] = []
        if has_snapshot:
            assert snapshot is not None
            snapshot = self._with_payload_file(snapshot)
            records.append(SnapshotMarker(snapshot.metadata.index, snapshot.metadata.term, resets_log=True))
        if entries:
            records.append(EntryBatch(tuple(entries)))
        if hard_state is not None:
            records.append(hard_state)
        if not records:
            return

        def update(memory: MemoryStorage) -> None:
            if has_snapshot:
                assert snapshot is not None
                memory.apply_snapshot(snapshot)
            memory.append(entries)
            if hard_state is not None:
                memory.set_hard_state(hard_state)

        if not has_snapshot:
            self._write(records, update, sync=sync)
            return
        assert snapshot is not None
        with self._snapshot_lock:
            if snapshot.metadata.index <= self.snapshot().metadata.index:
                raise SnapshotOutOfDateError(snapshot.metadata.index)
            self._write(records, update, snapshot)
            self._release_covered()

    def create_snapshot(self, index: int, conf_state: ConfState, data: PayloadWriter | bytes) -> Snapshot:
        """Record the application's state as of applied ``index``, written
        into ``data`` (a ``payload_writer()``, or bytes for a small state):
        make the payload durable, write the snapshot file, commit its marker
        to the WAL, then compact the
        in-memory log to ``catch_up_entries`` before ``index`` and delete
        covered segments and old snapshot files. Returns the snapshot.

        The entries kept behind the snapshot (etcd keeps 5,000) let a
        follower that fell back to probing — a reconnect, a dropped frame, a
        restart — catch up from the log instead of needing a copy of the
        whole database. They are kept in memory only, as etcd keeps them:
        after a restart the log starts at the snapshot again.

        Raises SnapshotOutOfDateError if ``index`` is not past the current
        snapshot, UnavailableError if it is past the last entry.
        """
        self._check_usable()
        writer = data if isinstance(data, PayloadWriter) else self._inline_writer(data)
        with self._snapshot_lock:
            try:
                with self._memory_cond:
                    if index <= self._memory.snapshot().metadata.index:
                        raise SnapshotOutOfDateError(index)
                    if index > self._memory.last_index():
                        raise UnavailableError(index)
                    term = self._memory.term(index)
            except BaseException:
                writer.abort()
                raise
            ref = writer.finish(term, index).encode()
            snapshot = Snapshot(SnapshotMetadata(index, term, conf_state), ref)

            def update(memory: MemoryStorage) -> None:
                memory.create_snapshot(index, conf_state, ref)
                keep_from = index - self._catch_up_entries
                if keep_from >= memory.first_index():
                    memory.compact(keep_from)

            self._write([SnapshotMarker(index, term, resets_log=False)], update, snapshot)
            self._release_covered()
            return self.snapshot()

    def close(self) -> None:
        """Close the WAL and release the directory lock. Idempotent."""
        if self._closed:
            return
        self._closed = True
        try:
            self._wal.close()
        finally:
            self._lock.release()

    def __enter__(self) -> "DurableStorage":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- internals ----------------------------------------------------------

    def _write(
        self,
        records: list[Record],
        update: Callable[[MemoryStorage], None],
        snapshot: Snapshot | None = None,
        *,
        sync: bool = True,
    ) -> None:
        """Append ``records`` (after durably writing ``snapshot``'s file, if
        given), wait for the group fsync unless ``sync`` is False, then apply
        ``update`` to memory in WAL order."""
        if snapshot is None:
            ticket = self._wal.append(records)
        else:
            self._wal.check(records)  # refuse before the file exists
            name = self._snap_files.save(snapshot)
            try:
                ticket = self._wal.append(records)
            except ValueError:
                # Nothing reached the WAL, so the file was never committed.
                self._snap_files.remove([name])
                raise
        if sync:
            self._wal.wait_synced(ticket)
        with self._memory_cond:
            while self._applied_ticket != ticket - 1:
                self._memory_cond.wait()
            try:
                update(self._memory)
            except BaseException as exc:
                # The WAL accepted what memory refuses: the two have diverged.
                self._failure = exc
                raise StorageFailedError(
                    f"{self._data_dir}: in-memory log refused a batch the WAL accepted ({exc!r})"
                ) from exc
            finally:
                self._applied_ticket = ticket
                self._memory_cond.notify_all()

    def _inline_writer(self, data: bytes) -> PayloadWriter:
        writer = self._payloads.writer()
        try:
            writer.write(data)
        except BaseException:
            writer.abort()
            raise
        return writer

    def _with_payload_file(self, snapshot: Snapshot) -> Snapshot:
        """``snapshot`` as stored: its data a reference to a payload file
        present in this directory. A snapshot carrying its payload inline
        (from a caller without payload files) has it written first."""
        meta = snapshot.metadata
        ref = PayloadRef.decode(snapshot.data)
        if ref is None:
            ref = self._inline_writer(snapshot.data).finish(meta.term, meta.index)
            return Snapshot(meta, ref.encode())
        if (meta.term, meta.index) not in self._payloads.present():
            raise ValueError(f"snapshot at index {meta.index} term {meta.term} has no payload file here")
        return snapshot

    def _release_covered(self) -> None:
        """Delete snapshot files beyond the newest ``keep_snapshots`` and
        their payloads, then WAL segments covered by the oldest snapshot
        still kept."""
        self._snap_files.prune(self._keep_snapshots)
        kept = self._snap_files.list()
        if kept:
            _remove_orphan_payloads(self._snap_files, self._payloads, kept[-1].index)
        if kept:
            self._wal.release_to(min(kept[0].index, self._wal.tail.snapshot_index))

    def _check_usable(self) -> None:
        if self._closed:
            raise StorageClosedError(f"storage {self._data_dir} is closed")
        if self._failure is not None:
            raise StorageFailedError(f"storage {self._data_dir} failed earlier: {self._failure!r}")


def _remove_orphan_payloads(snap_files: SnapshotFiles, payloads: SnapshotPayloads, up_to: int | None) -> None:
    """Delete payloads without a snapshot file, at or below index ``up_to``
    (all of them if None: on open, when nothing is being received). A
    payload above ``up_to`` may be one just received, whose snapshot the
    runtime is about to save."""
    stored = {(name.term, name.index) for name in snap_files.list()}
    payloads.remove({point for point in payloads.present() - stored if up_to is None or point[1] <= up_to})


def _stored_form(snap_files: SnapshotFiles, payloads: SnapshotPayloads, name: SnapshotName,
                 snapshot: Snapshot) -> Snapshot:
    """A loaded snapshot whose payload file is present; an older snapshot
    file holding its payload inline is rewritten in the stored form.
    Raises SnapshotFileError if the payload file is missing."""
    meta = snapshot.metadata
    if PayloadRef.decode(snapshot.data) is not None:
        if (meta.term, meta.index) not in payloads.present():
            raise SnapshotFileError(name.path, f"its payload {payloads.path(meta.term, meta.index)} is missing")
        return snapshot
    writer = payloads.writer()
    writer.write(snapshot.data)
    stored = Snapshot(meta, writer.finish(meta.term, meta.index).encode())
    snap_files.save(stored)
    log.info("%s: moved its payload into %s", name.path, payloads.path(meta.term, meta.index))
    return stored


def _choose_snapshot(snap_files: SnapshotFiles, payloads: SnapshotPayloads, tail: LogTail) -> Snapshot:
    """The snapshot recovery starts from; see the module docstring."""
    names = snap_files.list()
    committed: list[SnapshotName] = []
    orphans: list[SnapshotName] = []
    for name in names:
        newer = name.index > tail.snapshot_index
        same_point_other_term = name.index == tail.snapshot_index and name.term != tail.snapshot_term
        (orphans if newer or same_point_other_term else committed).append(name)
    for name in orphans:
        log.warning(
            "%s: snapshot at index %d term %d has no marker in the WAL (its write was interrupted "
            "and never acknowledged); removing it",
            name.path,
            name.index,
            name.term,
        )
    snap_files.remove(orphans)

    for name in reversed(committed):
        try:
            snapshot = _stored_form(snap_files, payloads, name, snap_files.load(name))
        except SnapshotFileError as exc:
            moved = snap_files.quarantine(name)
            log.error("%s; moved it to %s and trying the previous snapshot", exc, moved)
            continue
        if name.index < tail.snapshot_index:
            log.error(
                "the WAL's latest snapshot (index %d, term %d) has no usable file; recovering from the "
                "previous valid snapshot %s (index %d) and the WAL entries after it instead",
                tail.snapshot_index,
                tail.snapshot_term,
                name.path,
                name.index,
            )
        return snapshot
    if tail.snapshot_index > 0:
        log.error(
            "the WAL's latest snapshot (index %d, term %d) has no usable file and no older one "
            "verifies; trying to replay the WAL from the beginning of the log",
            tail.snapshot_index,
            tail.snapshot_term,
        )
    return EMPTY_SNAPSHOT
