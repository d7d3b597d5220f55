"""``consensus.mvcc.json_codec`` against etcd 3.4.23's gateway.

Two kinds of checks:

- fixed cases, each observed on a real etcd 3.4.23 (the JSON literals below
  are what it wrote), so they run without one;
- live checks against a real etcd (the module's ``etcd`` fixture): random
  request sequences whose every answer must re-encode to exactly the JSON
  etcd wrote, and raw request bodies that our decoder must accept or refuse
  exactly as the gateway does.
"""
from __future__ import annotations

import json

import pytest

from consensus.mvcc import json_codec as jc
from consensus.mvcc.api import (
    Compare,
    CompactedError,
    CompactionRequest,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DuplicateKeyError,
    Event,
    EventType,
    FutureRevisionError,
    InvalidRequestError,
    KeyNotFoundError,
    KeyValue,
    LeaseExistsError,
    LeaseGrantRequest,
    LeaseNotFoundError,
    LeaseTTLTooLargeError,
    NoSpaceError,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    SortOrder,
    SortTarget,
    StoreError,
    TxnRequest,
    TxnResponse,
    WatchCreateRequest,
    WatchFilter,
    WatchResponse,
)
from tests.differential.etcd import decode_answer, RawAnswer
from tests.differential.generator import Generator, StoreView


def decode_error(kind: str, body: dict) -> StoreError:
    with pytest.raises(StoreError) as info:
        jc.request_from_json(kind, body)
    return info.value


# -- bytes ----------------------------------------------------------------------------

# (text, decoded bytes or the byte offset etcd 3.4.23 named in its error)
BASE64_CASES = [
    ("YQ==", b"a"), ("YWI=", b"ab"), ("YWJj", b"abc"), ("", b""),
    ("YQ\n==", b"a"), ("YWI=\n", b"ab"),
    ("YR==", b"a"), ("YWJ=", b"ab"),  # unused low bits are ignored
    ("+/8=", b"\xfb\xff"),
    ("YWI", 0), ("Y", 0), ("YWJjZA", 4), ("-_8=", 0), ("YQ=", 3), ("Y===", 1),
    ("YQ==YQ==", 4), ("YQ=a", 2), ("YQ== ", 4), ("YWJjZA=", 7), ("=YWI", 0), ("YW=I", 2),
]


@pytest.mark.parametrize("text, expected", BASE64_CASES)
def test_base64_is_read_like_go(text, expected):
    if isinstance(expected, bytes):
        assert jc.base64_decode(text) == expected
    else:
        with pytest.raises(InvalidRequestError, match=f"^illegal base64 data at input byte {expected}$"):
            jc.base64_decode(text)


def test_bytes_of_the_wrong_json_type():
    error = decode_error("range", {"key": 5})
    assert error.text == "json: cannot unmarshal number into Go value of type []uint8"
    assert error.grpc_code == 3


# -- integers, booleans, enums ---------------------------------------------------------------

INT64_CASES = [
    ("1", 1), (1, 1), (" 1", 1), ("-9223372036854775808", -(2**63)), ("9223372036854775807", 2**63 - 1),
    (None, 0),
    ("abc", "invalid character 'a' looking for beginning of value"),
    ("+1", "invalid character '+' looking for beginning of value"),
    ("01", "invalid character '1' after top-level value"),
    ("1.5", "json: cannot unmarshal number 1.5 into Go value of type int64"),
    (True, "json: cannot unmarshal bool into Go value of type int64"),
    ([1], "json: cannot unmarshal array into Go value of type int64"),
    (9223372036854775808, "json: cannot unmarshal number 9223372036854775808 into Go value of type int64"),
]


@pytest.mark.parametrize("value, expected", INT64_CASES)
def test_int64_is_read_like_the_gateway(value, expected):
    if isinstance(expected, int):
        assert jc.request_from_json("range", {"key": "YQ==", "limit": value}).limit == expected
    else:
        error = decode_error("range", {"key": "YQ==", "limit": value})
        assert (error.text, error.grpc_code) == (expected, 3)


def test_fractional_json_number_keeps_its_spelling():
    body = jc.parse_body(b'{"key":"YQ==","revision":2.0}')
    error = decode_error("range", body)
    assert error.text == "json: cannot unmarshal number 2.0 into Go value of type int64"


