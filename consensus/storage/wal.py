"""The write-ahead log: a directory of segments, appended to with group commit.

Writing
-------
``append(records)`` validates the batch against the log's tail, writes it to
the current segment (never splitting a batch across segments) and returns a
*ticket*; nothing is durable yet. ``wait_synced(ticket)`` returns once an fsync
that started after that write has completed. ``commit(records)`` is both. The
asyncio runtime uses ``append`` once per ready batch and then ``sync()``; threads
may call ``commit`` concurrently.

Group commit is a leader/follower scheme under one condition variable: a
committer whose ticket is not yet synced either becomes the leader (no fsync
in progress: it notes the newest ticket written, fsyncs *without holding the
lock* so others can keep writing, then marks everything up to the noted ticket
synced and wakes the waiters) or waits for the fsync in progress and tries
again. One fsync thus covers every batch written before it started, and a
batch written while an fsync runs is covered by the next one, never wrongly by
the current one. When the previous group held several batches, the leader
yields the CPU once before noting its target, so that writers just released
can join (measured: about 6 instead of 4 batches per fsync with 8 threads).

Segments roll over before a batch that would push the current segment past
``segment_size`` (a single larger batch still goes into one segment). Rolling
over fsyncs the old segment completely before the new one is created, which is
what lets recovery treat damage in any segment but the newest as corruption.

An fsync or write error is not retried: the WAL stops accepting work and every
later call raises StorageFailedError (the unsynced data may be gone even if a
retried fsync reported success).

Recovery (``WAL.open``) reads every segment in order, repairs a torn tail of
the newest one (see ``segment.py``), re-checks every record with the same
rules the writer enforces (``log_tail.py``) and returns the records for the
caller to replay.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

from .errors import StorageClosedError, StorageFailedError, WALCorruptionError
from .files import OS_FILES, FileSystem, WritableFile, sync_written
from .log_tail import LogTail
from .records import Record, encode_record
from .segment import LocatedRecord, SegmentFile, create_segment, list_segments, recover_segment, segment_name

DEFAULT_SEGMENT_SIZE = 64 * 1024 * 1024


@dataclass
class WALStats:
    """Counters for tests and benchmarks. ``fsyncs`` counts every fsync of a
    segment file (group commits, rollovers, segment creation); ``dir_fsyncs``
    those of the WAL directory."""

    appends: int = 0
    records: int = 0
    bytes_written: int = 0
    fsyncs: int = 0
    dir_fsyncs: int = 0
    segments_created: int = 0
    segments_removed: int = 0


class WAL:
    """A segmented, checksummed, group-committed write-ahead log.

    Thread-safe. Records become durable only through ``wait_synced``/``sync``/
    ``commit``; a crash may lose any record appended but not yet synced, and
    recovery then behaves as if it had never been written.
    """

    def __init__(
        self,
        directory: Path,
        segment_size: int,
        segments: list[SegmentFile],
        file: WritableFile,
        size: int,
        header_size: int,
        tail: LogTail,
        sync: Callable[[WritableFile], None],
        files: FileSystem,
    ) -> None:
        """Use :meth:`open`."""
        self._sync = sync
        self._files = files
        self._directory = directory
        self._segment_size = segment_size
        self._segments = segments
        self._file: WritableFile | None = file  # None once closed
        self._size = size
        # Bytes of the current segment taken by its header: a segment holding
        # only that is never rolled away from, whatever the batch size.
        self._header_size = header_size
        self._tail = tail
        self._cond = threading.Condition(threading.Lock())
        self._written = 0  # tickets handed out
        self._synced = 0  # every ticket <= this is on stable storage
        self._sync_in_progress = False
        self._last_group = 0  # batches the latest group fsync covered
        self._failure: BaseException | None = None
        self._closed = False
        self.stats = WALStats()

    # -- opening ----------------------------------------------------------

    @classmethod
    def exists(cls, directory: Path | str, files: FileSystem = OS_FILES) -> bool:
        """Whether ``directory`` holds at least one segment."""
        directory = Path(directory)
        return files.is_dir(directory) and bool(list_segments(directory, files))

    @classmethod
    def open(
        cls,
        directory: Path | str,
        *,
        segment_size: int = DEFAULT_SEGMENT_SIZE,
        sync: Callable[[WritableFile], None] = sync_written,
        files: FileSystem = OS_FILES,
    ) -> tuple["WAL", list[LocatedRecord]]:
        """Recover the WAL in ``directory`` (created if missing) and open it for
        appending at its end.

        ``sync`` makes a segment's written bytes durable; it must call the
        file's ``sync`` (tests and benchmarks wrap it to observe each fsync).
        ``files`` is the file system (``files``; the simulation passes its own).

        Returns the WAL and every record, segment headers included, in log
        order, for the caller to replay (the first kept segment's header holds
        the hard state from before any released segment). Raises
        WALCorruptionError if any segment is damaged anywhere but in a torn
        tail of the newest one, or if the records break the log's rules.
        """
        if segment_size < 1024:
            raise ValueError(f"segment_size must be at least 1024 bytes, got {segment_size}")
        directory = Path(directory)
        files.make_dirs(directory)
        segments = list_segments(directory, files)
        records: list[LocatedRecord] = []
        kept: list[SegmentFile] = []
        tail: LogTail | None = None
        size = header_size = 0
        for position, segment in enumerate(segments):
            is_last = position == len(segments) - 1
            # Only the newest segment may lack a header, and only if it is not
            # the sole survivor of released segments (the first ever, seq 1, or
            # one whose predecessor is still here).
            may_vanish = is_last and (len(segments) > 1 or segment.seq == 1)
            contents = recover_segment(segment, is_last=is_last, may_vanish=may_vanish, files=files)
            if contents is None:
                continue
            if tail is None:
                tail = LogTail.from_header(contents.header)
            elif not tail.matches_header(contents.header):
                raise WALCorruptionError(
                    segment.path,
                    0,
                    f"segment header {contents.header} does not continue the log of the previous "
                    f"segment (expected {tail.header_for(segment.seq)})",
                )
            records.append(LocatedRecord(contents.header, segment.path, 0))
            for located in contents.records:
                try:
                    tail = tail.after(located.record)
                except ValueError as exc:
                    raise WALCorruptionError(located.path, located.offset, str(exc)) from exc
            records.extend(contents.records)
            kept.append(segment)
            size = contents.size
            header_size = len(encode_record(contents.header))

        if kept:
            last = kept[-1]
            file = files.open_append(last.path)
            assert tail is not None
            return cls(directory, segment_size, kept, file, size, header_size, tail, sync, files), records
        tail = LogTail()
        header = tail.header_for(1)
        file, size = create_segment(directory, header, files, sync)
        first = SegmentFile(directory / segment_name(1, 1), 1, 1)
        wal = cls(directory, segment_size, [first], file, size, size, tail, sync, files)
        wal.stats.segments_created += 1
        wal.stats.fsyncs += 1
        wal.stats.dir_fsyncs += 1
        return wal, records

    # -- reading state ------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self._directory

    @property
    def tail(self) -> LogTail:
        """The end of the log including batches appended but not yet synced."""
        with self._cond:
            return self._tail

    def segments(self) -> list[SegmentFile]:
        """The live segment files, oldest first."""
        with self._cond:
            return list(self._segments)

    # -- writing ------------------------------------------------------------

    def check(self, records: Sequence[Record]) -> None:
        """Raise ValueError if ``records`` could not be appended now (a dry run
        of ``append``'s validation; writes nothing)."""
        with self._cond:
            self._check_usable()
            self._tail.after_all(records)

    def append(self, records: Sequence[Record]) -> int:
        """Write ``records`` as one batch after validating them; return the
        ticket to pass to ``wait_synced``. Not durable until then.

        Raises ValueError (nothing written) if a record breaks the log's rules.
        """
        if not records:
            raise ValueError("append needs at least one record")
        encoded = b"".join([encode_record(record) for record in records])
        with self._cond:
            while True:
                self._check_usable()
                new_tail = self._tail.after_all(records)
                if not (self._size > self._header_size and self._size + len(encoded) > self._segment_size):
                    break
                if self._sync_in_progress:
                    # The leader is fsyncing the current fd outside the lock;
                    # closing it under its feet would be a use-after-close.
                    self._cond.wait()
                    continue
                self._roll_over()
            try:
                self._file.write(encoded)
            except OSError as exc:
                raise self._fail(exc) from exc
            self._tail = new_tail
            self._size += len(encoded)
            self._written += 1
            self.stats.appends += 1
            self.stats.records += len(records)
            self.stats.bytes_written += len(encoded)
            return self._written

    def wait_synced(self, ticket: int) -> None:
        """Block until the batch with ``ticket`` (and every earlier one) is on
        stable storage, performing or joining a group fsync."""
        with self._cond:
            while self._synced < ticket:
                self._check_usable()
                if self._sync_in_progress:
                    self._cond.wait()
                    continue
                self._sync_in_progress = True
                if self._last_group > 1:
                    # Writers are concurrent: yield the CPU once so threads the
                    # previous fsync just released can append and ride this
                    # one (PostgreSQL's commit_delay, without a timed wait).
                    self._cond.release()
                    time.sleep(0)
                    self._cond.acquire()
                target = self._written
                self._last_group = target - self._synced
                file = self._file
                error: OSError | None = None
                self._cond.release()
                try:
                    self._sync(file)
                except OSError as exc:
                    error = exc
                finally:
                    self._cond.acquire()
                    self._sync_in_progress = False
                    self._cond.notify_all()
                if error is not None:
                    raise self._fail(error) from error
                self.stats.fsyncs += 1
                self._synced = max(self._synced, target)

    def sync(self) -> None:
        """Make every batch appended so far durable (one fsync at most)."""
        with self._cond:
            ticket = self._written
        self.wait_synced(ticket)

    def commit(self, records: Sequence[Record]) -> None:
        """``append`` then ``wait_synced``: returns once ``records`` are durable."""
        self.wait_synced(self.append(records))

    def release_to(self, index: int) -> int:
        """Delete the oldest segments whose live entries all lie at or below
        ``index``; return how many were deleted.

        A segment qualifies when its successor starts at or below
        ``index + 1`` (every entry written to it that is still live is then
        below its successor's first index). The newest segment is never
        deleted, and each kept segment's header carries the snapshot point and
        hard state, so nothing but covered entries is lost. ``index`` must not
        exceed the latest snapshot marker.
        """
        with self._cond:
            self._check_usable()
            if index > self._tail.snapshot_index:
                raise ValueError(
                    f"cannot release the WAL to index {index}: the latest snapshot is at "
                    f"{self._tail.snapshot_index}"
                )
            count = 0
            while count + 1 < len(self._segments) and self._segments[count + 1].first_index <= index + 1:
                count += 1
            if count == 0:
                return 0
            try:
                # Oldest first, so an interrupted release still leaves a WAL
                # whose segments are consecutive.
                for segment in self._segments[:count]:
                    self._files.remove(segment.path)
                    self._segments.pop(0)
                    self.stats.segments_removed += 1
                self._files.sync_dir(self._directory)
                self.stats.dir_fsyncs += 1
            except OSError as exc:
                raise self._fail(exc) from exc
            return count

    def close(self) -> None:
        """Sync anything appended, then close. Idempotent."""
        with self._cond:
            if self._closed:
                return
            while self._sync_in_progress:
                self._cond.wait()
            try:
                if self._failure is None and self._synced < self._written:
                    self._sync(self._file)
                    self.stats.fsyncs += 1
                    self._synced = self._written
            finally:
                self._closed = True
                if self._file is not None:
                    self._file.close()
                    self._file = None
                self._cond.notify_all()

    # -- internals ----------------------------------------------------------

    def _roll_over(self) -> None:
        """Called with the lock held and no fsync in progress."""
        try:
            self._sync(self._file)
            self.stats.fsyncs += 1
            self._synced = self._written
            self._cond.notify_all()
            self._file.close()
            self._file = None
            header = self._tail.header_for(self._segments[-1].seq + 1)
            self._file, self._size = create_segment(self._directory, header, self._files, self._sync)
            self._header_size = self._size
        except OSError as exc:
            raise self._fail(exc) from exc
        path = self._directory / segment_name(header.seq, header.first_index)
        self._segments.append(SegmentFile(path, header.seq, header.first_index))
        self.stats.fsyncs += 1
        self.stats.dir_fsyncs += 1
        self.stats.segments_created += 1

    def _check_usable(self) -> None:
        if self._failure is not None:
            raise StorageFailedError(
                f"WAL {self._directory} failed earlier ({self._failure!r}); restart to recover from disk"
            ) from self._failure
        if self._closed:
            raise StorageClosedError(f"WAL {self._directory} is closed")

    def _fail(self, error: BaseException) -> StorageFailedError:
        self._failure = error
        self._cond.notify_all()
        return StorageFailedError(f"WAL {self._directory}: {error}; refusing further writes")
