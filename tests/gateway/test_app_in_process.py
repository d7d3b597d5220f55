"""``GatewayApp`` driven directly as an ASGI application, over a stand-in
store: the outcomes a real one-member node does not produce on demand
(no leader, a proposal that times out, a store that hangs, a member that
is not running), the authorization seam, and the extra-route seam."""
from __future__ import annotations

import asyncio
import ast
import json
from pathlib import Path

import pytest

from consensus.gateway import AllowEveryone, ExtraRoute, GatewayApp, InvalidAuthTokenError, PermissionDeniedError
from consensus.etcd_api.authorization import Authorizer, UserEmptyError
from consensus.mvcc.api import (
    LeaseKeepAliveResponse,
    LeaseNotFoundError,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    StoreError,
    WatchCreateRequest,
)
from consensus.node import NotLeaderError

REPO = Path(__file__).resolve().parents[2]


class FakeHub:
    def __len__(self):
        return 0


class FakeStore:
    """Answers puts and ranges, or fails as told (``fail``: an exception to
    raise, or ``"hang"``)."""

    def __init__(self):
        self.fail = None
        self.calls = []
        self.hub = FakeHub()
        self.keepalive_script = []

    def header(self):
        return ResponseHeader(cluster_id=3, member_id=7, revision=5, raft_term=2)

    async def _misbehave(self):
        if self.fail == "hang":
            await asyncio.sleep(3600)
        if self.fail is not None:
            raise self.fail

    async def put(self, request):
        self.calls.append(request)
        await self._misbehave()
        return PutResponse(header=ResponseHeader(revision=5))

    async def range(self, request):
        self.calls.append(request)
        await self._misbehave()
        return RangeResponse(header=ResponseHeader(revision=5))

    async def lease_keepalive(self, request):
        outcome = self.keepalive_script.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return LeaseKeepAliveResponse(header=self.header(), ID=request.ID, TTL=outcome)

    def watch(self, request):
        raise AssertionError("the authorizer refuses every watch in these tests")


async def call(app, path, body=b"{}", *, method="POST", headers=(), until_disconnect=None):
    """Run one request; returns (status, headers, [body chunks], ended)."""
    sent = []
    disconnect = asyncio.Event()
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await disconnect.wait()
        return {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "path": path, "method": method, "headers": list(headers)}
    task = asyncio.create_task(app(scope, receive, send))
    if until_disconnect is not None:
        await asyncio.sleep(until_disconnect)
        disconnect.set()
    await asyncio.wait_for(task, 10)
    start = next(m for m in sent if m["type"] == "http.response.start")
    chunks = [m["body"] for m in sent if m["type"] == "http.response.body"]
    ended = bool(sent) and sent[-1]["type"] == "http.response.body" and not sent[-1].get("more_body", False)
    return start["status"], dict(start["headers"]), chunks, ended


def run(coro):
    return asyncio.run(coro)


def error_body(message, code):
    return json.dumps({"error": message, "message": message, "code": code}, separators=(",", ":")).encode()


@pytest.mark.parametrize("failure, status, body", [
    (NotLeaderError("leadership lost", 0), 503, error_body("etcdserver: no leader", 14)),
    (TimeoutError(), 503, error_body("etcdserver: request timed out", 14)),
    (LeaseNotFoundError(), 404, error_body("etcdserver: requested lease not found", 5)),
    (RuntimeError("a bug"), 500, error_body("etcdserver: internal error (logged on the node)", 13)),
])
def test_store_failures_become_etcds_errors(failure, status, body):
    store = FakeStore()
    store.fail = failure
    app = GatewayApp(lambda: store)
    got_status, headers, chunks, ended = run(call(app, "/v3/kv/put", b'{"key":"YQ=="}'))
    assert (got_status, b"".join(chunks), ended) == (status, body, True)
    assert headers[b"content-type"] == b"application/json" and b"grpc-metadata-content-type" not in headers


def test_a_store_that_hangs_is_cut_off_by_the_request_timeout():
    store = FakeStore()
    store.fail = "hang"
    app = GatewayApp(lambda: store, request_timeout=0.2)
    status, _, chunks, _ = run(call(app, "/v3/kv/range", b'{"key":"YQ=="}'))
    assert (status, b"".join(chunks)) == (503, error_body("etcdserver: request timed out", 14))


