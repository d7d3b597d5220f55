"""The WAL on real files: round trip, replay rules, rollover and release, and
recovery from torn writes and corruption."""
from __future__ import annotations

import logging
import shutil

import pytest

from consensus.raft.messages import HardState
from consensus.storage.errors import StorageClosedError, WALCorruptionError
from consensus.storage.records import SnapshotMarker
from consensus.storage.wal import WAL

from .support import all_entries, batch, entry, flip_bit, frames_of, reopen_log, segment_paths


@pytest.fixture
def wal_dir(tmp_path):
    return tmp_path / "wal"


def test_records_round_trip_through_reopen(wal_dir):
    wal, _ = WAL.open(wal_dir)
    wal.commit([batch(1, 3), HardState(1, 1, 2)])
    wal.commit([batch(4, 5, term=2), HardState(2, 3, 5)])
    wal.close()

    wal, memory = reopen_log(wal_dir)
    assert all_entries(memory) == [entry(1), entry(2), entry(3), entry(4, 2), entry(5, 2)]
    assert memory.hard_state == HardState(2, 3, 5)
    assert wal.tail.last_index == 5
    # Appending continues the same segment after recovery.
    wal.commit([batch(6, 6, term=2)])
    wal.close()
    _, memory = reopen_log(wal_dir)
    assert memory.last_index() == 6
    assert len(segment_paths(wal_dir)) == 1


def test_a_later_batch_replaces_the_conflicting_suffix(wal_dir):
    wal, _ = WAL.open(wal_dir)
    wal.commit([batch(1, 10, term=1)])
    wal.commit([batch(6, 7, term=2)])  # leader of term 2 overwrote 6..10
    wal.commit([batch(8, 8, term=3)])
    wal.close()
    _, memory = reopen_log(wal_dir)
    assert all_entries(memory) == [entry(i) for i in range(1, 6)] + [entry(6, 2), entry(7, 2), entry(8, 3)]


def test_a_batch_that_would_leave_a_gap_is_refused_before_writing(wal_dir):
    wal, _ = WAL.open(wal_dir)
    wal.commit([batch(1, 2)])
    size = segment_paths(wal_dir)[0].stat().st_size
    with pytest.raises(ValueError, match="gap"):
        wal.append([batch(4, 4)])
    with pytest.raises(ValueError, match="term goes back"):
        wal.append([HardState(2, 1, 0), HardState(1, 1, 0)])
    with pytest.raises(ValueError, match="vote changes"):
        wal.append([HardState(1, 1, 0), HardState(1, 2, 0)])
    assert segment_paths(wal_dir)[0].stat().st_size == size
    wal.close()
    with pytest.raises(StorageClosedError):
        wal.append([batch(3, 3)])


def test_segments_roll_over_at_the_size_threshold_and_replay_in_order(wal_dir):
    wal, _ = WAL.open(wal_dir, segment_size=4096)
    for index in range(1, 201):
        wal.commit([batch(index, index, size=100), HardState(1, 1, index - 1)])
    segments = segment_paths(wal_dir)
    assert len(segments) > 5
    assert all(path.stat().st_size <= 4096 for path in segments)
    assert wal.stats.segments_created == len(segments)
    wal.close()
    _, memory = reopen_log(wal_dir, segment_size=4096)
    assert [e.index for e in all_entries(memory)] == list(range(1, 201))
    assert memory.hard_state == HardState(1, 1, 199)


def test_release_deletes_only_segments_covered_by_the_snapshot(wal_dir):
    wal, _ = WAL.open(wal_dir, segment_size=2048)
    for index in range(1, 101):
        wal.commit([batch(index, index, size=100), HardState(1, 1, index)])
    with pytest.raises(ValueError, match="latest snapshot"):
        wal.release_to(50)  # no snapshot marker yet
    wal.commit([SnapshotMarker(60, 1, resets_log=False)])
    before = wal.segments()
    removed = wal.release_to(60)
    after = wal.segments()
    assert removed > 0 and after == before[removed:]
    assert after[0].first_index <= 61 < after[1].first_index
    assert [p.name for p in segment_paths(wal_dir)] == [s.path.name for s in after]
    wal.close()

    # The kept segments still rebuild everything after the snapshot, and the
    # hard state and snapshot point come from the first kept segment's header.
    wal, records = WAL.open(wal_dir, segment_size=2048)
    assert wal.tail.snapshot_index == 60 and wal.tail.last_index == 100
    assert wal.tail.hard_state == HardState(1, 1, 100)
    entries = [e for r in records if hasattr(r.record, "entries") for e in r.record.entries]
    assert {e.index for e in entries} >= set(range(61, 101))
    wal.close()


def _write_records(wal_dir, count=6):
    wal, _ = WAL.open(wal_dir)
    for index in range(1, count + 1):
        wal.commit([batch(index, index, size=40)])
    wal.close()
    return segment_paths(wal_dir)[0]


