"""One WAL segment file: its name, its creation, and reading it back on recovery.

A segment is named ``<seq>-<first_index>.wal`` (both 16 decimal digits, so names
sort in sequence order): ``seq`` counts segments from 1 without gaps, and
``first_index`` is the raft index the writer expected next when the segment was
created. Its first record is a ``SegmentHeader`` repeating both numbers.

Torn tail versus corruption
---------------------------
Data the writer never fsynced can be anything after a crash: missing, cut
short, zero-filled (the size was extended but the blocks were never written) or
a partly written page. Data that was fsynced is intact unless the disk damaged
it. A crash can therefore only spoil the *end* of the *last* segment (the writer
fsyncs a segment completely before creating the next one). When reading stops
at a bad frame at offset X (too short for a header, a length that runs past the
end of the file, a bad magic or checksum):

- in the last segment, if no valid frame starts anywhere after X and the bad
  bytes are what a crash can leave of an append (``frame.torn_at``: a frame
  cut short, a zero-filled tail, a frame with a sector that was never
  written), they are a torn tail: never acknowledged, so the file is
  truncated to X, fsynced, and a warning names the file and offset;
- otherwise (a valid frame follows, this is not the last segment, or the
  last frame is complete with every sector written and still fails its
  checksum — a record that was synced and then damaged, perhaps the hard
  state holding the vote) records may have been acknowledged, and dropping
  them could lose a vote or a committed entry, so :class:`WALCorruptionError`
  names the file and X and the node refuses to start (the README says how an
  operator recovers: wipe the member's data directory and re-add it).

A writeback may also persist a later sector of the unsynced tail and not an
earlier one: records follow the hole. A hole that is whole zero sectors (the
rest of the sector where the valid records end, or a sector inside the
record) is taken for that, as etcd does, and everything from it on is cut;
a hole of any other shape is damage and refuses to start. (A disk that
zeroes a whole synced sector looks the same; no format without a second
copy can tell the two apart.)
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, NamedTuple

from .errors import WALCorruptionError
from .frame import next_valid_frame, scan_frames, torn_at
from .files import OS_FILES, FileSystem, WritableFile, sync_written
from .records import Record, RecordDecodeError, SegmentHeader, decode_record, encode_record

log = logging.getLogger(__name__)

SEGMENT_SUFFIX = ".wal"
_NAME = re.compile(r"^(\d{16})-(\d{16})\.wal$")


@dataclass(frozen=True, slots=True)
class SegmentFile:
    """A segment file on disk, identified by its name."""

    path: Path
    seq: int
    first_index: int


class LocatedRecord(NamedTuple):
    """A decoded record and where it was read from (for error messages)."""

    record: Record
    path: Path
    offset: int


@dataclass(frozen=True, slots=True)
class SegmentContents:
    """What :func:`recover_segment` read: the header, the records after it in
    file order, and the file's size once any torn tail was cut off."""

    header: SegmentHeader
    records: list[LocatedRecord]
    size: int


def segment_name(seq: int, first_index: int) -> str:
    return f"{seq:016d}-{first_index:016d}{SEGMENT_SUFFIX}"


def list_segments(directory: Path, files: FileSystem = OS_FILES) -> list[SegmentFile]:
    """The segment files in ``directory`` in sequence order.

    Files that are not segments are ignored with a warning. Raises
    WALCorruptionError if the sequence numbers have a gap (a segment was lost)
    or repeat.
    """
    segments: list[SegmentFile] = []
    for name in files.list_dir(directory):
        match = _NAME.match(name)
        if match is None:
            log.warning("WAL directory %s: ignoring unexpected file %s", directory, name)
            continue
        segments.append(SegmentFile(directory / name, int(match[1]), int(match[2])))
    segments.sort(key=lambda segment: segment.seq)
    for previous, segment in zip(segments, segments[1:]):
        if segment.seq != previous.seq + 1:
            raise WALCorruptionError(
                segment.path,
                0,
                f"segment sequence jumps from {previous.seq} ({previous.path.name}) to {segment.seq}; "
                "a segment file is missing or duplicated",
            )
    return segments


