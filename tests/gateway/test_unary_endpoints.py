"""Every unary endpoint of the gateway through HTTP against a running node:
answers (decoded with json_codec and re-encoded byte for byte, so each is
exactly what the codec writes), error bodies, and what the gateway answers
outside its routes. The same requests against a real etcd:
``tests/differential/test_gateway_vs_etcd.py``."""
from __future__ import annotations

import json

import pytest

from consensus.mvcc import json_codec
from consensus.mvcc.api import (
    CompactedError,
    CompactionRequest,
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    FutureRevisionError,
    HashKVRequest,
    HashRequest,
    KeyNotProvidedError,
    LeaseGrantRequest,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from consensus.mvcc.json_codec import LeaseLeasesRequest
from tests.differential.etcd import GatewayClient, decode_answer
from tests.gateway.node_process import request


@pytest.fixture(scope="module")
def client(node):
    c = GatewayClient(node.host, node.port)
    yield c
    c.close()


def status_of(node) -> dict:
    answer = request(node.host, node.port, "/v3/maintenance/status")
    assert answer.status == 200
    return answer.json()


def test_kv_put_range_txn_delete(client, node):
    put = client.call(PutRequest(key=b"kv/a", value=b"1"))
    again = client.call(PutRequest(key=b"kv/a", value=b"2", prev_kv=True))
    assert again.header.revision == put.header.revision + 1
    assert again.prev_kv.value == b"1" and again.prev_kv.mod_revision == put.header.revision

    got = client.call(RangeRequest(key=b"kv/", range_end=b"kv0"))
    assert [(kv.key, kv.value, kv.version) for kv in got.kvs] == [(b"kv/a", b"2", 2)] and got.count == 1
    old = client.call(RangeRequest(key=b"kv/a", revision=put.header.revision))
    assert old.kvs[0].value == b"1"
    serializable = client.call(RangeRequest(key=b"kv/a", serializable=True))
    assert serializable.kvs[0].value == b"2"

    cas = TxnRequest(
        compare=(Compare(result=CompareResult.EQUAL, target=CompareTarget.VALUE, key=b"kv/a", operand=b"2"),),
        success=(PutRequest(key=b"kv/a", value=b"3"),),
        failure=(RangeRequest(key=b"kv/a"),),
    )
    first = client.call(cas)
    assert first.succeeded and first.header.revision == again.header.revision + 1
    second = client.call(cas)
    assert not second.succeeded and second.responses[0].kvs[0].value == b"3"

    deleted = client.call(DeleteRangeRequest(key=b"kv/", range_end=b"kv0", prev_kv=True))
    assert deleted.deleted == 1 and deleted.prev_kvs[0].value == b"3"
    assert client.call(RangeRequest(key=b"kv/a")).kvs == ()


def test_headers_carry_the_members_identity(client, node):
    status = status_of(node)
    put = client.call(PutRequest(key=b"id", value=b"x"))
    assert str(put.header.member_id) == status["header"]["member_id"] == status["leader"]
    assert str(put.header.raft_term) == status["raftTerm"]
    assert put.header.cluster_id == int(status["header"].get("cluster_id", "0"))


def test_compaction_and_revision_errors(client):
    first = client.call(PutRequest(key=b"c", value=b"1"))
    client.call(PutRequest(key=b"c", value=b"2"))
    client.call(CompactionRequest(revision=first.header.revision + 1, physical=True))
    with pytest.raises(CompactedError):
        client.call(RangeRequest(key=b"c", revision=first.header.revision))
    with pytest.raises(FutureRevisionError):
        client.call(RangeRequest(key=b"c", revision=first.header.revision + 100))
    with pytest.raises(CompactedError):
        client.call(CompactionRequest(revision=first.header.revision))


def test_leases_on_both_paths(client, node):
    granted = client.call(LeaseGrantRequest(TTL=60, ID=4242))
    assert (granted.ID, granted.TTL) == (4242, 60)
    client.call(PutRequest(key=b"leased", value=b"v", lease=4242))
    for path in ("/v3/lease/timetolive", "/v3/kv/lease/timetolive"):
        answer = client.post(path, {"ID": "4242", "keys": True})
        ttl = decode_answer("lease_timetolive", answer)
        assert ttl.grantedTTL == 60 and 55 <= ttl.TTL <= 60 and ttl.keys == (b"leased",)
    for path in ("/v3/lease/leases", "/v3/kv/lease/leases"):
        leases = decode_answer("lease_leases", client.post(path, {}))
        assert 4242 in [status.ID for status in leases.leases]
    client.post("/v3/kv/lease/revoke", {"ID": "4242"})
    assert client.call(RangeRequest(key=b"leased")).kvs == ()
    assert client.call(LeaseTimeToLiveRequest(ID=4242)).TTL == -1
    with pytest.raises(LeaseNotFoundError):
        client.call(LeaseRevokeRequest(ID=4242))
    with pytest.raises(LeaseNotFoundError):
        client.call(PutRequest(key=b"leased", lease=4242))
    assert 4242 not in [status.ID for status in client.call(LeaseLeasesRequest()).leases]


def test_hash_and_the_hashkv_extension(client, node):
    client.call(PutRequest(key=b"h", value=b"1"))
    whole = client.call(HashRequest())
    answer = client.post("/v3/maintenance/hashkv", {"revision": str(whole.header.revision)})
    at = decode_answer("hashkv", answer)
    assert at.hash == whole.hash and at.header.revision == whole.header.revision
    assert decode_answer("hashkv", client.post("/v3/maintenance/hashkv", {})).hash == whole.hash
    client.call(PutRequest(key=b"h", value=b"2"))
    moved = decode_answer("hashkv", client.post("/v3/maintenance/hashkv", {"revision": "0"}))
    assert moved.hash != whole.hash
    assert decode_answer("hashkv", client.post("/v3/maintenance/hashkv", {"revision": str(whole.header.revision)})).hash == whole.hash
    future = client.post("/v3/maintenance/hashkv", {"revision": str(moved.header.revision + 5)})
    assert (future.status, future.body["code"]) == (400, 11)
    assert future.body["error"] == "etcdserver: mvcc: required revision is a future revision"


def test_status(node, client):
    answer = request(node.host, node.port, "/v3/maintenance/status", b"")
    assert answer.status == 200
    assert answer.headers["content-type"] == "application/json"
    assert answer.headers["grpc-metadata-content-type"] == "application/grpc"
    body = answer.json()
    assert list(body) == [
        "header", "version", "dbSize", "leader", "raftIndex", "raftTerm", "raftAppliedIndex", "dbSizeInUse"
    ]
    assert body["version"] == "3.4.0" and body["leader"] == body["header"]["member_id"]
    assert int(body["raftAppliedIndex"]) <= int(body["raftIndex"])
    revision = client.call(PutRequest(key=b"s", value=b"1")).header.revision
    assert int(status_of(node)["header"]["revision"]) >= revision
    assert answer.headers["x-config-center-watchers"].isdigit()


@pytest.mark.parametrize("path, body, status, code, message", [
    ("/v3/kv/range", b"{}", 400, 3, "etcdserver: key is not provided"),
    ("/v3/kv/put", b'{"key":', 400, 3, "unexpected EOF"),
    ("/v3/kv/put", b"[1]", 400, 3, "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"),
    ("/v3/kv/range", b'{"key":"YQ","limit":"x"}', 400, 3, "illegal base64 data at input byte 0"),
    ("/v3/kv/range", b'{"key":"YQ==","limit":true}', 400, 3, "json: cannot unmarshal bool into Go value of type int64"),
    ("/v3/lease/revoke", b'{"ID":"99"}', 404, 5, "etcdserver: requested lease not found"),
    ("/v3/lease/keepalive", b"{nope", 500, 2, "invalid character 'n' looking for beginning of object key string"),
    ("/v3/watch", b"7", 500, 2, "json: cannot unmarshal number into Go value of type map[string]json.RawMessage"),
])
def test_error_bodies(node, path, body, status, code, message):
    answer = request(node.host, node.port, path, body)
    assert answer.status == status
    assert answer.headers["content-type"] == "application/json"
    assert answer.json() == {"error": message, "message": message, "code": code}
    assert list(answer.json()) == ["error", "message", "code"]


def test_unknown_paths_and_methods(node):
    for path in ("/v3/nope", "/v3/kv/range/", "/v3/maintenance/nothing", "/v3/"):
        answer = request(node.host, node.port, path)
        assert (answer.status, answer.body) == (404, b"Not Found\n")
        assert answer.headers["content-type"] == "text/plain; charset=utf-8"
    for method in ("GET", "PUT", "DELETE", "OPTIONS"):
        answer = request(node.host, node.port, "/v3/kv/put", b"" if method != "PUT" else b"{}", method=method)
        assert (answer.status, answer.body) == (405, b"Method Not Allowed\n")
    # Everything outside /v3/ is still Django's.
    assert request(node.host, node.port, "/health", None, method="GET").status == 200


def test_a_body_above_the_limit_is_refused_unread(node):
    answer = request(node.host, node.port, "/v3/kv/put", b'{"key":"' + b"A" * 4_300_000 + b'"}')
    assert answer.status == 429
    assert answer.json()["code"] == 8
    assert answer.json()["error"].startswith("grpc: received message larger than max (")


def test_query_strings_are_ignored(client, node):
    client.call(PutRequest(key=b"q", value=b"1"))
    answer = request(node.host, node.port, "/v3/kv/range?key=eA==", {"key": "cQ=="})
    assert answer.status == 200 and answer.json()["kvs"][0]["value"] == "MQ=="
