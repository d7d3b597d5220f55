"""The wire encoding of Raft messages: msgpack, one array per message.

Layout of one message (positional, so a field never costs its name)::

    [type, to, frm, term, log_term, index, entries, commit, snapshot,
     reject, reject_hint, context]

    entries  = [[term, index, type, data], ...]      (Entry is a NamedTuple:
                                                      msgpack packs it as is)
    snapshot = nil | [index, term, [voters...], [learners...], data]

A *batch* is a msgpack array of such messages. :func:`encode_message` returns
the bytes of one element, so the outbound queue can size each message exactly
and the writer can build a batch by joining already-encoded messages behind an
array header (:func:`join_batch`) without encoding anything twice.

Decoding is strict: every integer must be a non-negative int that fits in 64
bits, byte fields must be bytes, enums must name a known member, and local
message types (HUP, BEAT, CHECK_QUORUM) are refused because the core raises on
them. Anything else raises :class:`CodecError`; a peer cannot make the decoder
raise anything but that, whatever bytes it sends.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import msgpack

from consensus.raft.messages import (
    LOCAL_MESSAGES,
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    Snapshot,
    SnapshotMetadata,
)

_MAX_UINT64 = (1 << 64) - 1
_MESSAGE_FIELDS = 12
_ONLY_INT = {int}
# Lookups by exact int (callers check ``type(x) is int`` first: True == 1 in a dict).
_MESSAGE_TYPES = {int(t): t for t in MessageType if t not in LOCAL_MESSAGES}
_LOCAL_TYPES = frozenset(int(t) for t in LOCAL_MESSAGES)
_ENTRY_TYPES = {int(t): t for t in EntryType}
_ARRAY_HEADER = msgpack.Packer().pack_array_header


class CodecError(ValueError):
    """Bytes from a peer that do not decode to valid Raft messages (or a
    message that cannot be encoded). The connection it came from is broken or
    hostile: the receiver drops the connection and logs this error."""


def encode_message(message: Message) -> bytes:
    """Encode one network message. Raises :class:`CodecError` for a local
    message type or a field of the wrong type (a caller bug)."""
    if message.type in LOCAL_MESSAGES:
        raise CodecError(f"{message.type.name} is a local message and never goes on the wire")
    snapshot = message.snapshot
    if snapshot is None:
        snap: Any = None
    else:
        meta = snapshot.metadata
        conf = meta.conf_state
        snap = (meta.index, meta.term, conf.voters, conf.learners, snapshot.data)
    try:
        return msgpack.packb(
            (
                int(message.type),
                message.to,
                message.frm,
                message.term,
                message.log_term,
                message.index,
                message.entries,
                message.commit,
                snap,
                message.reject,
                message.reject_hint,
                message.context,
            ),
            use_bin_type=True,
        )
    except (TypeError, ValueError, OverflowError) as exc:
        raise CodecError(f"cannot encode {message.type.name} to {message.to}: {exc}") from exc


def join_batch(encoded: Sequence[bytes]) -> bytes:
    """A batch made of messages already encoded by :func:`encode_message`."""
    return _ARRAY_HEADER(len(encoded)) + b"".join(encoded)


def encode_batch(messages: Iterable[Message]) -> bytes:
    """Encode messages as one batch; :func:`decode_batch` returns them equal
    and in the same order."""
    return join_batch([encode_message(m) for m in messages])


def decode_batch(payload: bytes | memoryview) -> list[Message]:
    """Decode a batch. Raises :class:`CodecError` (only) if ``payload`` is not
    exactly one well-formed batch."""
    try:
        items = msgpack.unpackb(payload, raw=False, use_list=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several types for garbage
        raise CodecError(f"batch is not valid msgpack: {exc}") from exc
    if type(items) is not tuple:
        raise CodecError(f"batch must be an array, got {type(items).__name__}")
    return [decode_message_fields(item) for item in items]


def decode_message(payload: bytes | memoryview) -> Message:
    """Decode one message encoded by :func:`encode_message`."""
    try:
        item = msgpack.unpackb(payload, raw=False, use_list=False, strict_map_key=True)
    except Exception as exc:
        raise CodecError(f"message is not valid msgpack: {exc}") from exc
    return decode_message_fields(item)


def decode_message_fields(item: object) -> Message:
    """Build a Message from the decoded msgpack array of one message."""
    if type(item) is not tuple or len(item) != _MESSAGE_FIELDS:
        raise CodecError(f"a message must be an array of {_MESSAGE_FIELDS} fields")
    (mtype, to, frm, term, log_term, index, entries, commit, snap, reject, reject_hint, context) = item
    numbers = (to, frm, term, log_term, index, commit, reject_hint)
    # Fast path first (this runs once per message); _uint names the culprit.
    # msgpack cannot hold an integer above 2**64 - 1, so only the sign is left to check.
    if set(map(type, numbers)) != _ONLY_INT or min(numbers) < 0:
        for name, value in zip(("to", "frm", "term", "log_term", "index", "commit", "reject_hint"), numbers):
            _uint(value, name)
    message_type = _MESSAGE_TYPES.get(mtype) if type(mtype) is int else None
    if message_type is None:
        if type(mtype) is int and mtype in _LOCAL_TYPES:
            raise CodecError(f"local message type {MessageType(mtype).name} received from the network")
        raise CodecError(f"unknown message type {mtype!r:.40}")
    if type(reject) is not bool:
        raise CodecError("reject must be a boolean")
    if type(context) is not bytes:
        raise CodecError(f"context must be bytes, got {type(context).__name__}")
    return Message(
        message_type,
        to,
        frm,
        term,
        log_term,
        index,
        () if entries == () else _entries(entries),
        commit,
        None if snap is None else _snapshot(snap),
        reject,
        reject_hint,
        context,
    )


def _entries(value: object) -> tuple[Entry, ...]:
    if type(value) is not tuple:
        raise CodecError("entries must be an array")
    entries = []
    append = entries.append
    for item in value:
        if type(item) is not tuple or len(item) != 4:
            raise CodecError("an entry must be an array [term, index, type, data]")
        term, index, etype, data = item
        entry_type = _ENTRY_TYPES.get(etype) if type(etype) is int else None
        if entry_type is None:
            raise CodecError(f"unknown entry type {etype!r:.40}")
        if type(term) is not int or type(index) is not int or term < 0 or index < 0:
            _uint(term, "entry term")
            _uint(index, "entry index")
        if type(data) is not bytes:
            raise CodecError(f"entry data must be bytes, got {type(data).__name__}")
        append(Entry(term, index, entry_type, data))
    return tuple(entries)


def _snapshot(value: object) -> Snapshot:
    if type(value) is not tuple or len(value) != 5:
        raise CodecError("a snapshot must be an array [index, term, voters, learners, data]")
    index, term, voters, learners, data = value
    try:
        conf_state = ConfState(_ids(voters, "voters"), _ids(learners, "learners"))
    except ValueError as exc:  # ConfState refuses overlapping voters and learners
        raise CodecError(f"invalid snapshot conf state: {exc}") from None
    metadata = SnapshotMetadata(_uint(index, "snapshot index"), _uint(term, "snapshot term"), conf_state)
    return Snapshot(metadata, _bytes(data, "snapshot data"))


def _ids(value: object, name: str) -> tuple[int, ...]:
    if type(value) is not tuple:
        raise CodecError(f"{name} must be an array")
    return tuple(_uint(v, name) for v in value)


def _uint(value: object, name: str) -> int:
    # ``type(...) is int`` also refuses msgpack booleans (bool subclasses int).
    if type(value) is not int or not 0 <= value <= _MAX_UINT64:
        raise CodecError(f"{name} must be an unsigned 64-bit integer, got {value!r:.40}")
    return value


def _bytes(value: object, name: str) -> bytes:
    if type(value) is not bytes:
        raise CodecError(f"{name} must be bytes, got {type(value).__name__}")
    return value
