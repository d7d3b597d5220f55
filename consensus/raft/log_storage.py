"""The read side of stable storage, as the Raft core sees it, and an in-memory
implementation.

The core never writes to storage: it hands entries, hard state and snapshots to
the caller in a ready batch, and the caller persists them (for instance to the
WAL in ``consensus.storage``) and then appends them to a ``LogStorage`` so that
the core can read them back. ``MemoryStorage`` is that in-memory mirror; the
durable storage keeps one and replays the WAL into it on start.

Layout: ``_entries[0]`` is a dummy entry holding the index and term of the last
compacted entry (the snapshot point), so ``term(first_index() - 1)`` is always
answerable, as the append consistency check needs.
"""
from __future__ import annotations

from typing import Protocol, Sequence

from .messages import (
    EMPTY_HARD_STATE,
    ConfState,
    Entry,
    HardState,
    Snapshot,
    SnapshotMetadata,
)


class CompactedError(Exception):
    """The requested index precedes the first retained entry (it was compacted)."""


class UnavailableError(Exception):
    """The requested index is beyond the last stored entry."""


class SnapshotOutOfDateError(Exception):
    """A snapshot older than the current one was offered."""


class LogStorage(Protocol):
    """What the core reads. Every method must return what was persisted: an
    entry returned here is durable, or will be before any message that depends
    on it leaves the node (the ready contract)."""

    def initial_state(self) -> tuple[HardState, ConfState]: ...

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        """Entries in ``[lo, hi)``; at least one if any, then at most ``max_size``
        bytes of data. Raises CompactedError / UnavailableError."""
        ...

    def term(self, index: int) -> int:
        """Term of the entry at ``index``; valid for ``first_index()-1 .. last_index()``."""
        ...

    def first_index(self) -> int: ...

    def last_index(self) -> int: ...

    def snapshot(self) -> Snapshot: ...


def limit_size(entries: Sequence[Entry], max_size: int | None) -> list[Entry]:
    """The longest prefix of ``entries`` whose data fits in ``max_size`` bytes,
    but never fewer than one entry (so progress is always possible)."""
    if max_size is None or len(entries) <= 1:
        return list(entries)
    total = 0
    for n, entry in enumerate(entries):
        total += len(entry.data) + 16
        if total > max_size and n > 0:
            return list(entries[:n])
    return list(entries)


class MemoryStorage:
    """A ``LogStorage`` in memory, plus the write methods the caller uses."""

    def __init__(self) -> None:
        self.hard_state: HardState = EMPTY_HARD_STATE
        self._snapshot: Snapshot = Snapshot()
        self._entries: list[Entry] = [Entry(0, 0)]

    # -- LogStorage -------------------------------------------------------

    def initial_state(self) -> tuple[HardState, ConfState]:
        return self.hard_state, self._snapshot.metadata.conf_state

    def first_index(self) -> int:
        return self._entries[0].index + 1

    def last_index(self) -> int:
        return self._entries[0].index + len(self._entries) - 1

    def term(self, index: int) -> int:
        offset = self._entries[0].index
        if index < offset:
            raise CompactedError(index)
        if index - offset >= len(self._entries):
            raise UnavailableError(index)
        return self._entries[index - offset].term

    def entries(self, lo: int, hi: int, max_size: int | None = None) -> list[Entry]:
        offset = self._entries[0].index
        if lo <= offset:
            raise CompactedError(lo)
        if hi > self.last_index() + 1:
            raise UnavailableError(hi)
        return limit_size(self._entries[lo - offset : hi - offset], max_size)

    def snapshot(self) -> Snapshot:
        return self._snapshot

    # -- writes (the caller's side of the ready contract) -------------------

    def set_hard_state(self, hard_state: HardState) -> None:
        self.hard_state = hard_state

    def append(self, entries: Sequence[Entry]) -> None:
        """Append entries, replacing any stored suffix they conflict with.
        Entries at or below the snapshot point are ignored."""
        if not entries:
            return
        first = self.first_index()
        if entries[-1].index < first:
            return
        if entries[0].index < first:
            entries = entries[first - entries[0].index :]
        offset = entries[0].index - self._entries[0].index
        if offset > len(self._entries):
            raise ValueError(
                f"missing log entries: last stored {self.last_index()}, appending from {entries[0].index}"
            )
        del self._entries[offset:]
        self._entries.extend(entries)

    def apply_snapshot(self, snapshot: Snapshot) -> None:
        """Replace the whole log with ``snapshot`` (a follower catching up)."""
        if snapshot.metadata.index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDateError(snapshot.metadata.index)
        self._snapshot = snapshot
        self._entries = [Entry(snapshot.metadata.term, snapshot.metadata.index)]

    def create_snapshot(self, index: int, conf_state: ConfState, data: bytes) -> Snapshot:
        """Record the application's snapshot as of applied ``index``."""
        if index <= self._snapshot.metadata.index:
            raise SnapshotOutOfDateError(index)
        if index > self.last_index():
            raise UnavailableError(index)
        meta = SnapshotMetadata(index=index, term=self.term(index), conf_state=conf_state)
        self._snapshot = Snapshot(meta, data)
        return self._snapshot

    def compact(self, index: int) -> None:
        """Discard entries up to and including ``index`` (must be ≤ last index);
        the entry at ``index`` becomes the new dummy entry."""
        offset = self._entries[0].index
        if index <= offset:
            raise CompactedError(index)
        if index > self.last_index():
            raise UnavailableError(index)
        keep = self._entries[index - offset :]
        self._entries = [Entry(keep[0].term, keep[0].index)] + keep[1:]