def test_bool_of_the_wrong_type():
    assert decode_error("range", {"keys_only": "true"}).text == (
        "json: cannot unmarshal string into Go value of type bool"
    )
    assert decode_error("range", {"keys_only": 1}).text == (
        "json: cannot unmarshal number into Go value of type bool"
    )


@pytest.mark.parametrize("value, expected", [
    ("DESCEND", SortOrder.DESCEND), (2, SortOrder.DESCEND), (None, SortOrder.NONE),
    ("BOGUS", 'unknown value "BOGUS" for enum etcdserverpb.RangeRequest_SortOrder'),
    ("2", 'unknown value "2" for enum etcdserverpb.RangeRequest_SortOrder'),
    ("descend", 'unknown value "descend" for enum etcdserverpb.RangeRequest_SortOrder'),
    (True, "json: cannot unmarshal bool into Go value of type etcdserverpb.RangeRequest_SortOrder"),
    # Documented difference: etcd keeps an unnamed number (and then sorts by
    # neither order); our enums cannot hold one, so the codec refuses it.
    (7, "unknown value 7 for enum etcdserverpb.RangeRequest_SortOrder"),
])
def test_enum_by_name_or_number(value, expected):
    if isinstance(expected, SortOrder):
        assert jc.request_from_json("range", {"key": "YQ==", "sort_order": value}).sort_order is expected
    else:
        assert decode_error("range", {"key": "YQ==", "sort_order": value}).text == expected


# -- names and oneofs -------------------------------------------------------------------------


def test_lower_camel_names_are_accepted_and_win():
    request = jc.request_from_json("range", {"key": "YQ==", "rangeEnd": "Yw==", "range_end": "Yg==",
                                             "countOnly": True, "bogus": 1})
    assert request == RangeRequest(key=b"a", range_end=b"c", count_only=True)
    # "TTL" and "ID" are their own JSON names; "ttl" is an unknown field.
    assert jc.request_from_json("lease_grant", {"ttl": "100", "id": "5"}) == LeaseGrantRequest()
    assert jc.request_from_json("lease_grant", {"TTL": "100", "ID": "-5"}) == LeaseGrantRequest(TTL=100, ID=-5)


def test_compare_operand_is_the_last_oneof_member_and_counts_only_for_its_target():
    # etcd 3.4.23: the VERSION compare against "value" compares with 0
    # (a mismatched oneof member is ignored), so EQUAL fails on a live key.
    compare = jc.request_from_json("txn", {"compare": [{"target": "VERSION", "key": "YQ==", "value": "eA=="}]})
    assert compare.compare == (Compare(target=CompareTarget.VERSION, key=b"a", operand=0),)
    both = jc.request_from_json("txn", {"compare": [{"key": "YQ==", "version": "1", "createRevision": "5"}]})
    assert both.compare[0].operand == 0  # the oneof holds create_revision, not version
    value = jc.request_from_json("txn", {"compare": [{"target": "VALUE", "key": "YQ=="}]})
    assert value.compare[0].operand == b""


def test_request_op_last_member_wins_and_empty_op_is_refused():
    txn = jc.request_from_json("txn", {"success": [
        {"request_put": {"key": "YQ==", "value": "eA=="}, "request_range": {"key": "YQ=="}},
    ]})
    assert txn.success == (PutRequest(key=b"a", value=b"x"),)
    error = decode_error("txn", {"success": [{}]})
    assert isinstance(error, KeyNotFoundError) and error.grpc_code == 3


def test_containers_of_the_wrong_type():
    assert decode_error("txn", {"compare": {}}).text == (
        "json: cannot unmarshal object into Go value of type []json.RawMessage"
    )
    assert decode_error("txn", {"compare": [5]}).text == (
        "json: cannot unmarshal number into Go value of type map[string]json.RawMessage"
    )
    # etcd 3.4.23 drops the connection on a null op; we refuse it.
    assert decode_error("txn", {"success": [None]}).grpc_code == 3


# -- bodies ---------------------------------------------------------------------------------------


