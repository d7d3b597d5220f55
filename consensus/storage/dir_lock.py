"""An exclusive, process-level lock on a data directory.

Two processes appending to one WAL would interleave records and destroy it, so
the durable storage holds ``fcntl.flock(LOCK_EX)`` on ``<data_dir>/LOCK`` for as
long as it is open. The kernel releases the lock when the process dies, so a
crash never leaves a stale lock. ``flock`` locks belong to an open file
description, so a second open of the same directory from the same process is
refused too. The holder's pid is written into the file for the error message.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path

from .errors import DataDirLockedError

LOCK_FILE = "LOCK"


class DataDirLock:
    """Held from :meth:`acquire` until :meth:`release`."""

    def __init__(self, path: Path, fd: int) -> None:
        """Use :meth:`acquire`."""
        self.path = path
        self._fd = fd

    @classmethod
    def acquire(cls, data_dir: Path | str) -> "DataDirLock":
        """Take the lock on ``data_dir`` (which must exist) without waiting;
        raises DataDirLockedError naming the directory if it is held."""
        path = Path(data_dir) / LOCK_FILE
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode("ascii", "replace").strip() or "unknown"
            os.close(fd)
            raise DataDirLockedError(
                f"data directory {Path(data_dir)} is already in use (lock {path} held by pid {holder}); "
                "stop the other node or give this one a different data directory"
            ) from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        return cls(path, fd)

    def release(self) -> None:
        """Release the lock. Idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
