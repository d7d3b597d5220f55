"""The file system the storage layer runs on, as the few calls it makes.

The WAL, the snapshot files and the data-directory lock reach the disk only
through a ``FileSystem``: ``OS_FILES`` in production (``os`` calls, with the
durability rules of ``fsync``), and in the deterministic simulation a file
system that keeps, on a crash, only what those rules made durable
(``tests/sim/sim_files.py``). So the simulation runs the storage code that
runs in production, over a disk that fails the way disks do.

What a caller may rely on, and what the simulated file system takes away on
a crash when it was not made durable:

- ``WritableFile.write`` appends (or, for a file opened with ``create``,
  writes from its start); the bytes are durable once ``sync`` returns;
- a created, renamed or removed name is durable once ``sync_dir`` of its
  directory returns; ``make_dirs`` and ``truncate`` are durable on return;
- ``lock`` holds a data directory against a second user until released.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Protocol

from .errors import DataDirLockedError
from .fsync import make_dirs, sync_dir, sync_file, write_all

LOCK_FILE = "LOCK"


class WritableFile(Protocol):
    def write(self, data: bytes | memoryview) -> None:
        """Write every byte of ``data`` at the end of what was written."""

    def sync(self) -> None:
        """Block until everything written is on stable storage; raises OSError."""

    def size(self) -> int:
        """Bytes written so far (durable or not)."""

    def close(self) -> None: ...


def sync_written(file: WritableFile) -> None:
    """``file.sync()``: the WAL's default way to make a segment durable (tests
    pass another that observes each fsync)."""
    file.sync()


class DirLock(Protocol):
    def release(self) -> None:
        """Release the lock. Idempotent."""


class FileSystem(Protocol):
    def open_append(self, path: Path) -> WritableFile:
        """An existing file, for writing at its end."""

    def create(self, path: Path, *, exclusive: bool = False) -> WritableFile:
        """A new empty file (``exclusive``: fail if it exists; else one that
        exists is emptied)."""

    def read_bytes(self, path: Path) -> bytes: ...

    def list_dir(self, path: Path) -> list[str]:
        """The names in directory ``path``."""

    def is_dir(self, path: Path) -> bool: ...

    def make_dirs(self, path: Path) -> None:
        """Create ``path`` and its missing parents, each durably."""

    def sync_dir(self, path: Path) -> None: ...

    def replace(self, source: Path, target: Path) -> None:
        """Rename ``source`` over ``target`` (durable after ``sync_dir``)."""

    def remove(self, path: Path) -> None:
        """Delete a file (durable after ``sync_dir``)."""

    def truncate(self, path: Path, size: int) -> None:
        """Cut a file to ``size`` bytes, durably."""

    def lock(self, directory: Path) -> DirLock:
        """Hold ``directory`` exclusively (``DataDirLockedError`` if held)."""


class _OsFile:
    __slots__ = ("fd",)

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def write(self, data: bytes | memoryview) -> None:
        write_all(self.fd, data)

    def sync(self) -> None:
        sync_file(self.fd)

    def size(self) -> int:
        return os.fstat(self.fd).st_size

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


class _OsLock:
    """``fcntl.flock(LOCK_EX)`` on ``<dir>/LOCK``: the kernel releases it when
    the process dies, so a crash never leaves a stale lock; ``flock`` locks
    belong to an open file description, so a second open of the directory
    from the same process is refused too. The holder's pid is written into
    the file for the error message."""

    def __init__(self, fd: int) -> None:
        self._fd = fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class OsFiles:
    """The real file system (module docstring)."""

    def open_append(self, path: Path) -> WritableFile:
        return _OsFile(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC))

    def create(self, path: Path, *, exclusive: bool = False) -> WritableFile:
        flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_EXCL | os.O_APPEND if exclusive else os.O_TRUNC)
        return _OsFile(os.open(path, flags, 0o644))

    def read_bytes(self, path: Path) -> bytes:
        return Path(path).read_bytes()

    def list_dir(self, path: Path) -> list[str]:
        return os.listdir(path)

    def is_dir(self, path: Path) -> bool:
        return Path(path).is_dir()

    def make_dirs(self, path: Path) -> None:
        make_dirs(Path(path))

    def sync_dir(self, path: Path) -> None:
        sync_dir(path)

    def replace(self, source: Path, target: Path) -> None:
        os.replace(source, target)

    def remove(self, path: Path) -> None:
        os.unlink(path)

    def truncate(self, path: Path, size: int) -> None:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.ftruncate(fd, size)
            sync_file(fd)
        finally:
            os.close(fd)

    def lock(self, directory: Path) -> DirLock:
        path = Path(directory) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(
                f"data directory {Path(directory)} is already in use (lock {path} held by pid {holder}); "
                "stop the other node or give this one a different data directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return _OsLock(fd)


OS_FILES = OsFiles()