def test_body_reading():
    assert jc.parse_body(b"") == {}
    assert jc.parse_body(b'{"key":"YQ=="}{"key":"YWI="}') == {"key": "YQ=="}  # first value only
    assert jc.parse_body(b'{"key":"YQ==","key":"YWI="}') == {"key": "YWI="}  # last duplicate wins
    with pytest.raises(InvalidRequestError) as info:
        jc.parse_body(b"[]")
    assert info.value.text == "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"
    with pytest.raises(InvalidRequestError) as info:
        jc.parse_body(b'{"key":"YQ==",}')
    assert info.value.text == "invalid character '}' looking for beginning of object key string"
    assert info.value.grpc_code == 3
    # Streaming endpoints report an undecodable body with code 2 (HTTP 500).
    with pytest.raises(StoreError) as info:
        jc.parse_body(b"xx", "/v3/watch")
    assert info.value.text == "invalid character 'x' looking for beginning of value"
    assert jc.error_to_json(info.value) == (
        500, {"error": info.value.text, "message": info.value.text, "code": 2},
    )


def test_paths():
    assert jc.PATHS["/v3/kv/lease/timetolive"] == jc.PATHS["/v3/lease/timetolive"] == "lease_timetolive"
    assert "/v3/maintenance/hashkv" not in jc.PATHS  # etcd 3.4.23: 404
    assert jc.path_of(jc.HashRequest()) == "/v3/maintenance/hash"
    with pytest.raises(ValueError):
        jc.path_of(jc.HashKVRequest())
    assert jc.request_from_json("/v3/watch", {"create_request": {"key": "YQ==", "filters": ["NOPUT"]}}) == (
        WatchCreateRequest(key=b"a", filters=(WatchFilter.NOPUT,))
    )
    assert jc.request_from_json("/v3/watch", {"cancel_request": {"watch_id": "3"}}) == jc.WatchCancelRequest(3)


def test_repeated_defaults_are_written():
    # NOPUT is enum value 0 and must still be written by name.
    assert jc.request_to_json(WatchCreateRequest(key=b"a", filters=(WatchFilter.NOPUT, WatchFilter.NODELETE))) == {
        "create_request": {"key": "YQ==", "filters": ["NOPUT", "NODELETE"]},
    }
    assert jc.response_to_json(jc.LeaseTimeToLiveResponse(keys=(b"",))) == {"header": {}, "keys": [""]}
    assert jc.response_to_json(jc.LeaseLeasesResponse(leases=(jc.LeaseStatus(ID=0),))) == {
        "header": {}, "leases": [{}],
    }


# -- responses: literals written by etcd 3.4.23 ---------------------------------------------------

ETCD_ANSWERS = [
    ("put", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"3",'
            '"raft_term":"2"},"prev_kv":{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1",'
            '"value":"MQ=="}}'),
    ("range", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"3",'
              '"raft_term":"2"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"2","version":"1",'
              '"value":"MQ=="}],"more":true,"count":"2"}'),
    ("range", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"3",'
              '"raft_term":"2"}}'),
    ("range", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"3",'
              '"raft_term":"2"},"kvs":[{"key":"YQ==","create_revision":"2","mod_revision":"3","version":"2"}],'
              '"count":"1"}'),
    ("deleterange", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
                    '"revision":"4","raft_term":"2"},"deleted":"1","prev_kvs":[{"key":"YQ==",'
                    '"create_revision":"2","mod_revision":"3","version":"2","value":"Mg=="}]}'),
    ("txn", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"5",'
            '"raft_term":"2"},"succeeded":true,"responses":[{"response_put":{"header":{"revision":"5"}}},'
            '{"response_range":{"header":{"revision":"5"},"kvs":[{"key":"YQ==","create_revision":"5",'
            '"mod_revision":"5","version":"1","value":"eA=="}],"count":"1"}},'
            '{"response_delete_range":{"header":{"revision":"5"}}},{"response_txn":{"header":{},'
            '"succeeded":true}}]}'),
    ("hash", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952","revision":"5",'
             '"raft_term":"2"},"hash":889762249}'),
    ("lease_grant", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
                    '"revision":"5","raft_term":"2"},"ID":"1000","TTL":"60"}'),
    ("lease_timetolive", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
                         '"revision":"6","raft_term":"2"},"ID":"1000","TTL":"59","grantedTTL":"60",'
                         '"keys":["bA=="]}'),
    ("lease_timetolive", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
                         '"revision":"6","raft_term":"2"},"ID":"999","TTL":"-1"}'),
    ("lease_leases", '{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
                     '"revision":"6","raft_term":"2"},"leases":[{"ID":"2324035564835251738"},{"ID":"77"}]}'),
    ("lease_keepalive", '{"result":{"header":{"cluster_id":"324952591200643719",'
                        '"member_id":"3319814642761637952","revision":"6","raft_term":"2"},"ID":"1000",'
                        '"TTL":"60"}}'),
    ("watch", '{"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
              '"revision":"3","raft_term":"2"},"watch_id":"7","created":true}}'),
    ("watch", '{"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
              '"raft_term":"2"},"canceled":true,"compact_revision":"3"}}'),
    ("watch", '{"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
              '"revision":"10","raft_term":"2"},"events":[{"type":"DELETE","kv":{"key":"dw==",'
              '"mod_revision":"10"}}]}}'),
    ("watch", '{"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
              '"revision":"4","raft_term":"2"},"watch_id":"7","events":[{"kv":{"key":"dw==",'
              '"create_revision":"4","mod_revision":"4","version":"1","value":"MQ=="}}]}}'),
    ("watch", '{"result":{"header":{"cluster_id":"324952591200643719","member_id":"3319814642761637952",'
              '"revision":"4","raft_term":"2"},"watch_id":"-1"}}'),
]


