"""A file system in memory that loses, on a crash, what a real one may.

``consensus.storage`` runs on it unchanged (it is a ``FileSystem``,
``consensus/storage/files.py``). Until ``crash()`` everything behaves as on
a disk that never fails. ``crash()`` is a power loss; what survives is only
what the rules of ``files.py`` made durable, and of the rest what a disk
may happen to have written:

- a file's bytes written since its last ``sync``: none of them, a prefix
  cut at any byte, a prefix followed by zeros up to the written size (the
  file grew, its blocks were never written), or the whole written size with
  any subset of its 512-byte sectors written and the others zeros
  (writeback in any page order);
- a name created, renamed or removed since its directory's last
  ``sync_dir``: as it was at that sync (a new file vanishes, a renamed one
  is back under its old name, a removed one returns, with its content);
- directories (``make_dirs``) and ``truncate`` are durable at once, as the
  interface promises; locks die with the process.

Every choice comes from the ``random.Random`` passed in, so a seed replays
the same losses. ``crash_on_sync``: the next ``WritableFile.sync`` raises
``SimCrash`` after the data was written and before it was made durable —
a crash in the middle of an fsync, for the caller to turn into ``crash()``.
"""
from __future__ import annotations

import random
from pathlib import PurePosixPath

from consensus.storage.errors import DataDirLockedError

SECTOR = 512


class SimCrash(Exception):
    """The machine lost power in the middle of an fsync."""


class _Inode:
    __slots__ = ("data", "synced")

    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)
        self.synced = bytes(data)


class _File:
    __slots__ = ("_files", "_inode", "_closed")

    def __init__(self, files: "SimFiles", inode: _Inode) -> None:
        self._files = files
        self._inode = inode
        self._closed = False

    def write(self, data) -> None:
        if self._closed:
            raise ValueError("write to a closed file")
        self._inode.data += bytes(data)

    def sync(self) -> None:
        if self._files.crash_on_sync:
            self._files.crash_on_sync = False
            raise SimCrash("power lost during an fsync")
        self._inode.synced = bytes(self._inode.data)
        self._files.syncs += 1

    def size(self) -> int:
        return len(self._inode.data)

    def close(self) -> None:
        self._closed = True


class _Lock:
    def __init__(self, files: "SimFiles", directory: PurePosixPath) -> None:
        self._files, self._directory = files, directory

    def release(self) -> None:
        self._files._locked.discard(self._directory)


def _path(path) -> PurePosixPath:
    return PurePosixPath(str(path))


class SimFiles:
    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.dirs: set[PurePosixPath] = {PurePosixPath("/")}
        self.names: dict[PurePosixPath, _Inode] = {}  # what the process sees
        self.durable: dict[PurePosixPath, _Inode] = {}  # as of each directory's last sync
        self._locked: set[PurePosixPath] = set()
        self.crash_on_sync = False
        self.syncs = 0
        self.crashes = 0

    # -- FileSystem --------------------------------------------------------------------

    def open_append(self, path) -> _File:
        inode = self.names.get(_path(path))
        if inode is None:
            raise FileNotFoundError(str(path))
        return _File(self, inode)

    def create(self, path, *, exclusive: bool = False) -> _File:
        path = _path(path)
        if path.parent not in self.dirs:
            raise FileNotFoundError(str(path.parent))
        if exclusive and path in self.names:
            raise FileExistsError(str(path))
        inode = self.names.get(path)
        if inode is None or exclusive:
            inode = self.names[path] = _Inode()
        else:
            inode.data = bytearray()  # O_TRUNC: durable as the metadata change it is, not here
        return _File(self, inode)

    def read_bytes(self, path) -> bytes:
        inode = self.names.get(_path(path))
        if inode is None:
            raise FileNotFoundError(str(path))
        return bytes(inode.data)

    def list_dir(self, path) -> list[str]:
        path = _path(path)
        if path not in self.dirs:
            raise FileNotFoundError(str(path))
        return sorted(name.name for name in self.names if name.parent == path)

    def is_dir(self, path) -> bool:
        return _path(path) in self.dirs

    def make_dirs(self, path) -> None:
        path = _path(path)
        while path not in self.dirs:
            self.dirs.add(path)
            path = path.parent

    def sync_dir(self, path) -> None:
        path = _path(path)
        for name in [n for n in self.durable if n.parent == path and n not in self.names]:
            del self.durable[name]
        for name, inode in self.names.items():
            if name.parent == path:
                self.durable[name] = inode

    def replace(self, source, target) -> None:
        source, target = _path(source), _path(target)
        inode = self.names.pop(source, None)
        if inode is None:
            raise FileNotFoundError(str(source))
        self.names[target] = inode

    def remove(self, path) -> None:
        if self.names.pop(_path(path), None) is None:
            raise FileNotFoundError(str(path))

    def truncate(self, path, size: int) -> None:
        inode = self.names.get(_path(path))
        if inode is None:
            raise FileNotFoundError(str(path))
        del inode.data[size:]
        inode.synced = bytes(inode.data)

    def lock(self, directory):
        directory = _path(directory)
        if directory in self._locked:
            raise DataDirLockedError(f"data directory {directory} is already in use")
        self._locked.add(directory)
        return _Lock(self, directory)

    # -- power loss ----------------------------------------------------------------------

    def crash(self) -> None:
        """Lose what was not durable (module docstring)."""
        self.crashes += 1
        self._locked.clear()
        self.crash_on_sync = False
        survivors: dict[int, _Inode] = {}
        names: dict[PurePosixPath, _Inode] = {}
        for name, inode in self.durable.items():
            survived = survivors.get(id(inode))
            if survived is None:
                survived = survivors[id(inode)] = _Inode(self._surviving_bytes(inode))
            names[name] = survived
        self.names = names
        self.durable = dict(names)

    def _surviving_bytes(self, inode: _Inode) -> bytes:
        synced, written = inode.synced, bytes(inode.data)
        if not written.startswith(synced):
            return synced  # rewritten since the sync (O_TRUNC): the old bytes are what the disk holds
        extra = written[len(synced):]
        if not extra:
            return synced
        rng = self.rng
        kind = rng.randrange(4)
        if kind == 0:
            return synced
        if kind == 1:
            return synced + extra[: rng.randint(0, len(extra))]
        if kind == 2:
            cut = rng.randint(0, len(extra))
            return synced + extra[:cut] + bytes(len(extra) - cut)
        out = bytearray(written)
        start = len(synced)
        sector = (start // SECTOR) * SECTOR
        while sector < len(out):
            if rng.random() < 0.5:
                low = max(sector, start)
                out[low:sector + SECTOR] = bytes(len(out[low:sector + SECTOR]))
            sector += SECTOR
        return bytes(out)