def test_a_torn_last_record_is_truncated_at_every_byte_offset(tmp_path, caplog):
    original = _write_records(tmp_path / "orig")
    blob = original.read_bytes()
    last = frames_of(original)[-1]
    assert last.end == len(blob)
    for cut in range(last.offset, last.end):
        wal_dir = tmp_path / f"cut{cut}"
        wal_dir.mkdir()
        segment = wal_dir / original.name
        segment.write_bytes(blob[:cut])
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="consensus.storage"):
            wal, memory = reopen_log(wal_dir)
        assert [e.index for e in all_entries(memory)] == [1, 2, 3, 4, 5], f"cut at {cut}"
        assert segment.stat().st_size == last.offset, f"cut at {cut}: torn bytes left in the file"
        if cut > last.offset:
            warning = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
            assert str(segment) in warning and f"offset {last.offset}" in warning
        # The log continues where the torn record was.
        wal.commit([batch(6, 6, term=2)])
        wal.close()
        _, memory = reopen_log(wal_dir)
        assert all_entries(memory)[-1] == entry(6, 2)
        shutil.rmtree(wal_dir)


def test_a_bad_checksum_in_a_complete_final_record_refuses_to_start(wal_dir):
    """A final record written whole (every sector of it holds data) that
    fails its checksum was damaged after it was written, perhaps after it
    was synced and acknowledged: it is not cut silently (issue 16, defect 3)."""
    segment = _write_records(wal_dir)
    last = frames_of(segment)[-1]
    original = segment.read_bytes()
    for position in (last.offset + 2, last.offset + 9, last.offset + 20, last.end - 1):  # type, checksum, payload
        segment.write_bytes(original)
        flip_bit(segment, position)
        with pytest.raises(WALCorruptionError) as caught:
            WAL.open(wal_dir)
        assert caught.value.path == segment and caught.value.offset == last.offset
        assert "re-add the member" in str(caught.value)
        assert segment.stat().st_size == len(original), "nothing cut while refusing"


