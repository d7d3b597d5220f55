"""The typed records of the WAL and their msgpack payloads.

Record types and what replaying each one means:

``SEGMENT_HEADER``
    The first record of every segment and only there: format version, the
    segment's sequence number, the first raft index the segment may hold, and a
    copy of the latest snapshot marker and hard state at the moment the segment
    was created. The copies make every segment self-contained, so older
    segments can be deleted after a snapshot without losing the hard state or
    the snapshot point. Replaying a header changes nothing in the log.
``ENTRIES``
    A non-empty batch of consecutive entries ``[a..j]``. etcd semantics: it
    replaces every entry at index ``>= a`` (a conflicting suffix is truncated by
    appending its replacement), so after it the log ends at ``j``.
``HARD_STATE``
    The latest term, vote and commit; the last one replayed wins.
``SNAPSHOT_MARKER``
    "The log from here on continues after a snapshot at (index, term)". It is
    written only after the snapshot file is durable, so it is the commit point
    of a snapshot. ``resets_log`` distinguishes the two ways a snapshot
    arrives: ``False`` for local compaction (entries after ``index`` are kept),
    ``True`` for a snapshot installed from the leader (every entry is
    discarded and the log restarts empty after ``index``).

A payload whose frame checksum verifies but which does not decode to the shape
below raises :class:`RecordDecodeError`; the WAL reports it as corruption with
the file and offset.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Union

import msgpack

from consensus.raft.messages import Entry, HardState

from .frame import Frame, encode_frame

FORMAT_VERSION = 1


class RecordType(enum.IntEnum):
    SEGMENT_HEADER = 1
    ENTRIES = 2
    HARD_STATE = 3
    SNAPSHOT_MARKER = 4


class RecordDecodeError(ValueError):
    """A checksummed payload does not have the shape its record type requires."""


@dataclass(frozen=True, slots=True)
class SegmentHeader:
    """See the module docstring. ``seq`` and ``first_index`` must match the
    segment's file name."""

    seq: int
    first_index: int
    snapshot_index: int
    snapshot_term: int
    hard_state: HardState
    version: int = FORMAT_VERSION


@dataclass(frozen=True, slots=True)
class EntryBatch:
    """Consecutive entries, written and replayed as one unit."""

    entries: tuple[Entry, ...]

    def __post_init__(self) -> None:
        check_consecutive(self.entries)

    @property
    def first(self) -> int:
        return self.entries[0].index

    @property
    def last(self) -> int:
        return self.entries[-1].index


@dataclass(frozen=True, slots=True)
class SnapshotMarker:
    """See the module docstring."""

    index: int
    term: int
    resets_log: bool


Record = Union[SegmentHeader, EntryBatch, HardState, SnapshotMarker]


def check_consecutive(entries: tuple[Entry, ...] | list[Entry]) -> None:
    """Raise ``ValueError`` unless ``entries`` is non-empty, starts at index
    >= 1 and has consecutive indices."""
    if not entries:
        raise ValueError("an entry batch must hold at least one entry")
    first = entries[0].index
    if first < 1:
        raise ValueError(f"entry index {first} is below 1")
    for offset, entry in enumerate(entries):
        if entry.index != first + offset:
            raise ValueError(
                f"entries are not consecutive: index {entry.index} at position {offset} "
                f"of a batch starting at {first}"
            )


def encode_record(record: Record) -> bytes:
    """The framed bytes of ``record``."""
    if isinstance(record, EntryBatch):
        # Entry is a NamedTuple, so msgpack packs each one as a 4-array.
        return encode_frame(RecordType.ENTRIES, msgpack.packb(record.entries))
    if isinstance(record, HardState):
        return encode_frame(RecordType.HARD_STATE, msgpack.packb(tuple(record)))
    if isinstance(record, SnapshotMarker):
        payload = (record.index, record.term, record.resets_log)
        return encode_frame(RecordType.SNAPSHOT_MARKER, msgpack.packb(payload))
    if isinstance(record, SegmentHeader):
        payload = (
            record.version,
            record.seq,
            record.first_index,
            record.snapshot_index,
            record.snapshot_term,
            tuple(record.hard_state),
        )
        return encode_frame(RecordType.SEGMENT_HEADER, msgpack.packb(payload))
    raise TypeError(f"not a WAL record: {record!r}")


def decode_record(frame: Frame) -> Record:
    """The record held by a checksummed ``frame``; raises RecordDecodeError."""
    try:
        value = msgpack.unpackb(frame.payload, use_list=False)
        if frame.type == RecordType.ENTRIES:
            return _decode_entries(value)
        if frame.type == RecordType.HARD_STATE:
            return _decode_hard_state(value)
        if frame.type == RecordType.SNAPSHOT_MARKER:
            index, term, resets_log = value
            _require_uints(index, term)
            if type(resets_log) is not bool:
                raise RecordDecodeError(f"resets_log must be a bool, got {resets_log!r}")
            return SnapshotMarker(index, term, resets_log)
        if frame.type == RecordType.SEGMENT_HEADER:
            version, seq, first_index, snapshot_index, snapshot_term, hard_state = value
            _require_uints(version, seq, first_index, snapshot_index, snapshot_term)
            if version != FORMAT_VERSION:
                raise RecordDecodeError(
                    f"segment format version {version} is not supported (expected {FORMAT_VERSION})"
                )
            return SegmentHeader(
                seq, first_index, snapshot_index, snapshot_term, _decode_hard_state(hard_state), version
            )
    except RecordDecodeError:
        raise
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise RecordDecodeError(f"malformed {_type_name(frame.type)} payload: {exc}") from exc
    raise RecordDecodeError(f"unknown record type {frame.type}")


def _decode_entries(value: object) -> EntryBatch:
    if not isinstance(value, tuple):
        raise RecordDecodeError("entry batch payload is not an array")
    entries = tuple(Entry._make(item) for item in value)
    for entry in entries:
        if not (
            type(entry.term) is int
            and type(entry.index) is int
            and type(entry.type) is int
            and type(entry.data) is bytes
            and entry.term >= 0
        ):
            raise RecordDecodeError(f"malformed entry {entry!r}")
    return EntryBatch(entries)


def _decode_hard_state(value: object) -> HardState:
    term, vote, commit = value  # type: ignore[misc]
    _require_uints(term, vote, commit)
    return HardState(term, vote, commit)


def _require_uints(*values: object) -> None:
    for value in values:
        if type(value) is not int or value < 0:
            raise RecordDecodeError(f"expected a non-negative integer, got {value!r}")


def _type_name(record_type: int) -> str:
    try:
        return RecordType(record_type).name
    except ValueError:
        return f"type-{record_type}"
