"""A snapshot's payload (the state machine's copy: for the store, a whole
SQLite database) kept as a file beside its snapshot file, never in memory.

    snap/<term>-<index>.snap      metadata; its data is a PayloadRef
    snap/<term>-<index>.payload   the payload, written once, never changed

The Raft core carries a snapshot's ``data`` opaquely. Production puts in it
only a ``PayloadRef`` (the payload's size and CRC32, a few bytes), so the
core, the in-memory log and the ``.snap`` file stay small whatever the size
of the store, and the payload moves from file to file: the state machine
writes it (``PayloadWriter``), the transport streams it from the file in
chunks and the receiving member writes the chunks into a new
``PayloadWriter``, from which the state machine restores.

Durability: a writer writes a ``.payload.tmp``, fsyncs it, renames it to
its final name and fsyncs the directory before ``finish`` returns, so a
payload under its final name is always complete, and a ``.snap`` naming it
is written (by the durable storage) only after that. A payload whose
snapshot never committed is an orphan the durable storage deletes; a
leftover ``.tmp`` is deleted on open.
"""
from __future__ import annotations

import re
import struct
import uuid
import zlib
from dataclasses import dataclass
from pathlib import Path

from .files import FileSystem

PAYLOAD_SUFFIX = ".payload"
TEMP_SUFFIX = ".payload.tmp"
_NAME = re.compile(r"^(\d{16})-(\d{16})\.payload$")
_REF = struct.Struct("<8sQI")
_REF_MAGIC = b"CCPAYREF"


@dataclass(frozen=True, slots=True)
class PayloadRef:
    """What a snapshot's ``data`` holds when its payload is a file: enough
    to check a copy (size, CRC32 of the bytes) and nothing else; the file is
    found by the snapshot's (term, index)."""

    size: int
    crc: int

    def encode(self) -> bytes:
        return _REF.pack(_REF_MAGIC, self.size, self.crc)

    @staticmethod
    def decode(data: bytes) -> "PayloadRef | None":
        """The reference in a snapshot's ``data``, or None if ``data`` is an
        inline payload (a snapshot written before payload files, or a test
        state machine's)."""
        if len(data) != _REF.size or not data.startswith(_REF_MAGIC):
            return None
        _, size, crc = _REF.unpack(data)
        return PayloadRef(size, crc)


def payload_file_name(term: int, index: int) -> str:
    return f"{term:016d}-{index:016d}{PAYLOAD_SUFFIX}"


class PayloadWriter:
    """A payload being written: ``write`` the bytes in order, then
    ``finish`` (durable under its final name) or ``abort`` (gone)."""

    def __init__(self, files: FileSystem, directory: Path) -> None:
        self._files = files
        self._directory = directory
        self.temp_path = directory / f"incoming-{uuid.uuid4().hex}{TEMP_SUFFIX}"
        self._file = files.create(self.temp_path, exclusive=True)
        self.size = 0
        self.crc = 0
        self._open = True

    def write(self, data: bytes | memoryview) -> None:
        self._file.write(data)
        self.size += len(data)
        self.crc = zlib.crc32(data, self.crc)

    def finish(self, term: int, index: int) -> PayloadRef:
        """Make the payload durable as the payload of snapshot (term, index)
        and return its reference."""
        if not self._open:
            raise ValueError("payload writer already finished or aborted")
        self._open = False
        try:
            self._file.sync()
        finally:
            self._file.close()
        self._files.replace(self.temp_path, self._directory / payload_file_name(term, index))
        self._files.sync_dir(self._directory)
        return PayloadRef(self.size, self.crc)

    def abort(self) -> None:
        """Drop what was written (idempotent; a no-op after ``finish``)."""
        if not self._open:
            return
        self._open = False
        self._file.close()
        self._files.remove(self.temp_path)


class SnapshotPayloads:
    """The payload files of one snapshot directory."""

    def __init__(self, directory: Path, files: FileSystem) -> None:
        self.directory = Path(directory)
        self.files = files

    def writer(self) -> PayloadWriter:
        return PayloadWriter(self.files, self.directory)

    def path(self, term: int, index: int) -> Path:
        return self.directory / payload_file_name(term, index)

    def present(self) -> set[tuple[int, int]]:
        """(term, index) of every payload file under its final name."""
        found = set()
        for name in self.files.list_dir(self.directory):
            match = _NAME.match(name)
            if match is not None:
                found.add((int(match[1]), int(match[2])))
        return found

    def remove(self, points: set[tuple[int, int]]) -> None:
        for term, index in points:
            self.files.remove(self.path(term, index))
        if points:
            self.files.sync_dir(self.directory)

    def remove_temp_files(self) -> list[Path]:
        removed = [self.directory / name for name in self.files.list_dir(self.directory)
                   if name.endswith(TEMP_SUFFIX)]
        for path in removed:
            self.files.remove(path)
        if removed:
            self.files.sync_dir(self.directory)
        return removed
