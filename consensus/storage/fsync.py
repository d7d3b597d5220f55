"""The only functions in the project that make data durable.

Everything in ``consensus.storage`` that needs bytes on stable storage goes
through these three helpers, so the durability rules live in one place:

- file contents are flushed with ``fdatasync`` where the platform has it: it
  flushes the data and the metadata needed to read it back (including the file
  size), which is all a WAL needs, and skips timestamps;
- a created, renamed or removed directory entry is only durable once the
  directory itself is fsynced;
- a short ``os.write`` is continued, never silently accepted.
"""
from __future__ import annotations

import os
from pathlib import Path

_datasync = getattr(os, "fdatasync", os.fsync)


def sync_file(fd: int) -> None:
    """Block until everything written to ``fd`` is on stable storage.

    Raises ``OSError`` on failure. After a failure the caller must treat the
    file's unsynced contents as lost: a retried fsync may succeed without the
    data ever having been written.
    """
    _datasync(fd)


def sync_dir(path: Path | str) -> None:
    """Make the creation, rename or removal of entries in directory ``path``
    durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (``os.write`` may write fewer)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def make_dirs(path: Path) -> None:
    """Create ``path`` and any missing parents, making each new entry durable."""
    missing: list[Path] = []
    current = path
    while not current.exists():
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        sync_dir(directory.parent)
