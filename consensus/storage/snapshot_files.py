"""Snapshot files: ``snap/<term>-<index>.snap``, written atomically and verified
when loaded.

File layout (little endian)::

    8 bytes  magic b"CCSNAP01"
    4 bytes  CRC32 of the payload
    8 bytes  payload length
    n bytes  payload: msgpack [index, term, voters, learners, data]

A file is written as ``<name>.tmp``, fsynced, renamed over ``<name>``, and the
directory fsynced, so a crash leaves either no file, a complete file, or a
leftover ``.tmp`` that :meth:`SnapshotFiles.remove_temp_files` deletes. A file
whose magic, length, checksum, payload or name disagree is reported by
:meth:`SnapshotFiles.load` as :class:`SnapshotFileError`; deciding what to use
instead is the durable storage's job.

This module does not decide whether a snapshot is *committed*: a snapshot only
counts once its marker is in the WAL (see ``durable.py``).
"""
from __future__ import annotations

import logging
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import msgpack

from consensus.raft.messages import ConfState, Snapshot, SnapshotMetadata

from .errors import SnapshotFileError
from .files import OS_FILES, FileSystem

log = logging.getLogger(__name__)

MAGIC = b"CCSNAP01"
HEADER = struct.Struct("<8sIQ")
SNAP_SUFFIX = ".snap"
TEMP_SUFFIX = ".tmp"
BROKEN_SUFFIX = ".broken"
_NAME = re.compile(r"^(\d{16})-(\d{16})\.snap$")


@dataclass(frozen=True, order=True, slots=True)
class SnapshotName:
    """A snapshot file, ordered by (index, term)."""

    index: int
    term: int
    path: Path = field(compare=False)


def snapshot_file_name(term: int, index: int) -> str:
    return f"{term:016d}-{index:016d}{SNAP_SUFFIX}"


def encode_snapshot(snapshot: Snapshot) -> bytes:
    """The bytes of a snapshot file holding ``snapshot``."""
    meta = snapshot.metadata
    payload = msgpack.packb(
        (meta.index, meta.term, meta.conf_state.voters, meta.conf_state.learners, snapshot.data)
    )
    return HEADER.pack(MAGIC, zlib.crc32(payload), len(payload)) + payload


class SnapshotFiles:
    """The snapshot directory. Not thread-safe: the durable storage serializes
    snapshot operations."""

    def __init__(self, directory: Path | str, files: FileSystem = OS_FILES) -> None:
        self.directory = Path(directory)
        self.files = files
        files.make_dirs(self.directory)

    def save(self, snapshot: Snapshot) -> SnapshotName:
        """Write ``snapshot`` atomically and durably; return its name.

        On return the file is complete and its directory entry is on stable
        storage. An existing file for the same (term, index) is replaced.
        """
        meta = snapshot.metadata
        if meta.index < 1:
            raise ValueError("cannot save an empty snapshot (index 0)")
        final = self.directory / snapshot_file_name(meta.term, meta.index)
        temp = final.with_name(final.name + TEMP_SUFFIX)
        file = self.files.create(temp)
        try:
            file.write(encode_snapshot(snapshot))
            file.sync()
        finally:
            file.close()
        self.files.replace(temp, final)
        self.files.sync_dir(self.directory)
        return SnapshotName(meta.index, meta.term, final)

    def list(self) -> list[SnapshotName]:
        """Every snapshot file (verified or not), oldest first."""
        names = []
        for name in self.files.list_dir(self.directory):
            match = _NAME.match(name)
            if match is not None:
                names.append(SnapshotName(int(match[2]), int(match[1]), self.directory / name))
        return sorted(names)

    def load(self, name: SnapshotName) -> Snapshot:
        """Read and verify the snapshot in ``name``; raises SnapshotFileError
        if it cannot be read or does not verify."""
        try:
            blob = self.files.read_bytes(name.path)
        except OSError as exc:
            raise SnapshotFileError(name.path, f"cannot read it: {exc}") from exc
        if len(blob) < HEADER.size:
            raise SnapshotFileError(name.path, f"only {len(blob)} bytes, shorter than the header")
        magic, crc, length = HEADER.unpack_from(blob)
        if magic != MAGIC:
            raise SnapshotFileError(name.path, f"bad magic {magic!r}")
        payload = memoryview(blob)[HEADER.size :]
        if len(payload) != length:
            raise SnapshotFileError(name.path, f"payload is {len(payload)} bytes, header says {length}")
        if zlib.crc32(payload) != crc:
            raise SnapshotFileError(name.path, "checksum mismatch")
        try:
            index, term, voters, learners, data = msgpack.unpackb(payload, use_list=False)
            conf_state = ConfState(tuple(voters), tuple(learners))
            members = voters + learners
            if not (type(index) is int and type(term) is int and type(data) is bytes) or not all(
                type(member) is int for member in members
            ):
                raise ValueError("malformed fields")
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise SnapshotFileError(name.path, f"malformed payload: {exc}") from exc
        if (index, term) != (name.index, name.term):
            raise SnapshotFileError(
                name.path, f"holds index {index} term {term}, which does not match its name"
            )
        return Snapshot(SnapshotMetadata(index, term, conf_state), data)

    def remove_temp_files(self) -> list[Path]:
        """Delete leftovers of interrupted writes; return their paths."""
        removed = [self.directory / name for name in self.files.list_dir(self.directory)
                   if name.endswith(SNAP_SUFFIX + TEMP_SUFFIX)]
        for path in removed:
            log.warning("snapshot directory: removing %s left by an interrupted snapshot write", path)
            self.files.remove(path)
        if removed:
            self.files.sync_dir(self.directory)
        return removed

    def quarantine(self, name: SnapshotName) -> Path:
        """Rename a corrupt snapshot to ``<name>.broken`` (kept for
        inspection, never loaded again); return the new path."""
        target = name.path.with_name(name.path.name + BROKEN_SUFFIX)
        self.files.replace(name.path, target)
        self.files.sync_dir(self.directory)
        return target

    def remove(self, names: list[SnapshotName]) -> None:
        """Delete the given snapshot files durably."""
        for name in names:
            self.files.remove(name.path)
        if names:
            self.files.sync_dir(self.directory)

    def prune(self, keep: int) -> list[SnapshotName]:
        """Delete all but the newest ``keep`` snapshot files; return the
        deleted ones."""
        if keep < 1:
            raise ValueError(f"must keep at least one snapshot, got {keep}")
        old = self.list()[:-keep]
        self.remove(old)
        return old
