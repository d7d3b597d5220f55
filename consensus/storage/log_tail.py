"""What the WAL's records say about the end of the log, and which records may
follow.

The writer checks every batch against a ``LogTail`` before writing it, and
recovery checks every record read back against the same rules, so a record the
writer would have refused is reported as corruption on recovery. The rules are
invariants of Raft (thesis §3.3, §3.6, §5), so a caller breaking one has a bug:

- an entry batch ``[a..j]`` must not leave a gap (``a <= last_index + 1``) and
  must not lie wholly at or below the snapshot point (``j > snapshot_index``;
  the core never re-persists compacted entries). Afterwards the log ends at
  ``j``: the batch replaced any suffix it conflicted with;
- the hard state's term and commit never decrease, and a node never changes
  its vote within one term;
- a snapshot marker moves the snapshot point strictly forward; a local
  compaction marker may not point past the last entry, and an installed
  snapshot marker (``resets_log``) makes the log end at its index.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from consensus.raft.messages import EMPTY_HARD_STATE, NONE, HardState

from .records import EntryBatch, Record, SegmentHeader, SnapshotMarker


@dataclass(frozen=True, slots=True)
class LogTail:
    """The end of the log after some prefix of the WAL has been replayed.

    (``after`` builds new tails with the constructor rather than
    ``dataclasses.replace``: it runs for every record written, and
    ``replace`` was a fifth of the write path's CPU time.)"""

    last_index: int = 0
    snapshot_index: int = 0
    snapshot_term: int = 0
    hard_state: HardState = EMPTY_HARD_STATE

    @classmethod
    def from_header(cls, header: SegmentHeader) -> "LogTail":
        """The tail as it was when the segment with ``header`` was created."""
        return cls(
            header.first_index - 1, header.snapshot_index, header.snapshot_term, header.hard_state
        )

    def header_for(self, seq: int) -> SegmentHeader:
        """The header of a segment ``seq`` created at this point of the log."""
        return SegmentHeader(
            seq, self.last_index + 1, self.snapshot_index, self.snapshot_term, self.hard_state
        )

    def after(self, record: Record) -> "LogTail":
        """The tail once ``record`` follows; raises ``ValueError`` naming the
        broken rule if it may not."""
        if isinstance(record, EntryBatch):
            if record.first > self.last_index + 1:
                raise ValueError(
                    f"entries start at index {record.first} but the log ends at {self.last_index}; "
                    "appending them would leave a gap"
                )
            if record.last <= self.snapshot_index:
                raise ValueError(
                    f"entries {record.first}..{record.last} lie at or below the snapshot at "
                    f"index {self.snapshot_index}"
                )
            return LogTail(record.last, self.snapshot_index, self.snapshot_term, self.hard_state)
        if isinstance(record, HardState):
            old = self.hard_state
            if record.term < old.term:
                raise ValueError(f"hard state term goes back from {old.term} to {record.term}")
            if record.commit < old.commit:
                raise ValueError(f"hard state commit goes back from {old.commit} to {record.commit}")
            if record.term == old.term and old.vote != NONE and record.vote != old.vote:
                raise ValueError(
                    f"vote changes from {old.vote} to {record.vote} within term {record.term}"
                )
            return LogTail(self.last_index, self.snapshot_index, self.snapshot_term, record)
        if isinstance(record, SnapshotMarker):
            if record.index <= self.snapshot_index:
                raise ValueError(
                    f"snapshot at index {record.index} is not newer than the one at {self.snapshot_index}"
                )
            if record.resets_log:
                return LogTail(record.index, record.index, record.term, self.hard_state)
            if record.index > self.last_index:
                raise ValueError(
                    f"cannot compact to index {record.index}: the log ends at {self.last_index}"
                )
            return LogTail(self.last_index, record.index, record.term, self.hard_state)
        raise ValueError(f"{type(record).__name__} may not be appended to the log")

    def after_all(self, records: Iterable[Record]) -> "LogTail":
        tail = self
        for record in records:
            tail = tail.after(record)
        return tail

    def matches_header(self, header: SegmentHeader) -> bool:
        """Whether a segment created now would carry exactly ``header``'s copy
        of the log's state (a check that no segment in between went missing)."""
        return self.header_for(header.seq) == header
