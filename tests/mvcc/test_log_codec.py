"""The log codec: every request type round-trips, nested txns included;
malformed bytes are refused the same way everywhere."""
import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.mvcc.api import (
    Compare,
    CompareResult,
    CompareTarget,
    CompactionRequest,
    DeleteRangeRequest,
    InvalidRequestError,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    Limits,
    PutRequest,
    RangeRequest,
    RequestTooLargeError,
    SortOrder,
    SortTarget,
    TxnRequest,
)
from consensus.mvcc.log_codec import FORMAT, check_request_size, decode_request, encode_request

keys = st.binary(max_size=8)
ints = st.integers(min_value=-(2**63), max_value=2**63 - 1)

ranges = st.builds(
    RangeRequest, key=keys, range_end=keys, limit=ints, revision=ints,
    sort_order=st.sampled_from(SortOrder), sort_target=st.sampled_from(SortTarget),
    serializable=st.booleans(), keys_only=st.booleans(), count_only=st.booleans(),
    min_mod_revision=ints, max_mod_revision=ints, min_create_revision=ints, max_create_revision=ints,
)
puts = st.builds(PutRequest, key=keys, value=st.binary(max_size=20), lease=ints, prev_kv=st.booleans(),
                 ignore_value=st.booleans(), ignore_lease=st.booleans())
deletes = st.builds(DeleteRangeRequest, key=keys, range_end=keys, prev_kv=st.booleans())
compares = st.builds(Compare, result=st.sampled_from(CompareResult), target=st.sampled_from(CompareTarget),
                     key=keys, operand=st.one_of(ints, st.binary(max_size=8)), range_end=keys)
txns = st.recursive(
    st.builds(TxnRequest, compare=st.tuples(), success=st.tuples(), failure=st.tuples()),
    lambda inner: st.builds(
        TxnRequest,
        compare=st.lists(compares, max_size=3).map(tuple),
        success=st.lists(st.one_of(ranges, puts, deletes, inner), max_size=3).map(tuple),
        failure=st.lists(st.one_of(ranges, puts, deletes, inner), max_size=3).map(tuple),
    ),
    max_leaves=8,
)
requests = st.one_of(
    ranges, puts, deletes, txns,
    st.builds(CompactionRequest, revision=ints, physical=st.booleans()),
    st.builds(LeaseGrantRequest, TTL=ints, ID=ints),
    st.builds(LeaseRevokeRequest, ID=ints),
)


@settings(max_examples=300, deadline=None)
@given(requests)
def test_every_request_round_trips(request):
    data = encode_request(request)
    decoded = decode_request(data)
    assert decoded == request and type(decoded) is type(request)


def test_encoding_is_compact_and_versioned():
    data = encode_request(PutRequest(key=b"k", value=b"v"))
    assert msgpack.unpackb(data) == [FORMAT, 2, b"k", b"v"]
    assert len(data) == 9  # array header, 2 small ints, 2 one-byte bins (2 bytes of header each)


@pytest.mark.parametrize(
    "items",
    [
        [FORMAT + 1, 2, b"k"],  # unknown format
        [FORMAT, 99, b"k"],  # unknown tag
        [FORMAT, 2, "k"],  # str where bytes belong
        [FORMAT, 2, b"k", b"v", 1, 1],  # int where a bool belongs
        [FORMAT, 2, b"k", b"v", 0, False, False, False, "extra"],  # too many fields
        [FORMAT, 1, b"k", b"", 0, 0, 9],  # sort order out of range
        [FORMAT, 4, [[0, 0, b"k", 1.5]]],  # float operand
        [FORMAT, 4, [], [[5, 3]]],  # a compaction is not a txn op
        [FORMAT, 4, [], [[]]],  # empty op
        [FORMAT],  # no tag
        {"a": 1},  # not an array
    ],
)
def test_malformed_requests_are_refused(items):
    with pytest.raises(InvalidRequestError):
        decode_request(msgpack.packb(items, use_bin_type=True))


def test_undecodable_bytes_are_refused():
    with pytest.raises(InvalidRequestError):
        decode_request(b"\xc1\xc1")
    with pytest.raises(InvalidRequestError):
        decode_request(b"")


def test_check_request_size():
    limits = Limits(max_request_bytes=10)
    check_request_size(b"x" * 10, limits)
    with pytest.raises(RequestTooLargeError):
        check_request_size(b"x" * 11, limits)
