"""When to compact the store on its own: etcd 3.4's two auto-compaction
policies, as pure state machines (the caller passes the time and the
store's revision; nothing here reads a clock or proposes anything).

The member runs one on every member — it samples revisions everywhere, so a
member that becomes leader knows the past at once — and proposes the
compactions it asks for only while it leads (``member.run_auto_compaction``).
A compaction goes through the log like a client's, so every member frees
the same history at the same revision.

``PeriodicCompaction(retention_s)`` (``--auto-compaction-mode periodic``):
keep ``retention`` of history. The revision is sampled every tenth of
``min(retention, 1 h)``; the first compaction comes ``retention`` after
start, to the revision of ``retention`` ago, and then one every
``min(retention, 1 h)``, each to the oldest sample kept (the revision of
about ``retention`` ago). A compaction that fails is retried at the next
sample.

``RevisionCompaction(retention)`` (``--auto-compaction-mode revision``):
every 5 minutes, compact to ``revision - retention`` unless that is not
positive or was the last one done.

A compaction refused as already compacted counts as done, as in etcd. The
config service's history lives in keys of its own (each a latest revision),
so no compaction removes a release an admin can roll back to.
"""
from __future__ import annotations

from collections import deque

HOUR_S = 3600.0
# etcd's retryDivisor: samples per compaction interval.
SAMPLES_PER_INTERVAL = 10
# etcd's revInterval.
REVISION_CHECK_S = 300.0


class PeriodicCompaction:
    """Keep ``retention_s`` seconds of history (module docstring)."""

    def __init__(self, retention_s: float, start: float) -> None:
        if retention_s <= 0:
            raise ValueError("a periodic retention must be positive")
        self.retention_s = retention_s
        self.compact_interval_s = min(retention_s, HOUR_S)
        self.interval = self.compact_interval_s / SAMPLES_PER_INTERVAL  # how often to call ``due``
        self._samples: deque[int] = deque(maxlen=int(retention_s / self.interval) + 1)
        self._last_done = start
        self._wait_s = retention_s  # the first wait is the whole retention

    def due(self, now: float, revision: int) -> int | None:
        """Sample ``revision``; the revision to compact to now, if any."""
        self._samples.append(revision)
        if now - self._last_done < self._wait_s:
            return None
        return self._samples[0] or None

    def done(self, now: float, revision: int) -> None:
        """The compaction ``due`` asked for was applied (or found done)."""
        self._last_done = now
        self._wait_s = self.compact_interval_s


class RevisionCompaction:
    """Keep the last ``retention`` revisions (module docstring)."""

    interval = REVISION_CHECK_S

    def __init__(self, retention: int) -> None:
        if retention <= 0:
            raise ValueError("a revision retention must be positive")
        self.retention = retention
        self._last = 0

    def due(self, now: float, revision: int) -> int | None:
        target = revision - self.retention
        if target <= 0 or target == self._last:
            return None
        return target

    def done(self, now: float, revision: int) -> None:
        self._last = revision
