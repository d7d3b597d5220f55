"""The gateway's HTTP behaviour next to a real etcd 3.4.23's: the same raw
requests to both, the answers compared — status, the headers a client
reads, and the body (JSON compared after normalizing what identifies a
server: ``cluster_id``, ``member_id``, ``raft_term``, and revisions, taken
relative to each server's revision when the case began).

Covers what the KV run (``test_kv_over_http_vs_etcd``) does not: paths and
methods outside the API, bodies that do not decode, and the two streams —
what ``/v3/watch`` sends first, how IDs are numbered per stream, cancel and
progress requests, refusals, what an empty stream gets (nothing at all);
what ``/v3/lease/keepalive`` sends for known and unknown leases and how it
ends.

Differences allowed, each deliberate (``consensus.gateway.app``):
etcd adds CORS headers and answers ``OPTIONS`` with 200; ours has neither.
Neither is compared.
"""
from __future__ import annotations

import json

import pytest

from consensus.mvcc.api import RangeRequest
from tests.differential.etcd import GatewayClient
from tests.differential.http_side import node_on_tmpfs
from tests.gateway.node_process import Stream, request

QUIET = 0.4  # how long to wait for a chunk that should not come
_REVISIONS = {"revision", "create_revision", "mod_revision", "compact_revision"}
_IDENTITY = {"cluster_id", "member_id", "raft_term"}


@pytest.fixture(scope="module")
def ours():
    with node_on_tmpfs() as node:
        yield node.host, node.port


@pytest.fixture(scope="module")
def theirs(etcd_server):
    return etcd_server.host, etcd_server.client_port


def revision_of(server) -> int:
    client = GatewayClient(*server)
    try:
        return client.call(RangeRequest(key=b"\x00", range_end=b"\x00", count_only=True)).header.revision
    finally:
        client.close()


def normalize(value, base: int):
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if key in _IDENTITY:
                continue
            if key in _REVISIONS and isinstance(item, str):
                item = str(int(item) - base)
            out[key] = normalize(item, base)
        return out
    if isinstance(value, list):
        return [normalize(item, base) for item in value]
    return value


def seen_headers(headers: dict[str, str]) -> dict[str, str | None]:
    return {name: headers.get(name) for name in ("content-type", "grpc-metadata-content-type", "x-content-type-options")}


# -- unary ------------------------------------------------------------------------------------

RAW = [
    ("POST", "/v3/nope", b"{}"),
    ("POST", "/v3/kv/range/", b"{}"),
    ("POST", "/v3/", b"{}"),
    ("POST", "/v3/maintenance/defragment/x", b"{}"),
    ("GET", "/v3/kv/range", b""),
    ("GET", "/v3/nope", b""),
    ("PUT", "/v3/kv/put", b"{}"),
    ("DELETE", "/v3/watch", b""),
    ("POST", "/v3/kv/range", b""),
    ("POST", "/v3/kv/range", b"{}"),
    ("POST", "/v3/kv/range", b'{"key":"YQ=="'),
    ("POST", "/v3/kv/range", b'{"key":tr'),
    ("POST", "/v3/kv/put", b"null"),
    ("POST", "/v3/kv/put", b'"x"'),
    ("POST", "/v3/kv/put", b'{"key":"YQ==","value":7}'),
    ("POST", "/v3/kv/put", b'{"key":"YQ==","lease":"99"}'),
    ("POST", "/v3/kv/deleterange", b'{"key":"YQ==","range_end":"YQ"}'),
    ("POST", "/v3/kv/txn", b'{"success":[{}]}'),
    ("POST", "/v3/kv/compaction", b'{"revision":"999999"}'),
    ("POST", "/v3/lease/grant", b'{"TTL":"9000000001"}'),
    ("POST", "/v3/lease/revoke", b'{"ID":"424242"}'),
    ("POST", "/v3/kv/lease/timetolive", b'{"ID":"424242"}'),
    ("POST", "/v3/lease/keepalive", b'{"ID":5'),
    ("POST", "/v3/lease/keepalive", b"null"),
    # Not ``{"ID":"424242"} null``: etcd answers the second (empty) request
    # or not depending on whether its stream notices the end of the body
    # first, so the count of answers is a race on etcd's side.
    ("POST", "/v3/lease/keepalive", b"[]"),
    ("POST", "/v3/lease/keepalive", b'{"ID":"x"}'),
    ("POST", "/v3/watch", b"junk"),
    ("POST", "/v3/watch", b'{"create_request":{"key":7}}'),
    ("POST", "/v3/watch", b'{"create_request":[]}'),
    ("POST", "/v3/kv/range?key=YQ==", b'{"key":"Yg=="}'),
]


@pytest.mark.parametrize("method, path, body", RAW, ids=[f"{m} {p} {b[:20]!r}" for m, p, b in RAW])
def test_same_answer(ours, theirs, method, path, body):
    answers = []
    for server in (ours, theirs):
        base = revision_of(server)
        answer = request(*server, path, body, method=method)
        try:
            # one JSON value, or a stream's lines
            payload = [normalize(json.loads(line), base) for line in answer.body.splitlines()]
        except ValueError:
            payload = answer.body
        answers.append((answer.status, seen_headers(answer.headers), payload))
    assert answers[0] == answers[1]