def create_segment(
    directory: Path, header: SegmentHeader, files: FileSystem = OS_FILES,
    sync: Callable[[WritableFile], None] = sync_written,
) -> tuple[WritableFile, int]:
    """Create the segment described by ``header`` and make it durable (its
    header record synced with ``sync``, then the directory synced).

    Returns ``(file, size)``: the file open for appending and its size.
    Fails if the file already exists. Performs one file fsync and one
    directory fsync.
    """
    path = directory / segment_name(header.seq, header.first_index)
    file = files.create(path, exclusive=True)
    try:
        encoded = encode_record(header)
        file.write(encoded)
        sync(file)
        files.sync_dir(directory)
    except BaseException:
        file.close()
        raise
    return file, len(encoded)


def recover_segment(segment: SegmentFile, *, is_last: bool, may_vanish: bool,
                    files: FileSystem = OS_FILES) -> SegmentContents | None:
    """Read ``segment`` and repair a torn tail as described in the module
    docstring.

    ``is_last`` says whether this is the newest segment (the only one a crash
    can leave torn). ``may_vanish`` says whether it is acceptable for not even
    the header to have reached the disk (true for a segment whose creation may
    have been interrupted); the file is then removed and ``None`` returned.
    Raises WALCorruptionError for anything that is not a torn tail, for a
    record that fails to decode, and for a header that does not match the
    file name.
    """
    path = segment.path
    data = files.read_bytes(path)
    scan = scan_frames(data)
    size = len(data)
    if scan.bad_offset is not None:
        bad = scan.bad_offset
        if not is_last:
            raise WALCorruptionError(
                path, bad, "bad record (checksum, length or framing) in a segment that is not the newest"
            )
        if not scan.frames and not may_vanish:
            raise WALCorruptionError(path, 0, "the segment has no valid header record")
        following = next_valid_frame(data, bad + 1)
        if not torn_at(data, bad, followed=following is not None):
            if following is not None:
                raise WALCorruptionError(
                    path, bad, f"bad record (checksum, length or framing) followed by a valid record at offset "
                    f"{following}, so it is damage inside the log, not a torn tail")
            raise WALCorruptionError(
                path, bad, "the newest record is complete but fails its checksum: it was written whole, so "
                "it is damage to a record that may have been acknowledged, not a torn write")
        if following is not None:
            # Sectors written out of order: a later one reached the disk, this
            # one did not; nothing from here on was synced (etcd's rule too).
            log.warning("WAL %s: records after the torn one at offset %d (from %d) were written out of "
                        "order and never synced; dropping them", path, bad, following)
        files.truncate(path, bad)
        log.warning(
            "WAL %s: torn record at byte offset %d (%d trailing bytes) truncated; "
            "it was never fsynced, so never acknowledged",
            path,
            bad,
            size - bad,
        )
        size = bad
        if not scan.frames:
            files.remove(path)
            files.sync_dir(path.parent)
            log.warning("WAL %s: removed segment whose header never reached the disk", path)
            return None

    records: list[LocatedRecord] = []
    for frame in scan.frames:
        try:
            record = decode_record(frame)
        except RecordDecodeError as exc:
            raise WALCorruptionError(path, frame.offset, str(exc)) from exc
        records.append(LocatedRecord(record, path, frame.offset))

    header = records[0].record if records else None
    if not isinstance(header, SegmentHeader):
        raise WALCorruptionError(path, 0, "the first record of a segment must be its header")
    if (header.seq, header.first_index) != (segment.seq, segment.first_index):
        raise WALCorruptionError(
            path,
            0,
            f"header says segment {header.seq} starting at index {header.first_index}, "
            "which does not match the file name",
        )
    for located in records[1:]:
        if isinstance(located.record, SegmentHeader):
            raise WALCorruptionError(path, located.offset, "a segment header in the middle of a segment")
    return SegmentContents(header, records[1:], size)
