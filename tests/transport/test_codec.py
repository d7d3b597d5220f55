"""The message codec: exact round trips, and garbage refused with CodecError only."""
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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
from consensus.transport.codec import CodecError, decode_batch, decode_message, encode_batch, encode_message

u64 = st.integers(min_value=0, max_value=(1 << 64) - 1)
small = st.integers(min_value=0, max_value=1000)
ints = st.one_of(small, u64)
entries = st.builds(Entry, term=ints, index=ints, type=st.sampled_from(EntryType), data=st.binary(max_size=64))


@st.composite
def conf_states(draw):
    ids = draw(st.lists(ints, max_size=6, unique=True))
    split = draw(st.integers(min_value=0, max_value=len(ids)))
    return ConfState(tuple(ids[:split]), tuple(ids[split:]))


snapshots = st.builds(
    Snapshot,
    metadata=st.builds(SnapshotMetadata, index=ints, term=ints, conf_state=conf_states()),
    data=st.binary(max_size=256),
)
network_types = st.sampled_from([t for t in MessageType if t not in LOCAL_MESSAGES])
messages = st.builds(
    Message,
    type=network_types,
    to=ints,
    frm=ints,
    term=ints,
    log_term=ints,
    index=ints,
    entries=st.lists(entries, max_size=5).map(tuple),
    commit=ints,
    snapshot=st.none() | snapshots,
    reject=st.booleans(),
    reject_hint=ints,
    context=st.binary(max_size=32),
)


@settings(deadline=None)  # no timing flakes on a loaded machine
@given(st.lists(messages, max_size=8))
def test_batch_round_trip_is_exact(batch):
    decoded = decode_batch(encode_batch(batch))
    assert decoded == batch
    for before, after in zip(batch, decoded):
        assert type(after.type) is MessageType
        assert all(type(e) is Entry for e in after.entries)


@settings(deadline=None)
@given(messages)
def test_message_round_trip_is_exact(message):
    assert decode_message(encode_message(message)) == message


def test_decoded_entry_types_are_the_enum():
    m = Message(MessageType.APP, to=2, frm=1, entries=(Entry(1, 1, 1, b"cc"),))
    (decoded,) = decode_batch(encode_batch([m]))
    assert decoded.entries[0].type is EntryType.CONF_CHANGE


@pytest.mark.parametrize("local", sorted(LOCAL_MESSAGES))
def test_local_messages_never_go_on_the_wire(local):
    with pytest.raises(CodecError, match="local"):
        encode_message(Message(local, to=2, frm=1))
    forged = msgpack.packb([[int(local), 2, 1, 0, 0, 0, [], 0, None, False, 0, b""]])
    with pytest.raises(CodecError, match="local"):
        decode_batch(forged)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_random_bytes_raise_codec_error_or_decode(data):
    try:
        result = decode_batch(data)
    except CodecError:
        return
    assert all(isinstance(m, Message) for m in result)


msgpack_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(1 << 63), max_value=(1 << 64) - 1)
    | st.floats(allow_nan=False) | st.text(max_size=8) | st.binary(max_size=8),
    lambda children: st.lists(children, max_size=13) | st.dictionaries(st.text(max_size=4), children, max_size=3),
    max_leaves=40,
)


@settings(max_examples=300, deadline=None)
@given(msgpack_values)
def test_wrongly_shaped_msgpack_raises_codec_error_only(value):
    data = msgpack.packb(value, use_bin_type=True)
    try:
        decode_batch(data)
    except CodecError:
        pass


def _valid_fields():
    return [int(MessageType.APP), 2, 1, 3, 2, 5, [[2, 6, 0, b"x"]], 5,
            [4, 1, [1, 2], [3], b"snap"], False, 0, b"ctx"]


@pytest.mark.parametrize(
    ("position", "value", "error"),
    [
        (0, 99, "unknown message type"),
        (1, -1, "to must be an unsigned"),
        (2, True, "frm must be an unsigned"),
        (3, -5, "term must be an unsigned"),
        (6, [[2, 6, 7, b"x"]], "unknown entry type"),
        (6, [[2, 6, 0, "text"]], "entry data must be bytes"),
        (6, [[2, 6, 0]], "an entry must be"),
        (8, [4, 1, [1, 2], [2], b""], "both voter and learner"),
        (8, [4, 1, [1], [], "s"], "snapshot data must be bytes"),
        (9, 0, "reject must be a boolean"),
        (11, "ctx", "context must be bytes"),
    ],
)
def test_each_field_is_checked(position, value, error):
    fields = _valid_fields()
    decode_batch(msgpack.packb([fields], use_bin_type=True))  # the base case is valid
    fields[position] = value
    with pytest.raises(CodecError, match=error):
        decode_batch(msgpack.packb([fields], use_bin_type=True))


def test_truncated_and_trailing_bytes_are_refused():
    data = encode_batch([Message(MessageType.HEARTBEAT, to=2, frm=1, term=3)])
    with pytest.raises(CodecError):
        decode_batch(data[:-1])
    with pytest.raises(CodecError):
        decode_batch(data + b"\x00")
    with pytest.raises(CodecError, match="must be an array"):
        decode_batch(msgpack.packb({"a": 1}))
