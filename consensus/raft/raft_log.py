"""The Raft log as one node sees it: stable storage plus an unstable tail.

Index bookkeeping (every field an absolute log index)::

    storage.first_index()-1   snapshot point (dummy entry, term known)
    ...
    unstable.offset - 1       last entry known to be persisted
    unstable.offset ...       entries handed to the caller, not yet persisted
    committed                 known committed on a quorum
    applied                   handed to the application and acknowledged

``committed`` may run ahead of the persisted tail on a follower (the leader's
commit arrives with the entries); that is safe because the ready contract
makes the caller persist before it applies.
"""
from __future__ import annotations

from typing import Sequence

from .log_storage import CompactedError, LogStorage, UnavailableError, limit_size
from .messages import Entry, Snapshot


class RaftInvariantError(RuntimeError):
    """A rule of the protocol was about to be broken; continuing could lose data."""


class Unstable:
    """Entries (and possibly an incoming snapshot) not yet persisted.
    ``offset`` is the index of ``entries[0]``."""

    __slots__ = ("snapshot", "entries", "offset")

    def __init__(self, offset: int) -> None:
        self.snapshot: Snapshot | None = None
        self.entries: list[Entry] = []
        self.offset = offset

    def maybe_first_index(self) -> int | None:
        if self.snapshot is not None:
            return self.snapshot.metadata.index + 1
        return None

    def maybe_last_index(self) -> int | None:
        if self.entries:
            return self.offset + len(self.entries) - 1
        if self.snapshot is not None:
            return self.snapshot.metadata.index
        return None

    def maybe_term(self, index: int) -> int | None:
        if index < self.offset:
            if self.snapshot is not None and self.snapshot.metadata.index == index:
                return self.snapshot.metadata.term
            return None
        last = self.maybe_last_index()
        if last is None or index > last:
            return None
        return self.entries[index - self.offset].term

    def stable_to(self, index: int, term: int) -> None:
        # The term check guards against an acknowledgement for entries that
        # were replaced by a newer leader's entries after the ready was taken.
        if self.maybe_term(index) == term and index >= self.offset:
            del self.entries[: index + 1 - self.offset]
            self.offset = index + 1

    def stable_snapshot_to(self, index: int) -> None:
        if self.snapshot is not None and self.snapshot.metadata.index == index:
            self.snapshot = None

    def restore(self, snapshot: Snapshot) -> None:
        self.offset = snapshot.metadata.index + 1
        self.entries = []
        self.snapshot = snapshot

    def truncate_and_append(self, entries: Sequence[Entry]) -> None:
        after = entries[0].index
        if after == self.offset + len(self.entries):
            self.entries.extend(entries)
        elif after <= self.offset:
            # Replaces everything unstable, and a persisted suffix too: the
            # durable prefix now ends at after-1.
            self.offset = after
            self.entries = list(entries)
        else:
            del self.entries[after - self.offset :]
            self.entries.extend(entries)


