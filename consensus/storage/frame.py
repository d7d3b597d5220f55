"""Record framing: how one WAL record is laid out in bytes, and how a segment's
bytes are split back into records.

Layout of one frame (little endian, 12-byte header)::

    offset  size  field
    0       2     magic  b"\\xc7\\x5a"  -- lets a scan find frame candidates fast
    2       1     record type (see ``records.RecordType``)
    3       1     flags, always 0 (reserved; non-zero is a bad frame)
    4       4     payload length in bytes
    8       4     CRC32 of header bytes 0..7 followed by the payload
    12      n     payload (msgpack)

The checksum covers the type and the length as well as the payload, so a flipped
bit anywhere in a frame makes it invalid. This module knows nothing about what
payloads mean; it only answers "is there a valid frame at this offset?".

Telling a torn tail from corruption is decided by the caller (``segment.py``)
with :func:`next_valid_frame`: after a bad frame at offset X, a torn tail has no
valid frame anywhere after X, while damage in the middle of a segment is
followed by the records that were written after it.
"""
from __future__ import annotations

import struct
import zlib
from typing import NamedTuple

MAGIC = b"\xc7\x5a"
HEADER = struct.Struct("<2sBBII")
HEADER_SIZE = HEADER.size  # 12
_PREFIX_SIZE = 8  # the header bytes covered by the checksum (all but the CRC)
MAX_PAYLOAD = 0xFFFFFFFF


class Frame(NamedTuple):
    """One valid frame found in a buffer. ``payload`` is a view into it."""

    offset: int
    type: int
    payload: memoryview
    end: int


class ScanResult(NamedTuple):
    """The valid frames at the start of a buffer, in order, and the offset of
    the first byte that does not start a valid frame (``None`` if the buffer
    ends exactly after the last frame)."""

    frames: list[Frame]
    bad_offset: int | None


def encode_frame(record_type: int, payload: bytes) -> bytes:
    """Frame ``payload`` as a record of ``record_type``."""
    if not 0 <= record_type <= 0xFF:
        raise ValueError(f"record type {record_type} does not fit in one byte")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"record payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    prefix = struct.pack("<2sBBI", MAGIC, record_type, 0, len(payload))
    crc = zlib.crc32(payload, zlib.crc32(prefix))
    return prefix + struct.pack("<I", crc) + payload


def frame_at(data: bytes, offset: int) -> Frame | None:
    """The valid frame starting at ``offset`` of ``data``, or ``None`` if the
    bytes there are not a complete frame with a matching checksum."""
    if len(data) - offset < HEADER_SIZE:
        return None
    magic, record_type, flags, length, crc = HEADER.unpack_from(data, offset)
    if magic != MAGIC or flags != 0:
        return None
    start = offset + HEADER_SIZE
    end = start + length
    if end > len(data):
        return None
    view = memoryview(data)
    if zlib.crc32(view[start:end], zlib.crc32(view[offset : offset + _PREFIX_SIZE])) != crc:
        return None
    return Frame(offset, record_type, view[start:end], end)


def scan_frames(data: bytes) -> ScanResult:
    """Split ``data`` into consecutive valid frames from offset 0, stopping at
    the first offset that does not hold one."""
    frames: list[Frame] = []
    offset = 0
    while offset < len(data):
        frame = frame_at(data, offset)
        if frame is None:
            return ScanResult(frames, offset)
        frames.append(frame)
        offset = frame.end
    return ScanResult(frames, None)


# Disks write whole sectors: a write a crash interrupted leaves each sector
# of it either written or as it was (zeros, past the old end of the file).
SECTOR = 512


def torn_at(data: bytes, offset: int, *, followed: bool = False) -> bool:
    """Whether the bytes from ``offset`` (where no valid frame starts) are
    what a crash can leave of an unsynced append, which writes whole sectors
    in any order: a frame cut short (too short for its header, or a length
    that runs past the end of the file), the rest of its sector never
    written (zeros from ``offset`` to the sector's end: a later sector may
    have reached the disk while this one did not), zeros to the end of the
    file (it grew, its blocks were never written), or a frame with a sector
    that reads back as zeros. A complete frame that fails its checksum with
    every sector written, or bytes that are no frame and not zeros, are
    damage to what was written, not a torn write. ``followed``: a valid frame
    starts after ``offset``; then only the sector rules can explain it (a
    frame cut short or zero-filled to the end of the file is at its end)."""
    size = len(data)
    if size - offset < HEADER_SIZE:
        return True
    boundary = min(size, (offset // SECTOR + 1) * SECTOR)
    if not data[offset:boundary].strip(b"\0"):
        return True
    written = len(data.rstrip(b"\0")) if data[-1:] == b"\0" else size  # where the trailing zeros start
    magic, _type, flags, length, _crc = HEADER.unpack_from(data, offset)
    if magic != MAGIC or flags != 0:
        return not followed and written < size  # a frame whose start was written, the rest zeros
    end = offset + HEADER_SIZE + length
    if end > size or written < end:
        return not followed
    first = -(-offset // SECTOR) * SECTOR  # the first sector boundary at or after the frame's start
    return any(not data[start:min(start + SECTOR, end)].strip(b"\0") for start in range(first, end, SECTOR))


def next_valid_frame(data: bytes, start: int) -> int | None:
    """The smallest offset ``>= start`` holding a valid frame, or ``None``.

    Candidates are found with ``bytes.find`` on the magic and each is verified
    by its checksum, so a scan over a whole segment stays fast. A false match
    would need a complete frame, checksum included, embedded in the damaged
    bytes; the consequence is refusing to start, never losing data.
    """
    position = start
    while True:
        position = data.find(MAGIC, position)
        if position < 0:
            return None
        if frame_at(data, position) is not None:
            return position
        position += 1