def test_no_store_running():
    app = GatewayApp(lambda: None)
    for path in ("/v3/kv/range", "/v3/maintenance/status", "/v3/watch"):
        status, _, chunks, _ = run(call(app, path, b'{"key":"YQ==","create_request":{"key":"YQ=="}}'))
        assert status == 503 and json.loads(b"".join(chunks))["code"] == 14


def test_success_is_stamped_with_the_members_identity():
    store = FakeStore()
    status, headers, chunks, _ = run(call(GatewayApp(lambda: store), "/v3/kv/put", b'{"key":"YQ=="}'))
    assert status == 200
    assert b"".join(chunks) == b'{"header":{"cluster_id":"3","member_id":"7","revision":"5","raft_term":"2"}}'
    assert headers[b"content-length"] == str(len(b"".join(chunks))).encode()
    assert headers[b"grpc-metadata-content-type"] == b"application/grpc"


class Recording(Authorizer):
    """Knows one token; refuses writes to keys under ``secret/``."""

    def __init__(self):
        self.seen = []

    async def authenticate(self, token):
        if token is None:
            raise UserEmptyError()
        if token != "good-token":
            raise InvalidAuthTokenError()
        return "alice"

    def authorize(self, user, kind, request):
        self.seen.append((user, kind, request))
        key = getattr(request, "key", b"")
        if key.startswith(b"secret/"):
            raise PermissionDeniedError()


def test_unary_requests_are_authenticated_then_authorized():
    store, authorizer = FakeStore(), Recording()
    app = GatewayApp(lambda: store, authorizer=authorizer)
    good = [(b"authorization", b"good-token")]

    status, _, chunks, _ = run(call(app, "/v3/kv/put", b'{"key":"YQ=="}'))
    assert (status, b"".join(chunks)) == (400, error_body("etcdserver: user name is empty", 3))
    status, _, chunks, _ = run(call(app, "/v3/kv/put", b'{"key":"YQ=="}', headers=[(b"authorization", b"bad")]))
    assert (status, b"".join(chunks)) == (401, error_body("etcdserver: invalid auth token", 16))
    status, _, chunks, _ = run(call(app, "/v3/kv/put", b'{"key":"c2VjcmV0L3g="}', headers=good))
    assert (status, b"".join(chunks)) == (403, error_body("etcdserver: permission denied", 7))
    assert store.calls == []  # nothing refused reached the store
    status, _, _, _ = run(call(app, "/v3/kv/range", b'{"key":"YQ=="}', headers=good))
    assert status == 200 and store.calls == [RangeRequest(key=b"a")]
    assert [(user, kind) for user, kind, _ in authorizer.seen] == [("alice", "put"), ("alice", "range")]
    assert authorizer.seen[0][2] == PutRequest(key=b"secret/x")
    # a body that does not decode is refused before anyone is asked
    status, _, _, _ = run(call(app, "/v3/kv/range", b"{", headers=good))
    assert status == 400 and len(authorizer.seen) == 2


def test_status_asks_no_questions():
    class Refuses(Recording):
        async def authenticate(self, token):
            raise AssertionError("status is not authenticated")

    class Store(FakeStore):
        machine = type("M", (), {"revision": 5, "db_size_bytes": 10, "stored_bytes": 4, "alarms": ()})()
        node = type("N", (), {"status": lambda self: type("S", (), dict(
            id=7, term=2, leader=7, commit=9, applied=9, learners=()))()})()

    store = Store()
    status, headers, chunks, _ = run(call(GatewayApp(lambda: store, authorizer=Refuses()), "/v3/maintenance/status"))
    assert status == 200 and json.loads(b"".join(chunks)) == {
        "header": {"cluster_id": "3", "member_id": "7", "revision": "5", "raft_term": "2"},
        "version": "3.4.0", "dbSize": "10", "leader": "7", "raftIndex": "9", "raftTerm": "2",
        "raftAppliedIndex": "9", "dbSizeInUse": "4",
    }
    assert headers[b"x-config-center-watchers"] == b"0"


def test_a_refused_watch_is_answered_in_the_stream_as_etcd_does():
    store, authorizer = FakeStore(), Recording()
    app = GatewayApp(lambda: store, authorizer=authorizer)
    body = b'{"create_request":{"key":"c2VjcmV0L3g="}}'
    status, _, chunks, ended = run(call(app, "/v3/watch", body, headers=[(b"authorization", b"good-token")],
                                        until_disconnect=0.2))
    assert status == 200 and not ended
    assert json.loads(chunks[0]) == {"result": {
        "header": {"cluster_id": "3", "member_id": "7", "revision": "5", "raft_term": "2"},
        "watch_id": "-1", "created": True, "canceled": True,
        "cancel_reason": "rpc error: code = PermissionDenied desc = etcdserver: permission denied",
    }}
    assert authorizer.seen == [("alice", "watch", WatchCreateRequest(key=b"secret/x"))]
    status, _, chunks, _ = run(call(app, "/v3/watch", body, until_disconnect=0.2))
    assert json.loads(chunks[0])["result"]["cancel_reason"] == (
        "rpc error: code = InvalidArgument desc = etcdserver: user name is empty")