@pytest.mark.parametrize("kind, text", ETCD_ANSWERS)
def test_etcd_answers_reencode_exactly(kind, text):
    obj = json.loads(text)
    response = jc.response_from_json(kind, obj)
    if kind in jc.STREAMING_KINDS:
        assert jc.stream_item(response) == obj
        assert json.dumps(jc.stream_item(response), separators=(",", ":")) == text
    else:
        assert jc.response_to_json(response) == obj
        assert json.dumps(jc.response_to_json(response), separators=(",", ":")) == text  # field order too


def test_decoded_answers_are_the_dataclasses():
    txn = jc.response_from_json("txn", json.loads(ETCD_ANSWERS[5][1]))
    assert txn.succeeded and txn.header.revision == 5 and txn.header.raft_term == 2
    assert txn.responses[0] == PutResponse(header=ResponseHeader(revision=5))
    assert txn.responses[1].kvs == (KeyValue(b"a", 5, 5, 1, b"x"),)
    assert txn.responses[3] == TxnResponse(succeeded=True)
    event = jc.response_from_json("watch", json.loads(ETCD_ANSWERS[14][1])).events[0]
    assert event == Event(EventType.DELETE, KeyValue(b"w", mod_revision=10))


def test_response_encoding_omits_defaults_but_keeps_the_header():
    assert jc.response_to_json(RangeResponse()) == {"header": {}}
    assert jc.response_to_json(WatchResponse(events=(Event(EventType.PUT, KeyValue(b"")),))) == {
        "header": {}, "events": [{"kv": {}}],
    }


# -- errors -----------------------------------------------------------------------------------------

ETCD_ERRORS = [  # (error, HTTP status etcd 3.4.23 answered with)
    (FutureRevisionError(), 400),
    (CompactedError(3), 400),
    (LeaseNotFoundError(), 404),
    (LeaseExistsError(), 412),
    (LeaseTTLTooLargeError(), 400),
    (DuplicateKeyError(), 400),
    (KeyNotFoundError(), 400),
    (NoSpaceError(), 429),  # RESOURCE_EXHAUSTED, by grpc-gateway's table (not provoked)
]


@pytest.mark.parametrize("error, status", ETCD_ERRORS, ids=lambda e: type(e).__name__ if isinstance(e, StoreError) else str(e))
def test_error_bodies(error, status):
    got_status, body = jc.error_to_json(error)
    assert got_status == status
    assert body == {"error": error.text, "message": error.text, "code": error.grpc_code}
    back = jc.error_from_json(got_status, body)
    assert type(back) is type(error) and back.text == error.text and back.grpc_code == error.grpc_code