def test_what_differs_on_purpose(ours, theirs):
    assert request(*theirs, "/v3/kv/range", b"", method="OPTIONS").status == 200
    assert request(*ours, "/v3/kv/range", b"", method="OPTIONS").status == 405
    assert request(*theirs, "/v3/kv/range", b'{"key":"YQ=="}').headers["access-control-allow-origin"] == "*"
    assert "access-control-allow-origin" not in request(*ours, "/v3/kv/range", b'{"key":"YQ=="}').headers


# -- streams ------------------------------------------------------------------------------------


def stream_answer(server, path: str, body: str, *, lines: int, after=None):
    """Open a stream, read ``lines`` chunks (calling ``after(server)`` once
    the first is in, to make something happen), then check nothing more
    comes; the status, headers and normalized lines."""
    base = revision_of(server)
    stream = Stream(*server, path, body)
    try:
        got = []
        for i in range(lines):
            chunk = stream.next_chunk()
            assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1, chunk  # one line per chunk
            got.append(normalize(json.loads(chunk), base))
            if i == 0 and after is not None:
                after(server)
        try:
            extra = stream.next_chunk(timeout=QUIET)
        except TimeoutError:
            tail = "open"
        except EOFError:
            tail = "ended"
        else:
            raise AssertionError(f"an unexpected chunk: {extra!r}")
        return stream.status, seen_headers(stream.headers), got, tail
    finally:
        stream.close()


def put(server, key: str, value: str) -> None:
    assert request(*server, "/v3/kv/put", {"key": key, "value": value}).status == 200


def same_stream(ours, theirs, path, body, **kwargs):
    a = stream_answer(ours, path, body, **kwargs)
    b = stream_answer(theirs, path, body, **kwargs)
    assert a == b
    return a


def test_watch_created_then_events(ours, theirs):
    def writes(server):
        put(server, "d2F0Y2gvYQ==", "MQ==")  # watch/a
        put(server, "b3RoZXI=", "eA==")  # other
        put(server, "d2F0Y2gvYg==", "Mg==")  # watch/b
        assert request(*server, "/v3/kv/deleterange", {"key": "d2F0Y2gv", "range_end": "d2F0Y2gw"}).status == 200

    status, headers, lines, tail = same_stream(
        ours, theirs, "/v3/watch",
        '{"create_request":{"key":"d2F0Y2gv","range_end":"d2F0Y2gw","prev_kv":true}}',
        lines=4, after=writes,
    )
    assert status == 200 and tail == "open" and lines[0]["result"]["created"] is True


def test_watch_ids_cancel_progress_and_refusals(ours, theirs):
    body = "".join([
        '{"create_request":{"key":"YQ=="}}',
        '{"create_request":{"key":"Yg=="}}',
        '{"create_request":{"key":"Yw==","watch_id":"1"}}',
        '{"create_request":{"key":"ZA==","watch_id":"-5"}}',
        '{"create_request":{"key":"Yg==","range_end":"YQ=="}}',
        '{"create_request":{"key":""}}',
        '{}',
        '{"cancel_request":{"watch_id":"1"}}',
        '{"cancel_request":{"watch_id":"77"}}',
        '{"progress_request":{}}',
    ])
    same_stream(ours, theirs, "/v3/watch", body, lines=8)


def test_a_null_watch_request_asks_for_nothing(ours, theirs):
    same_stream(ours, theirs, "/v3/watch", 'null {"create_request":{"key":"YQ=="}}', lines=1)


def test_watch_requests_after_a_bad_one_are_not_read(ours, theirs):
    same_stream(ours, theirs, "/v3/watch", '{"create_request":{"key":"YQ=="}} junk {"create_request":{"key":"Yg=="}}',
                lines=1)


@pytest.mark.parametrize("body", ["", "{}", '{"create_request":null}', "  \n "])
def test_a_watch_stream_with_nothing_to_say_sends_nothing(ours, theirs, body):
    for server in (ours, theirs):
        stream = Stream(*server, "/v3/watch", body)
        try:
            assert not stream.wait_head(timeout=QUIET)
        finally:
            stream.close()


def test_keepalive_stream(ours, theirs):
    for server in (ours, theirs):
        request(*server, "/v3/lease/revoke", {"ID": "31337"})
        assert request(*server, "/v3/lease/grant", {"ID": "31337", "TTL": "60"}).status == 200
    status, headers, lines, tail = same_stream(
        ours, theirs, "/v3/lease/keepalive", '{"ID":"31337"}\n{"ID":31337} {"ID":"424242"}', lines=3)
    assert tail == "ended" and [line["result"].get("TTL") for line in lines] == ["60", "60", None]


def test_keepalive_stream_edges(ours, theirs):
    same_stream(ours, theirs, "/v3/lease/keepalive", "", lines=0)
    same_stream(ours, theirs, "/v3/lease/keepalive", '{"ID":"424242"} junk {"ID":"1"}', lines=1)