class RaftLog:
    def __init__(self, storage: LogStorage, logger) -> None:
        self.storage = storage
        self.logger = logger
        first = storage.first_index()
        last = storage.last_index()
        self.unstable = Unstable(last + 1)
        # The snapshot may lie above the compaction point (entries kept after
        # it for slow followers); it is committed and the application restores
        # its state from it, so both indexes start there.
        start = max(first - 1, storage.snapshot().metadata.index)
        self.committed = start
        self.applied = start

    def __repr__(self) -> str:
        return (
            f"RaftLog(committed={self.committed} applied={self.applied} "
            f"unstable.offset={self.unstable.offset} unstable={len(self.unstable.entries)})"
        )

    # -- indexes and terms ------------------------------------------------

    def first_index(self) -> int:
        first = self.unstable.maybe_first_index()
        return first if first is not None else self.storage.first_index()

    def last_index(self) -> int:
        last = self.unstable.maybe_last_index()
        return last if last is not None else self.storage.last_index()

    def persisted_index(self) -> int:
        """The last index that is on stable storage as far as the log knows."""
        return self.unstable.offset - 1

    def term(self, index: int) -> int:
        """Term at ``index``; raises CompactedError / UnavailableError."""
        term = self.unstable.maybe_term(index)
        if term is not None:
            return term
        if index < self.first_index() - 1:
            raise CompactedError(index)
        if index > self.last_index():
            raise UnavailableError(index)
        return self.storage.term(index)

    def term_or_zero(self, index: int) -> int:
        try:
            return self.term(index)
        except (CompactedError, UnavailableError):
            return 0

    def last_term(self) -> int:
        return self.term(self.last_index())

    def match_term(self, index: int, term: int) -> bool:
        try:
            return self.term(index) == term
        except (CompactedError, UnavailableError):
            return False

    def is_up_to_date(self, last_index: int, term: int) -> bool:
        """Election restriction (§5.4.1): a candidate's log is at least as
        up to date as ours."""
        our_term = self.last_term()
        return term > our_term or (term == our_term and last_index >= self.last_index())

    # -- appending -----------------------------------------------------------

    def maybe_append(self, index: int, log_term: int, committed: int, entries: Sequence[Entry]) -> int | None:
        """Follower side of AppendEntries. Returns the last index now known to
        match the leader, or None if the entry at ``index`` does not match."""
        if not self.match_term(index, log_term):
            return None
        last_new = index + len(entries)
        conflict = self.find_conflict(entries)
        if conflict:
            if conflict <= self.committed:
                raise RaftInvariantError(
                    f"entry {conflict} conflicts with committed entry (committed={self.committed})"
                )
            self.append(entries[conflict - entries[0].index :])
        self.commit_to(min(committed, last_new))
        return last_new

    def append(self, entries: Sequence[Entry]) -> int:
        if not entries:
            return self.last_index()
        if entries[0].index - 1 < self.committed:
            raise RaftInvariantError(
                f"appending after {entries[0].index - 1} would truncate committed entries up to {self.committed}"
            )
        self.unstable.truncate_and_append(entries)
        return self.last_index()

    def find_conflict(self, entries: Sequence[Entry]) -> int:
        """Index of the first entry that is new or conflicts with ours (0 if none)."""
        last = self.last_index()
        for entry in entries:
            if entry.index > last or not self.match_term(entry.index, entry.term):
                return entry.index
        return 0

    def find_conflict_by_term(self, index: int, term: int) -> tuple[int, int]:
        """The largest index ≤ ``index`` whose term is ≤ ``term``, with its term.
        Used for fast backtracking: entries above it cannot match a log whose
        entry at ``index`` has ``term``."""
        while index > 0:
            try:
                our = self.term(index)
            except CompactedError:
                return index, 0
            except UnavailableError:
                index = self.last_index()
                continue
            if our <= term:
                return index, our
            index -= 1
        return 0, 0

    # -- reading entries -------------------------------------------------------

    def slice(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries ``[lo, hi)``; raises CompactedError if ``lo`` was compacted."""
        if lo > hi:
            raise RaftInvariantError(f"invalid slice {lo} > {hi}")
        if lo < self.first_index():
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise RaftInvariantError(f"slice [{lo},{hi}) out of bound last={self.last_index()}")
        if lo == hi:
            return []
        offset = self.unstable.offset
        result: list[Entry] = []
        if lo < offset:
            result = self.storage.entries(lo, min(hi, offset), max_size)
            if len(result) < min(hi, offset) - lo:
                return result  # already cut by max_size
        if hi > offset:
            result = result + self.unstable.entries[max(lo, offset) - offset : hi - offset]
        return limit_size(result, max_size)

    def entries_from(self, index: int, max_size: int | None) -> list[Entry]:
        if index > self.last_index():
            return []
        return self.slice(index, self.last_index() + 1, max_size)

    def unstable_entries(self) -> list[Entry]:
        return list(self.unstable.entries)

    def next_committed_entries(self) -> list[Entry]:
        """Committed entries not yet handed out for applying. None while a
        snapshot awaits installation: it must be applied first."""
        if self.unstable.snapshot is not None:
            return []
        lo = max(self.applied + 1, self.first_index())
        if self.committed + 1 > lo:
            return self.slice(lo, self.committed + 1)
        return []

    def has_next_committed_entries(self) -> bool:
        return self.unstable.snapshot is None and self.committed > self.applied

    def snapshot(self) -> Snapshot:
        if self.unstable.snapshot is not None:
            return self.unstable.snapshot
        return self.storage.snapshot()

    # -- commit and apply ------------------------------------------------------

    def maybe_commit(self, max_index: int, term: int) -> bool:
        """Advance commit to ``max_index`` only if that entry is from ``term``
        (the leader's current term): §5.4.2, the Figure 8 rule."""
        if max_index > self.committed and self.term_or_zero(max_index) == term:
            self.commit_to(max_index)
            return True
        return False

    def commit_to(self, index: int) -> None:
        if self.committed < index:
            if self.last_index() < index:
                raise RaftInvariantError(
                    f"commit {index} is out of range [last index {self.last_index()}]; log corrupted, truncated or lost?"
                )
            self.committed = index

    def applied_to(self, index: int) -> None:
        if index == 0:
            return
        if self.committed < index or index < self.applied:
            raise RaftInvariantError(f"applied {index} outside [{self.applied}, {self.committed}]")
        self.applied = index

    def stable_to(self, index: int, term: int) -> None:
        self.unstable.stable_to(index, term)

    def stable_snapshot_to(self, index: int) -> None:
        self.unstable.stable_snapshot_to(index)

    def restore(self, snapshot: Snapshot) -> None:
        self.logger.info(
            "log restoring snapshot index=%d term=%d", snapshot.metadata.index, snapshot.metadata.term
        )
        self.committed = snapshot.metadata.index
        self.unstable.restore(snapshot)
