"""Rebuilding the in-memory log from a snapshot and the WAL's records.

Replay starts from the chosen snapshot at index ``base`` (or from nothing) and
applies every record in WAL order, keeping only what lies above ``base``:

- an entry batch ``[a..j]`` with ``j > base`` is appended with
  ``MemoryStorage.append`` (which drops the part at or below ``base`` and
  replaces any conflicting suffix); a batch with ``j <= base`` still means "the
  log ends at j", so everything held above ``base`` is dropped;
- a hard state replaces the previous one, and so does the copy in a segment
  header (the only copy left once older segments were released);
- a snapshot marker at or below ``base`` that reset the log (an installed
  snapshot) drops everything held above ``base``; a compaction marker changes
  nothing (entries are kept until the snapshot file says otherwise);
- a marker above ``base`` means a newer snapshot whose file is not being used.
  After a compaction the entries are still in the WAL, so replay goes on; after
  an installed snapshot the entries before it never existed here, so the log
  cannot be rebuilt and UnrecoverableStateError is raised.

The result is, entry for entry, the ``MemoryStorage`` that the live writes
produced (``save`` appends, ``apply_snapshot``s, ``create_snapshot`` +
``compact``): for any record, what the live log holds above ``base`` afterwards
depends only on what it held above ``base`` before, which is the induction
this replay follows.
"""
from __future__ import annotations

from typing import Sequence

from consensus.raft.log_storage import MemoryStorage
from consensus.raft.messages import EMPTY_HARD_STATE, HardState, Snapshot

from .errors import UnrecoverableStateError
from .records import EntryBatch, SegmentHeader, SnapshotMarker
from .segment import LocatedRecord


def replay(records: Sequence[LocatedRecord], snapshot: Snapshot) -> MemoryStorage:
    """A MemoryStorage holding ``snapshot`` (may be empty) and the log that
    ``records`` (every WAL record, segment headers included, in order) build
    on top of it.

    Raises UnrecoverableStateError if the records do not reach back to the
    snapshot (a gap after it) or need a newer installed snapshot.
    """
    base = snapshot.metadata.index

    def fresh(hard_state: HardState) -> MemoryStorage:
        memory = MemoryStorage()
        if not snapshot.is_empty:
            memory.apply_snapshot(snapshot)
        memory.set_hard_state(hard_state)
        return memory

    memory = fresh(EMPTY_HARD_STATE)
    for record, path, offset in records:
        if isinstance(record, EntryBatch):
            if record.last <= base:
                memory = fresh(memory.hard_state)
                continue
            if record.first > memory.last_index() + 1:
                raise UnrecoverableStateError(
                    f"cannot rebuild the log from the snapshot at index {base}: the WAL record at "
                    f"{path} offset {offset} holds entries from {record.first}, but the log "
                    f"ends at {memory.last_index()} (the entries in between were released)"
                )
            memory.append(record.entries)
        elif isinstance(record, HardState):
            memory.set_hard_state(record)
        elif isinstance(record, SegmentHeader):
            memory.set_hard_state(record.hard_state)
        elif isinstance(record, SnapshotMarker):
            if record.index == base and record.term != snapshot.metadata.term:
                raise UnrecoverableStateError(
                    f"the snapshot file at index {base} has term {snapshot.metadata.term}, but the WAL "
                    f"({path} offset {offset}) committed a snapshot at that index with term {record.term}"
                )
            if record.index <= base:
                if record.resets_log:
                    memory = fresh(memory.hard_state)
            elif record.resets_log:
                raise UnrecoverableStateError(
                    f"the WAL ({path} offset {offset}) installed a snapshot at index {record.index}, "
                    f"but recovery is using the older snapshot at index {base}; the snapshot file for "
                    f"index {record.index} is required"
                )
    return memory
