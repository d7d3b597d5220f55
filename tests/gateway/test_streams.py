"""``/v3/watch`` and ``/v3/lease/keepalive`` through HTTP against a running
node: what is sent first, events in order, cancel, progress, refusals, and
that a client that goes away leaves no watch behind in the member's hub
(``x-config-center-watchers`` on ``/v3/maintenance/status``)."""
from __future__ import annotations

import json
import time

import pytest

from consensus.mvcc import json_codec
from consensus.mvcc.api import EventType, LeaseGrantRequest, PutRequest, DeleteRangeRequest, WatchResponse
from tests.differential.etcd import GatewayClient
from tests.gateway.node_process import Stream, request

B = json_codec.base64_encode


@pytest.fixture(scope="module")
def client(node):
    c = GatewayClient(node.host, node.port)
    yield c
    c.close()


def watchers(node) -> int:
    return int(request(node.host, node.port, "/v3/maintenance/status").headers["x-config-center-watchers"])


def wait_for_watchers(node, expected: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (count := watchers(node)) != expected:
        assert time.monotonic() < deadline, f"the hub holds {count} watchers, expected {expected}"
        time.sleep(0.05)


def watch_line(stream: Stream, timeout: float | None = None) -> WatchResponse:
    """The next line, which must be exactly what the codec writes for it."""
    chunk = stream.next_chunk(timeout)
    assert chunk.endswith(b"\n") and chunk.count(b"\n") == 1, chunk  # one line per chunk
    obj = json.loads(chunk)
    response = json_codec.response_from_json("watch", obj)
    assert json_codec.stream_item(response) == obj
    return response


def create(key: bytes, **fields) -> str:
    body = {"key": B(key), **{k: (B(v) if isinstance(v, bytes) else v) for k, v in fields.items()}}
    return json.dumps({"create_request": body})


def test_create_events_in_order_then_cancel(node, client):
    base = client.call(PutRequest(key=b"w/seed", value=b"0")).header.revision
    stream = Stream(node.host, node.port, "/v3/watch", create(b"w/", range_end=b"w0", prev_kv=True))
    try:
        created = watch_line(stream)
        assert stream.status == 200
        assert stream.headers["content-type"] == "application/json"
        assert stream.headers["transfer-encoding"] == "chunked"
        assert created.created and created.watch_id == 0 and created.header.revision == base
        assert created.header.member_id != 0
        client.call(PutRequest(key=b"w/a", value=b"1"))
        client.call(PutRequest(key=b"w/a", value=b"2"))
        client.call(PutRequest(key=b"other", value=b"x"))
        client.call(DeleteRangeRequest(key=b"w/", range_end=b"w0"))
        responses = [watch_line(stream) for _ in range(3)]
        events = [(e.type, e.kv.key, e.kv.value, e.kv.mod_revision) for r in responses for e in r.events]
        assert events == [
            (EventType.PUT, b"w/a", b"1", base + 1),
            (EventType.PUT, b"w/a", b"2", base + 2),
            (EventType.DELETE, b"w/a", b"", base + 4),
            (EventType.DELETE, b"w/seed", b"", base + 4),
        ]
        assert responses[1].events[0].prev_kv.value == b"1"
        assert [r.header.revision for r in responses] == [base + 1, base + 2, base + 4]
        with pytest.raises(TimeoutError):
            stream.next_chunk(timeout=0.3)
    finally:
        stream.close()


def test_cancel_and_progress_requests_in_the_body(node, client):
    put = client.call(PutRequest(key=b"p/a", value=b"1"))
    body = (create(b"p/a", start_revision=put.header.revision)
            + '{"cancel_request":{"watch_id":"0"}}'
            + '{"cancel_request":{"watch_id":"7"}}'
            + '{"progress_request":{}}')
    stream = Stream(node.host, node.port, "/v3/watch", body)
    try:
        created = watch_line(stream)
        replayed = watch_line(stream)
        canceled = watch_line(stream)
        progress = watch_line(stream)
        assert created.created and created.watch_id == 0
        assert [e.kv.value for e in replayed.events] == [b"1"]
        assert canceled.canceled and canceled.watch_id == 0 and not canceled.created
        # nothing for the unknown watch 7; the progress response is for no watch
        assert progress.watch_id == -1 and not progress.events and progress.header.revision >= put.header.revision
        with pytest.raises(TimeoutError):
            stream.next_chunk(timeout=0.3)
    finally:
        stream.close()


def test_watch_ids_are_per_stream(node, client):
    body = create(b"a") + create(b"b") + create(b"c", watch_id=1) + create(b"d", watch_id=9) + create(b"e", range_end=b"a")
    first = Stream(node.host, node.port, "/v3/watch", body)
    second = Stream(node.host, node.port, "/v3/watch", create(b"a"))
    try:
        lines = [watch_line(first) for _ in range(5)]
        assert [(r.watch_id, r.created, r.canceled) for r in lines] == [
            (0, True, False), (1, True, False), (-1, True, True), (9, True, False), (-1, True, True),
        ]
        assert lines[2].cancel_reason == "mvcc: duplicate watch ID provided on the WatchStream"
        assert lines[4].cancel_reason == "mvcc: watcher range is empty"
        assert watch_line(second).watch_id == 0  # its own numbering
        client.call(PutRequest(key=b"a", value=b"x"))
        assert watch_line(first).watch_id == 0 and watch_line(second).watch_id == 0
    finally:
        first.close()
        second.close()


def test_a_compacted_start_revision(node, client):
    old = client.call(PutRequest(key=b"cmp", value=b"1")).header.revision
    now = client.call(PutRequest(key=b"cmp", value=b"2")).header.revision
    client.post("/v3/kv/compaction", {"revision": str(now)})
    stream = Stream(node.host, node.port, "/v3/watch", create(b"cmp", start_revision=old))
    try:
        assert watch_line(stream).created
        compacted = watch_line(stream)
        assert compacted.canceled and compacted.compact_revision >= now
    finally:
        stream.close()


def test_a_client_that_goes_away_leaves_no_watcher(node, client):
    wait_for_watchers(node, 0)
    streams = [Stream(node.host, node.port, "/v3/watch", create(b"gone/") + create(b"gone/x")) for _ in range(3)]
    try:
        for stream in streams:
            assert watch_line(stream).created and watch_line(stream).created
        assert watchers(node) == 6
    finally:
        for stream in streams:
            stream.close()
    wait_for_watchers(node, 0)
    # and the hub still serves new watches
    again = Stream(node.host, node.port, "/v3/watch", create(b"gone/"))
    try:
        assert watch_line(again).watch_id == 0
        client.call(PutRequest(key=b"gone/", value=b"back"))
        assert watch_line(again).events[0].kv.value == b"back"
    finally:
        again.close()
    wait_for_watchers(node, 0)


def test_nothing_is_sent_before_the_first_response(node):
    for body in ("", "{}", '{"create_request":null}'):
        stream = Stream(node.host, node.port, "/v3/watch", body)
        try:
            assert not stream.wait_head(timeout=0.5), "etcd sends not even a status line here"
        finally:
            stream.close()
    wait_for_watchers(node, 0)


def test_a_bad_request_after_the_first_only_stops_the_reading(node, client):
    stream = Stream(node.host, node.port, "/v3/watch", create(b"bad") + " junk " + create(b"never"))
    try:
        assert watch_line(stream).created
        with pytest.raises(TimeoutError):
            stream.next_chunk(timeout=0.3)
        assert watchers(node) == 1
    finally:
        stream.close()
    wait_for_watchers(node, 0)


def test_keepalive_stream(node, client):
    lease = client.call(LeaseGrantRequest(TTL=30, ID=777))
    stream = Stream(node.host, node.port, "/v3/lease/keepalive", '{"ID":"777"} {"ID":777}{"ID":"12345"}')
    chunks = stream.rest()
    stream.close()
    assert stream.status == 200 and stream.headers["grpc-metadata-content-type"] == "application/grpc"
    lines = [json.loads(chunk) for chunk in chunks]
    assert all(chunk.endswith(b"\n") for chunk in chunks) and len(chunks) == 3
    results = [json_codec.response_from_json("lease_keepalive", line) for line in lines]
    assert [(r.ID, r.TTL) for r in results] == [(777, 30), (777, 30), (12345, 0)]
    assert all(json_codec.stream_item(r) == line for r, line in zip(results, lines))
    assert results[0].header.revision == lease.header.revision and results[0].header.member_id != 0


def test_keepalive_stream_edges(node):
    empty = Stream(node.host, node.port, "/v3/lease/keepalive", "")
    assert empty.rest() == [] and empty.status == 200
    assert "grpc-metadata-content-type" not in empty.headers
    empty.close()
    answer = request(node.host, node.port, "/v3/lease/keepalive", b'{"ID":"x"}')
    assert answer.status == 500
    assert answer.json() == {"error": "invalid character 'x' looking for beginning of value",
                             "message": "invalid character 'x' looking for beginning of value", "code": 2}
    stream = Stream(node.host, node.port, "/v3/lease/keepalive", '{"ID":"5"} junk {"ID":"5"}')
    assert len(stream.rest()) == 1
    stream.close()