# -- request round trips ------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(20))
def test_generated_requests_round_trip(seed):
    revision = [1]
    generator = Generator(seed, StoreView(lambda: revision[0], lambda: 0))
    for _ in range(200):
        request = generator.next_request()
        revision[0] += 1
        body = jc.request_to_json(request)
        assert jc.request_from_json(jc.kind_of(request), json.loads(json.dumps(body))) == request, body


# -- live: a real etcd ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(30))
def test_every_etcd_answer_reencodes_exactly(etcd, seed):
    """Random sequences against etcd: ``GatewayClient.call`` asserts that each
    answer (and each error) re-encodes to exactly what etcd wrote."""
    state = {"revision": etcd.call(RangeRequest(key=b"a")).header.revision, "compact": 0}
    generator = Generator(seed, StoreView(lambda: state["revision"], lambda: state["compact"]))
    for _ in range(40):
        request = generator.next_request()
        try:
            response = etcd.call(request)
        except StoreError:
            continue
        if response.header.revision:
            state["revision"] = response.header.revision
        if isinstance(request, CompactionRequest):
            state["compact"] = request.revision


# (path, body as sent, "accept" or the error the gateway answers)
RAW_BODIES = [
    ("/v3/kv/range", b"", "etcdserver: key is not provided"),
    ("/v3/kv/range", b"not json", None),  # Go's wording; we only match status and code
    ("/v3/kv/range", b'{"key":"YQ==",}', "invalid character '}' looking for beginning of object key string"),
    ("/v3/kv/range", b'{"key":"YQ=="}{"key":"YWI="}', "accept"),
    ("/v3/kv/range", b'{"key":"YQ==","key":"YWI="}', "accept"),
    ("/v3/kv/range", b"[]", "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"),
    ("/v3/kv/range", b'{"key":"YWI"}', "illegal base64 data at input byte 0"),
    ("/v3/kv/range", b'{"key":"YR=="}', "accept"),
    ("/v3/kv/range", b'{"key":"YQ==","rangeEnd":"Yw==","limit":1}', "accept"),
    ("/v3/kv/range", b'{"key":"YQ==","range_end":"Yw==","limit":"1.5"}',
     "json: cannot unmarshal number 1.5 into Go value of type int64"),
    ("/v3/kv/range", b'{"key":"YQ==","revision":1e2}', None),
    ("/v3/kv/range", b'{"key":"YQ==","limit":" 1"}', "accept"),
    ("/v3/kv/range", b'{"key":"YQ==","limit":"01"}', "invalid character '1' after top-level value"),
    ("/v3/kv/range", b'{"key":"YQ==","keys_only":"true"}', "json: cannot unmarshal string into Go value of type bool"),
    ("/v3/kv/range", b'{"key":null,"limit":null,"revision":null,"keys_only":null,"sort_order":null}',
     "etcdserver: key is not provided"),
    ("/v3/kv/range", b'{"key":"YQ==","range_end":"Yw==","sort_order":2,"sort_target":"MOD"}', "accept"),
    ("/v3/kv/range", b'{"key":"YQ==","sort_target":"value"}',
     'unknown value "value" for enum etcdserverpb.RangeRequest_SortTarget'),
    ("/v3/kv/range", b'{"key":"YQ==","range_end":"Yw==","limit":"-5"}', "accept"),
    ("/v3/kv/range", b'{"key":"YQ==","limit":9223372036854775808}',
     "json: cannot unmarshal number 9223372036854775808 into Go value of type int64"),
    ("/v3/kv/txn", b'{"compare":[{"target":"VERSION","key":"YQ==","value":"eA=="}]}', "accept"),
    ("/v3/kv/txn", b'{"compare":[{"target":"VALUE","key":"YQ==","value":"MQ=="}]}', "accept"),
    ("/v3/kv/txn", b'{"compare":[{"key":"YQ=="}],"success":[{"request_range":{"key":"YQ=="}}]}', "accept"),
    ("/v3/kv/txn", b'{"compare":[{"result":"GREATER","target":"CREATE","key":"YQ==","create_revision":"0",'
                   b'"range_end":"AA=="}],"failure":[{"requestRange":{"key":"YQ==","countOnly":true}}]}', "accept"),
    ("/v3/kv/txn", b'{"compare":{}}', "json: cannot unmarshal object into Go value of type []json.RawMessage"),
    ("/v3/kv/txn", b'{"success":[{}]}', "etcdserver: key not found"),
]


