"""Helpers shared by the storage tests: building entries, reading a WAL back,
and damaging files the way crashes and disks do."""
from __future__ import annotations

import shutil
from pathlib import Path

from consensus.raft.log_storage import MemoryStorage
from consensus.raft.messages import EMPTY_SNAPSHOT, Entry
from consensus.storage.frame import Frame, scan_frames
from consensus.storage.records import EntryBatch
from consensus.storage.replay import replay
from consensus.storage.wal import WAL


def entry(index: int, term: int = 1, size: int = 32) -> Entry:
    """A deterministic entry whose data names its index and term."""
    tag = f"e{index}t{term}:".encode()
    return Entry(term, index, 0, (tag * (size // len(tag) + 1))[:size])


def batch(first: int, last: int, term: int = 1, size: int = 32) -> EntryBatch:
    return EntryBatch(tuple(entry(i, term, size) for i in range(first, last + 1)))


def reopen_log(directory: Path, **options: object) -> tuple[WAL, MemoryStorage]:
    """Open the WAL in ``directory`` and replay it without a snapshot."""
    wal, records = WAL.open(directory, **options)  # type: ignore[arg-type]
    return wal, replay(records, EMPTY_SNAPSHOT)


def all_entries(memory: MemoryStorage) -> list[Entry]:
    return memory.entries(memory.first_index(), memory.last_index() + 1)


def segment_paths(wal_dir: Path) -> list[Path]:
    return sorted(wal_dir.glob("*.wal"))


def frames_of(path: Path) -> list[Frame]:
    scan = scan_frames(path.read_bytes())
    assert scan.bad_offset is None, f"{path} is already damaged at {scan.bad_offset}"
    return scan.frames


def flip_bit(path: Path, offset: int, bit: int = 3) -> None:
    data = bytearray(path.read_bytes())
    data[offset] ^= 1 << bit
    path.write_bytes(bytes(data))


def crash_copy(src: Path, dst: Path) -> Path:
    """What a crash right now would leave if every written byte survived: a
    copy of the directory (the process's page cache contents)."""
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("LOCK"))
    return dst
