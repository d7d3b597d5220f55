"""The leader's view of each follower: how far its log matches, where to send
next, and how many append messages may be in flight to it.

States (etcd's tracker.Progress):
- PROBE: the leader does not know where the follower's log diverges. It sends
  one append at a time and waits for the answer (or a heartbeat response)
  before sending the next, backing ``next`` off on each rejection.
- REPLICATE: the follower is caught up; appends are pipelined optimistically,
  ``next`` jumps past what was sent, bounded by ``Inflights``.
- SNAPSHOT: the entries the follower needs were compacted; a snapshot is on
  its way and nothing else is sent until it is acknowledged or times out.
"""
from __future__ import annotations

import enum
from collections import deque


class ProgressState(enum.IntEnum):
    PROBE = 0
    REPLICATE = 1
    SNAPSHOT = 2


class Inflights:
    """The last index of each append message sent but not yet acknowledged,
    oldest first. Flow control: at most ``capacity`` messages in flight."""

    __slots__ = ("capacity", "_last_indexes")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError("inflight capacity must be at least 1")
        self.capacity = capacity
        self._last_indexes: deque[int] = deque()

    def add(self, last_index: int) -> None:
        if self.full():
            raise RuntimeError("cannot add to a full inflight window")
        if self._last_indexes and last_index < self._last_indexes[-1]:
            raise RuntimeError(f"inflight index went backwards: {last_index} < {self._last_indexes[-1]}")
        self._last_indexes.append(last_index)

    def free_le(self, index: int) -> None:
        """Release every message whose entries are all at or below ``index``."""
        window = self._last_indexes
        while window and window[0] <= index:
            window.popleft()

    def free_first_one(self) -> None:
        if self._last_indexes:
            self._last_indexes.popleft()

    def full(self) -> bool:
        return len(self._last_indexes) >= self.capacity

    def count(self) -> int:
        return len(self._last_indexes)

    def reset(self) -> None:
        self._last_indexes.clear()


class Progress:
    __slots__ = (
        "match",
        "next",
        "state",
        "probe_sent",
        "pending_snapshot",
        "snapshot_ticks",
        "recent_active",
        "inflights",
        "is_learner",
    )

    def __init__(self, next_index: int, *, match: int = 0, max_inflight: int, is_learner: bool = False) -> None:
        self.match = match
        self.next = next_index
        self.state = ProgressState.PROBE
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.recent_active = False
        self.inflights = Inflights(max_inflight)
        self.is_learner = is_learner

    def __repr__(self) -> str:
        return (
            f"Progress({self.state.name} match={self.match} next={self.next}"
            f"{' learner' if self.is_learner else ''}{' paused' if self.is_paused() else ''}"
            f" inflight={self.inflights.count()})"
        )

    def _reset_state(self, state: ProgressState) -> None:
        self.probe_sent = False
        self.pending_snapshot = 0
        self.snapshot_ticks = 0
        self.state = state
        self.inflights.reset()

    def become_probe(self) -> None:
        # After a snapshot, the follower has at least the snapshot's entries.
        if self.state == ProgressState.SNAPSHOT:
            pending = self.pending_snapshot
            self._reset_state(ProgressState.PROBE)
            self.next = max(self.match + 1, pending + 1)
        else:
            self._reset_state(ProgressState.PROBE)
            self.next = self.match + 1

    def become_replicate(self) -> None:
        self._reset_state(ProgressState.REPLICATE)
        self.next = self.match + 1

    def become_snapshot(self, snapshot_index: int) -> None:
        self._reset_state(ProgressState.SNAPSHOT)
        self.pending_snapshot = snapshot_index

    def maybe_update(self, index: int) -> bool:
        """The follower acknowledged entries up to ``index``. Returns False for
        a stale acknowledgement that carries no news."""
        updated = False
        if self.match < index:
            self.match = index
            updated = True
            self.probe_sent = False
        if self.next < index + 1:
            self.next = index + 1
        return updated

    def optimistic_update(self, last_sent: int) -> None:
        self.next = last_sent + 1

    def maybe_decr_to(self, rejected: int, match_hint: int) -> bool:
        """The follower rejected an append whose previous entry was at
        ``rejected``; ``match_hint`` is the highest index it might match.
        Returns False when the rejection is stale (a reordered old answer)."""
        if self.state == ProgressState.REPLICATE:
            if rejected <= self.match:
                return False
            self.next = self.match + 1
            return True
        if self.next - 1 != rejected:
            return False
        self.next = max(min(rejected, match_hint + 1), self.match + 1)
        self.probe_sent = False
        return True

    def is_paused(self) -> bool:
        if self.state == ProgressState.PROBE:
            return self.probe_sent
        if self.state == ProgressState.REPLICATE:
            return self.inflights.full()
        return True
