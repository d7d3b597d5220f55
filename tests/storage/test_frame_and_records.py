"""Record framing and payload codec: round trips, and every damaged byte is
detected."""
from __future__ import annotations

import msgpack
import pytest

from consensus.raft.messages import Entry, EntryType, HardState
from consensus.storage.frame import HEADER_SIZE, MAGIC, encode_frame, frame_at, next_valid_frame, scan_frames
from consensus.storage.records import (
    EntryBatch,
    RecordDecodeError,
    RecordType,
    SegmentHeader,
    SnapshotMarker,
    decode_record,
    encode_record,
)

RECORDS = [
    EntryBatch((Entry(3, 7, EntryType.NORMAL, b"a"), Entry(3, 8, EntryType.CONF_CHANGE, b"\x00" * 40))),
    HardState(5, 2, 9),
    SnapshotMarker(100, 4, resets_log=True),
    SnapshotMarker(100, 4, resets_log=False),
    SegmentHeader(3, 101, 100, 4, HardState(5, 2, 99)),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_every_record_type_round_trips(record):
    encoded = encode_record(record)
    frame = frame_at(encoded, 0)
    assert frame is not None and frame.end == len(encoded)
    assert decode_record(frame) == record


def test_scan_splits_consecutive_frames_and_reports_the_first_bad_offset():
    blob = b"".join(encode_record(r) for r in RECORDS)
    scan = scan_frames(blob)
    assert scan.bad_offset is None
    assert [decode_record(f) for f in scan.frames] == RECORDS
    cut = scan_frames(blob[:-1])
    assert cut.bad_offset == scan.frames[-1].offset
    assert len(cut.frames) == len(RECORDS) - 1


def test_a_flipped_bit_anywhere_in_a_frame_invalidates_it():
    encoded = encode_record(RECORDS[0])
    for position in range(len(encoded)):
        for bit in (0, 7):
            damaged = bytearray(encoded)
            damaged[position] ^= 1 << bit
            assert frame_at(bytes(damaged), 0) is None, f"flip at byte {position} bit {bit} went unnoticed"


def test_next_valid_frame_skips_garbage_and_embedded_magic():
    good = encode_record(HardState(1, 1, 1))
    garbage = b"\x00" * 10 + MAGIC + b"\xff" * 20  # a magic that starts no valid frame
    blob = garbage + good
    assert next_valid_frame(blob, 0) == len(garbage)
    assert next_valid_frame(garbage, 0) is None


def test_a_checksummed_payload_of_the_wrong_shape_is_a_decode_error():
    for record_type, payload in [
        (RecordType.HARD_STATE, msgpack.packb([1, 2])),
        (RecordType.HARD_STATE, msgpack.packb([1, -2, 3])),
        (RecordType.ENTRIES, msgpack.packb([[1, 5, 0, b"x"], [1, 7, 0, b"y"]])),  # not consecutive
        (RecordType.ENTRIES, msgpack.packb([[1, 5, 0, "text"]])),
        (RecordType.SNAPSHOT_MARKER, msgpack.packb([1, 2, 1])),
        (RecordType.SEGMENT_HEADER, msgpack.packb([99, 1, 1, 0, 0, [0, 0, 0]])),  # unknown version
        (42, msgpack.packb(1)),
        (RecordType.HARD_STATE, b"\xc1"),  # never-used msgpack byte
    ]:
        frame = frame_at(encode_frame(record_type, payload), 0)
        assert frame is not None
        with pytest.raises(RecordDecodeError):
            decode_record(frame)


def test_entry_batches_must_be_consecutive_and_non_empty():
    with pytest.raises(ValueError, match="at least one"):
        EntryBatch(())
    with pytest.raises(ValueError, match="not consecutive"):
        EntryBatch((Entry(1, 1), Entry(1, 3)))


def test_header_size_is_what_the_format_documents():
    assert HEADER_SIZE == 12
    assert len(encode_frame(RecordType.HARD_STATE, b"")) == HEADER_SIZE
