"""The errors the durable storage raises.

Each one carries enough context (file, byte offset, directory) for an operator
to act on it without reading the code. None of them is ever swallowed inside
this package: a storage that cannot prove its contents are what was
acknowledged refuses to run.
"""
from __future__ import annotations

from pathlib import Path


class StorageError(Exception):
    """Base class of every error raised by ``consensus.storage``."""


class WALCorruptionError(StorageError):
    """A WAL record before the tail is damaged, or the WAL's structure is broken
    (missing segment, wrong header, index gap).

    ``path`` and ``offset`` locate the damage. The node must not start: records
    after the damage may have been acknowledged, so skipping it could lose a
    vote or an entry that a leader counted toward commit.
    """

    def __init__(self, path: Path | str, offset: int, reason: str) -> None:
        self.path = Path(path)
        self.offset = offset
        self.reason = reason
        super().__init__(
            f"WAL corruption in {self.path} at byte offset {offset}: {reason}. "
            "Refusing to start; restore this member's data directory from a backup "
            "or remove it and re-add the member to the cluster."
        )


class SnapshotFileError(StorageError):
    """A snapshot file is unreadable or its checksum does not verify."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"snapshot file {self.path} is unusable: {reason}")


class UnrecoverableStateError(StorageError):
    """The snapshot files and the WAL together cannot rebuild the log (for
    example the newest snapshot is corrupt and the WAL no longer reaches back
    to the previous one)."""


class DataDirLockedError(StorageError):
    """Another process (or another open storage in this process) holds the
    data directory's lock."""


class StorageFailedError(StorageError):
    """An earlier fsync or write failed; the state of the files is unknown, so
    every later operation is refused. Restart the process to recover from the
    files (see PostgreSQL's "fsyncgate": retrying an fsync can report success
    for data that was already dropped)."""


class StorageClosedError(StorageError):
    """The storage was used after ``close()``."""
