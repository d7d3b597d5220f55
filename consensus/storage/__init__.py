"""Durable storage for the Raft log: the only package that calls fsync.

- ``DurableStorage`` (durable.py): what the node runtime opens; a ``LogStorage``
  backed by a WAL and snapshot files.
- ``WAL`` (wal.py): segmented, checksummed write-ahead log with group commit.
- ``SnapshotFiles`` (snapshot_files.py): atomic, checksummed snapshot files.
- ``SnapshotPayloads`` (snapshot_payloads.py): each snapshot's payload as a
  file of its own, written and read in pieces; the snapshot holds a reference.
- Errors (errors.py), e.g. ``WALCorruptionError`` naming the file and offset.
"""
from .durable import DurableStorage
from .errors import (
    DataDirLockedError,
    SnapshotFileError,
    StorageClosedError,
    StorageError,
    StorageFailedError,
    UnrecoverableStateError,
    WALCorruptionError,
)
from .records import EntryBatch, SnapshotMarker
from .snapshot_files import SnapshotFiles
from .wal import DEFAULT_SEGMENT_SIZE, WAL, WALStats

__all__ = [
    "DEFAULT_SEGMENT_SIZE",
    "DataDirLockedError",
    "DurableStorage",
    "EntryBatch",
    "SnapshotFileError",
    "SnapshotFiles",
    "SnapshotMarker",
    "StorageClosedError",
    "StorageError",
    "StorageFailedError",
    "UnrecoverableStateError",
    "WAL",
    "WALCorruptionError",
    "WALStats",
]