@pytest.mark.parametrize("path, raw, expected", RAW_BODIES, ids=[f"body{i}" for i in range(len(RAW_BODIES))])
def test_raw_bodies_decode_like_the_gateway(etcd, path, raw, expected):
    """Our decoder accepts what the gateway accepts, meaning the same thing
    (etcd answers the re-encoded request exactly as it answers the raw body),
    and refuses what it refuses, with its message, code and status."""
    etcd.call(PutRequest(key=b"a", value=b"1"))
    etcd.call(PutRequest(key=b"ab", value=b"1"))
    kind = jc.PATHS[path]
    answer = etcd.post(path, raw)
    try:
        request = jc.request_from_json(kind, jc.parse_body(raw, kind))
    except StoreError as error:
        assert answer.status != 200, f"etcd accepted {raw!r}, we refused it: {error}"
        if expected is not None:
            assert error.text == expected
        assert jc.error_to_json(error)[0] == answer.status
        assert error.grpc_code == answer.body["code"]
        if expected is not None:
            assert jc.error_to_json(error)[1] == answer.body
        return
    if expected != "accept":
        # We decoded it; etcd's refusal must then come from the store, not the
        # decoder (e.g. "key is not provided"), and be the same for the
        # re-encoded request.
        assert answer.status != 200 and answer.body["message"] == expected
    again = etcd.post(path, jc.request_to_json(request))
    assert (again.status, again.body) == (answer.status, answer.body), (raw, jc.request_to_json(request))
    if answer.status == 200:
        decode_answer(kind, answer, request=request)


def test_unknown_enum_number_is_a_documented_refusal(etcd):
    """etcd 3.4.23 accepts ``"sort_order": 7`` (and sorts in neither order);
    our codec refuses it, because ``SortOrder`` cannot hold 7."""
    answer = etcd.post("/v3/kv/range", {"key": "YQ==", "sort_order": 7})
    assert answer.status == 200
    with pytest.raises(InvalidRequestError):
        jc.request_from_json("range", {"key": "YQ==", "sort_order": 7})


def test_error_answers_reencode_exactly(etcd):
    etcd.call(PutRequest(key=b"e", value=b"1"))
    cases = [
        RangeRequest(key=b"e", revision=10**9),
        PutRequest(key=b"", value=b"x"),
        PutRequest(key=b"e", lease=424242),
        PutRequest(key=b"e", value=b"x", ignore_value=True),
        PutRequest(key=b"nope", ignore_lease=True),
        TxnRequest(success=(PutRequest(key=b"e"), DeleteRangeRequest(key=b"e"))),
        LeaseGrantRequest(TTL=9_000_000_001, ID=99),
    ]
    for request in cases:
        with pytest.raises(StoreError):
            etcd.call(request)  # call() asserts error_to_json(error_from_json(...)) == etcd's body
    etcd.call(LeaseGrantRequest(TTL=60, ID=4242))
    with pytest.raises(LeaseExistsError):
        etcd.call(LeaseGrantRequest(TTL=60, ID=4242))


def test_compare_results_and_targets_mean_the_same(etcd):
    """Every compare result and target, encoded by us, evaluated by etcd as
    the Compare dataclass says."""
    put = etcd.call(PutRequest(key=b"cmp", value=b"m"))
    revision = put.header.revision
    for target, operand, actual in (
        (CompareTarget.VALUE, b"m", b"m"), (CompareTarget.VERSION, 1, 1),
        (CompareTarget.CREATE, revision, revision), (CompareTarget.MOD, revision, revision),
        (CompareTarget.LEASE, 0, 0),
    ):
        for result, holds in ((CompareResult.EQUAL, True), (CompareResult.NOT_EQUAL, False),
                              (CompareResult.GREATER, False), (CompareResult.LESS, False)):
            txn = TxnRequest(compare=(Compare(result=result, target=target, key=b"cmp", operand=operand),))
            assert etcd.call(txn).succeeded is holds, (target, result, actual)
