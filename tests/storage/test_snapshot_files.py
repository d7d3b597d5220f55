"""Snapshot files: atomic writes, verification, cleanup and pruning."""
from __future__ import annotations

import pytest

from consensus.raft.messages import ConfState, Snapshot, SnapshotMetadata
from consensus.storage.errors import SnapshotFileError
from consensus.storage.snapshot_files import SnapshotFiles

from .support import flip_bit


def snap(index: int, term: int = 1, data: bytes = b"state") -> Snapshot:
    return Snapshot(SnapshotMetadata(index, term, ConfState((1, 2, 3), (4,))), data + str(index).encode())


def test_save_then_load_round_trips_and_leaves_no_temp_file(tmp_path):
    files = SnapshotFiles(tmp_path / "snap")
    name = files.save(snap(42, term=7))
    assert name.path.name == "0000000000000007-0000000000000042.snap"
    assert sorted(p.name for p in (tmp_path / "snap").iterdir()) == [name.path.name]
    assert files.list() == [name]
    assert files.load(name) == snap(42, term=7)


@pytest.mark.parametrize(
    "damage",
    ["flip-header", "flip-payload", "truncate", "append", "rename"],
)
def test_a_damaged_file_does_not_verify(tmp_path, damage):
    files = SnapshotFiles(tmp_path)
    name = files.save(snap(10, data=b"x" * 1000))
    size = name.path.stat().st_size
    if damage == "flip-header":
        flip_bit(name.path, 9)
    elif damage == "flip-payload":
        flip_bit(name.path, size // 2)
    elif damage == "truncate":
        name.path.write_bytes(name.path.read_bytes()[: size - 1])
    elif damage == "append":
        name.path.write_bytes(name.path.read_bytes() + b"\x00")
    elif damage == "rename":  # content of index 10 under the name of index 11
        target = name.path.with_name("0000000000000001-0000000000000011.snap")
        name.path.rename(target)
        (name,) = files.list()
    with pytest.raises(SnapshotFileError) as caught:
        files.load(name)
    assert str(name.path) in str(caught.value)


def test_leftover_temp_files_are_removed(tmp_path):
    files = SnapshotFiles(tmp_path)
    good = files.save(snap(5))
    leftover = tmp_path / "0000000000000001-0000000000000009.snap.tmp"
    leftover.write_bytes(b"CCSNAP01 half written")
    assert files.list() == [good]  # never offered as a snapshot
    assert files.remove_temp_files() == [leftover]
    assert not leftover.exists() and good.path.exists()


def test_prune_keeps_the_newest_files(tmp_path):
    files = SnapshotFiles(tmp_path)
    for index in (3, 9, 5, 12):
        files.save(snap(index))
    removed = files.prune(keep=2)
    assert [n.index for n in removed] == [3, 5]
    assert [n.index for n in files.list()] == [9, 12]
    with pytest.raises(ValueError):
        files.prune(keep=0)


def test_quarantine_hides_a_corrupt_file_but_keeps_it(tmp_path):
    files = SnapshotFiles(tmp_path)
    name = files.save(snap(3))
    moved = files.quarantine(name)
    assert moved.exists() and moved.name.endswith(".snap.broken")
    assert files.list() == []