def test_keepalive_failures_end_the_stream_with_the_gateways_error_chunk():
    store = FakeStore()
    app = GatewayApp(lambda: store)
    store.keepalive_script = [NotLeaderError("not the leader", 3)]
    status, headers, chunks, ended = run(call(app, "/v3/lease/keepalive", b'{"ID":"1"}'))
    assert status == 503 and ended
    assert json.loads(b"".join(chunks)) == {"error": {
        "grpc_code": 14, "http_code": 503, "message": "etcdserver: no leader", "http_status": "Service Unavailable"}}

    store.keepalive_script = [10, LeaseNotFoundError(), NotLeaderError("lost", 0)]
    status, _, chunks, ended = run(call(app, "/v3/lease/keepalive", b'{"ID":"1"}{"ID":"2"}{"ID":"3"}'))
    assert status == 200 and ended
    lines = [json.loads(chunk) for chunk in chunks if chunk]
    assert [line.get("result", {}).get("TTL") for line in lines[:2]] == ["10", None]
    assert lines[1]["result"]["ID"] == "2"
    assert lines[2]["error"]["grpc_code"] == 14


def test_extra_routes():
    seen = []

    async def member_list(body, user, headers):
        seen.append(("list", body, user))
        return 200, b'{"members":[]}'

    async def authenticate(body, user, headers):
        seen.append(("auth", body, user))
        raise StoreError("etcdserver: authentication failed, invalid user ID or password")

    app = GatewayApp(lambda: FakeStore(), authorizer=Recording(), extra_routes={
        "/v3/cluster/member/list": member_list,
        "/v3/auth/authenticate": ExtraRoute(authenticate, authenticate=False),
    })
    assert {"/v3/cluster/member/list", "/v3/auth/authenticate"} <= app.paths
    status, headers, chunks, _ = run(call(app, "/v3/cluster/member/list", headers=[(b"authorization", b"good-token")]))
    assert (status, chunks) == (200, [b'{"members":[]}']) and headers[b"content-type"] == b"application/json"
    status, _, _, _ = run(call(app, "/v3/cluster/member/list", headers=[(b"authorization", b"stale")]))
    assert status == 401
    status, _, chunks, _ = run(call(app, "/v3/auth/authenticate", b'{"name":"a"}', headers=[(b"authorization", b"stale")]))
    assert status == 500 and json.loads(b"".join(chunks))["code"] == 2
    assert seen == [("list", b"{}", "alice"), ("auth", b'{"name":"a"}', None)]
    status, _, _, _ = run(call(app, "/v3/auth/authenticate", method="GET"))
    assert status == 405

    with pytest.raises(ValueError, match="built-in"):
        GatewayApp(lambda: None, extra_routes={"/v3/kv/put": member_list})
    with pytest.raises(ValueError, match="/v3/"):
        GatewayApp(lambda: None, extra_routes={"/auth": member_list})


def test_extra_routes_are_bounded_in_time():
    async def slow(body, user, headers):
        await asyncio.sleep(3600)

    app = GatewayApp(lambda: None, extra_routes={"/v3/slow": slow}, request_timeout=0.2)
    status, _, chunks, _ = run(call(app, "/v3/slow"))
    assert (status, b"".join(chunks)) == (503, error_body("etcdserver: request timed out", 14))


def test_allow_everyone_is_the_default():
    app = GatewayApp(lambda: None)
    assert isinstance(app.authorizer, AllowEveryone)
    assert isinstance(AllowEveryone(), Authorizer)


def test_the_gateway_imports_no_django():
    from tests.test_layering import imported_modules

    for path in sorted((REPO / "consensus" / "gateway").glob("*.py")):
        module = "consensus.gateway." + path.stem if path.stem != "__init__" else "consensus.gateway"
        for line, name in imported_modules(path.read_text(), module, path.stem == "__init__"):
            assert not name.startswith(("django", "config_center", "channels")), f"{path.name}:{line} imports {name}"