def test_a_final_record_with_a_sector_never_written_is_torn(wal_dir):
    """A large final record whose write reached the disk only in part: a
    whole sector of it reads back as zeros. That is what a crash leaves, and
    it is cut."""
    wal, _ = WAL.open(wal_dir)
    for index in range(1, 4):
        wal.commit([batch(index, index, size=40)])
    wal.commit([batch(4, 4, size=3000)])
    wal.close()
    segment = segment_paths(wal_dir)[0]
    last = frames_of(segment)[-1]
    data = bytearray(segment.read_bytes())
    sector = -(-(last.offset + 100) // 512) * 512
    data[sector:sector + 512] = bytes(512)
    segment.write_bytes(bytes(data))
    _, memory = reopen_log(wal_dir)
    assert memory.last_index() == 3
    assert segment.stat().st_size == last.offset


def test_a_zero_filled_tail_is_torn(wal_dir):
    # A crash after the file grew but before its blocks were written reads
    # back as zeros.
    segment = _write_records(wal_dir)
    size = segment.stat().st_size
    with open(segment, "ab") as f:
        f.write(b"\x00" * 8192)
    _, memory = reopen_log(wal_dir)
    assert memory.last_index() == 6
    assert segment.stat().st_size == size


def test_a_flipped_bit_inside_a_segment_refuses_to_start_naming_file_and_offset(wal_dir):
    segment = _write_records(wal_dir)
    frames = frames_of(segment)
    victim = frames[3]
    original = segment.read_bytes()
    # Every byte of a record in the middle: header fields, checksum, payload.
    for position in range(victim.offset, victim.end):
        segment.write_bytes(original)
        flip_bit(segment, position)
        with pytest.raises(WALCorruptionError) as caught:
            WAL.open(wal_dir)
        assert caught.value.path == segment and caught.value.offset == victim.offset
        assert str(segment) in str(caught.value) and f"offset {victim.offset}" in str(caught.value)
    # Nothing was truncated while refusing.
    assert segment.stat().st_size == len(original)


def test_a_zeroed_region_inside_a_segment_is_corruption_not_a_torn_tail(wal_dir):
    segment = _write_records(wal_dir)
    victim = frames_of(segment)[2]
    data = bytearray(segment.read_bytes())
    data[victim.offset : victim.offset + 20] = bytes(20)
    segment.write_bytes(bytes(data))
    with pytest.raises(WALCorruptionError) as caught:
        WAL.open(wal_dir)
    assert caught.value.offset == victim.offset


def _several_segments(wal_dir):
    wal, _ = WAL.open(wal_dir, segment_size=2048)
    for index in range(1, 61):
        wal.commit([batch(index, index, size=100)])
    wal.close()
    segments = segment_paths(wal_dir)
    assert len(segments) >= 3
    return segments


def test_damage_to_the_last_record_of_an_earlier_segment_is_corruption(wal_dir):
    first = _several_segments(wal_dir)[0]
    last = frames_of(first)[-1]
    flip_bit(first, last.end - 2)
    with pytest.raises(WALCorruptionError) as caught:
        WAL.open(wal_dir, segment_size=2048)
    assert caught.value.path == first and caught.value.offset == last.offset


def test_a_truncated_earlier_segment_is_corruption(wal_dir):
    segments = _several_segments(wal_dir)
    middle = segments[1]
    last = frames_of(middle)[-1]
    with open(middle, "r+b") as f:
        f.truncate(last.end - 5)
    with pytest.raises(WALCorruptionError) as caught:
        WAL.open(wal_dir, segment_size=2048)
    assert caught.value.path == middle and caught.value.offset == last.offset


def test_a_missing_segment_is_corruption(wal_dir):
    segments = _several_segments(wal_dir)
    segments[1].unlink()
    with pytest.raises(WALCorruptionError, match="missing"):
        WAL.open(wal_dir, segment_size=2048)


def test_a_new_segment_whose_header_never_reached_disk_is_removed(wal_dir):
    segments = _several_segments(wal_dir)
    newest = segments[-1]
    # Crash while creating the next segment: the file exists, its header is torn.
    seq = int(newest.name.split("-")[0]) + 1
    torn = wal_dir / f"{seq:016d}-{9999:016d}.wal"
    torn.write_bytes(b"\xc7\x5a\x01")
    wal, memory = reopen_log(wal_dir, segment_size=2048)
    assert not torn.exists()
    assert memory.last_index() == 60
    wal.commit([batch(61, 61)])
    wal.close()
    assert reopen_log(wal_dir, segment_size=2048)[1].last_index() == 61


def test_the_only_segment_after_a_release_may_not_lose_its_header(wal_dir):
    # Segments 1..k were released; a headerless newest segment cannot be a
    # crash artifact then, because it was created before the release.
    wal, _ = WAL.open(wal_dir, segment_size=2048)
    for index in range(1, 61):
        wal.commit([batch(index, index, size=100)])
    wal.commit([SnapshotMarker(60, 1, resets_log=False)])
    wal.release_to(60)
    wal.close()
    (only,) = segment_paths(wal_dir)
    assert not only.name.startswith("0000000000000001-")
    only.write_bytes(only.read_bytes()[:5])
    with pytest.raises(WALCorruptionError, match="no valid header"):
        WAL.open(wal_dir, segment_size=2048)


def test_crash_between_write_and_fsync_keeps_everything_synced(tmp_path):
    wal_dir = tmp_path / "wal"
    wal, _ = WAL.open(wal_dir)
    for index in range(1, 11):
        wal.commit([batch(index, index)])
    (segment,) = segment_paths(wal_dir)
    synced_size = segment.stat().st_size
    for index in range(11, 21):
        wal.append([batch(index, index)])  # written, never synced
    written = segment.read_bytes()
    wal.close()
    unsynced = frames_of(segment)[11:]  # header + 10 synced records come first

    # After a crash the unsynced part may be cut anywhere or zero-filled.
    survivors = [synced_size] + list(range(synced_size + 1, len(written), 37)) + [len(written)]
    for length in survivors:
        for zero_fill in (False, True):
            crash_dir = tmp_path / f"crash-{length}-{zero_fill}"
            crash_dir.mkdir()
            tail = written[synced_size:length]
            if zero_fill:
                tail += bytes(len(written) - length)
            (crash_dir / segment.name).write_bytes(written[:synced_size] + tail)
            wal, memory = reopen_log(crash_dir)
            indices = [e.index for e in all_entries(memory)]
            complete = sum(1 for frame in unsynced if frame.end <= length)
            assert indices == list(range(1, 11 + complete)), f"length {length} zero_fill {zero_fill}"
            wal.close()


def test_sectors_written_out_of_order_are_a_torn_tail(wal_dir):
    """A crash during writeback: a later sector of the unsynced tail reached
    the disk, an earlier one did not (zeros). Valid records follow the hole,
    yet none of it was synced: cut at the hole, as etcd does."""
    wal, _ = WAL.open(wal_dir)
    for index in range(1, 4):
        wal.commit([batch(index, index, size=40)])
    for index in range(4, 40):
        wal.append([batch(index, index, size=40)])
    wal.close()
    segment = segment_paths(wal_dir)[0]
    data = bytearray(segment.read_bytes())
    frames = frames_of(segment)
    hole = -(-frames[6].end // 512) * 512  # a sector boundary past the synced records
    data[hole:hole + 512] = bytes(512)
    segment.write_bytes(bytes(data))
    _, memory = reopen_log(wal_dir)
    kept = memory.last_index()
    assert 3 <= kept < 39
    assert segment.stat().st_size <= hole
