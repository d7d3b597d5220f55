"""``/v3/maintenance/snapshot`` on ``GatewayApp`` over an in-process member
with store auth on: the stream's framing (32 KiB chunks, the
``remaining_bytes`` countdown, the trailing SHA-256), who may ask, and the
same exchanges with a real etcd 3.4.23, compared where the shapes must agree
(line structure, countdown, chunk size, trailer, refusals byte for byte)."""
from __future__ import annotations

import asyncio
import base64
import hashlib
import http.client
import json
from types import SimpleNamespace

import pytest

from consensus.gateway import GatewayApp
from consensus.gateway.snapshot_route import CHUNK_BYTES, SNAPSHOT_PATH, snapshot_lines
from consensus.mvcc.state_machine import StoreStateMachine
from tests.auth.harness import Member
from tests.differential.etcd import INSTALL_HINT, EtcdServer, find_etcd

VALUE = "v" * 30_000  # a few of these make a database of several chunks


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


async def call(app, body=b"{}", token=None):
    """One request; (status, headers, body bytes, messages sent)."""
    sent = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        if messages:
            return messages.pop(0)
        await asyncio.Event().wait()

    async def send(message):
        sent.append(message)

    headers = [(b"authorization", token.encode())] if token is not None else []
    scope = {"type": "http", "path": SNAPSHOT_PATH, "method": "POST", "headers": headers}
    await asyncio.wait_for(app(scope, receive, send), 10)
    start = sent[0]
    assert start["type"] == "http.response.start"
    data = b"".join(m.get("body", b"") for m in sent[1:])
    assert not sent[-1].get("more_body", False), "the response did not end"
    return start["status"], dict(start["headers"]), data, sent


async def secured_member(tmp_path):
    """A member with keys, root, a user alice without roles, auth on; its
    tokens by user."""
    member = Member.open(tmp_path / "store.sqlite3")
    for i in range(5):
        assert (await member.post("/v3/kv/put", {"key": b64(f"k{i}"), "value": b64(VALUE)}))[0] == 200
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/user/add", {"name": "alice", "password": "alicepw"}),
        ("/v3/auth/enable", {}),
    ):
        status, answer = await member.post(path, body)
        assert status == 200, (path, answer)
    tokens = {}
    for user, password in (("root", "rootpw"), ("alice", "alicepw")):
        status, answer = await member.post("/v3/auth/authenticate", {"name": user, "password": password})
        tokens[user] = answer["token"]
    return member, tokens


def gateway(member: Member) -> GatewayApp:
    store = SimpleNamespace(machine=member.machine)
    return GatewayApp(lambda: store, authorizer=member.authorizer)


def parse_stream(data: bytes) -> list[dict]:
    assert data.endswith(b"\n")
    return [json.loads(line)["result"] for line in data.split(b"\n")[:-1]]


def check_framing(results: list[dict]) -> bytes:
    """The database the lines carry, after checking etcd's framing rules."""
    blobs = [base64.b64decode(r["blob"]) for r in results]
    assert all(set(r) <= {"remaining_bytes", "blob"} for r in results)
    *chunks, trailer = blobs
    total = int(results[0].get("remaining_bytes", 0)) + len(chunks[0])
    sent = 0
    for result, chunk in zip(results, chunks):
        sent += len(chunk)
        assert int(result.get("remaining_bytes", 0)) == total - sent
        assert ("remaining_bytes" in result) == (sent < total)  # proto3 leaves 0 out
    assert sent == total
    assert all(len(chunk) == CHUNK_BYTES for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= CHUNK_BYTES
    assert "remaining_bytes" not in results[-1]
    db = b"".join(chunks)
    assert trailer == hashlib.sha256(db).digest()
    return db


def test_the_stream_is_the_database_in_chunks_then_its_sha256(tmp_path):
    async def body():
        member, tokens = await secured_member(tmp_path)
        status, headers, data, sent = await call(gateway(member), token=tokens["root"])
        assert status == 200
        assert headers[b"content-type"] == b"application/json"
        assert b"content-length" not in headers  # a stream
        results = parse_stream(data)
        assert len(results) >= 5  # 150 KB of values: several chunks, then the hash
        assert [m["body"] for m in sent[1:-1]] == [line + b"\n" for line in data.split(b"\n")[:-1]]  # a chunk a line
        db = check_framing(results)
        # The database is a store: a fresh state machine restores it whole.
        copy = StoreStateMachine.open(tmp_path / "copy.sqlite3")
        copy.restore(db)
        assert copy.revision == member.machine.revision
        assert copy.hash_kv(0).hash == member.machine.hash_kv(0).hash
        assert copy.auth_state.enabled and set(copy.auth_state.users) == {"root", "alice"}
        copy.close()

    asyncio.run(body())


def test_a_body_of_null_nothing_or_unknown_fields_asks_for_the_same(tmp_path):
    async def body():
        member, tokens = await secured_member(tmp_path)
        app = gateway(member)
        for request in (b"", b"null", b'{"x":1}'):
            status, _, data, _ = await call(app, request, tokens["root"])
            assert status == 200
            check_framing(parse_stream(data))
        status, _, data, _ = await call(app, b"nope", tokens["root"])
        assert status == 400
        assert json.loads(data)["code"] == 3

    asyncio.run(body())


REFUSAL = '{{"error":{{"grpc_code":2,"http_code":500,"message":"{}","http_status":"Internal Server Error"}}}}'


def test_only_root_may_ask(tmp_path):
    async def body():
        member, tokens = await secured_member(tmp_path)
        app = gateway(member)
        for token, message in (
            (None, "auth: user name is empty"),
            (tokens["alice"], "auth: permission denied"),
            ("garbage", "auth: invalid auth token"),
        ):
            status, headers, data, _ = await call(app, b"{}", token)
            assert (status, data.decode()) == (500, REFUSAL.format(message)), token
            assert headers[b"content-type"] == b"application/json"

    asyncio.run(body())


def test_snapshot_lines_of_an_exact_multiple_of_the_chunk():
    data = bytes(range(256)) * (2 * CHUNK_BYTES // 256)
    lines = list(snapshot_lines(data))
    assert len(lines) == 3
    assert json.loads(lines[0]) == {"result": {"remaining_bytes": str(CHUNK_BYTES),
                                               "blob": base64.b64encode(data[:CHUNK_BYTES]).decode()}}
    assert json.loads(lines[1]) == {"result": {"blob": base64.b64encode(data[CHUNK_BYTES:]).decode()}}
    assert base64.b64decode(json.loads(lines[2])["result"]["blob"]) == hashlib.sha256(data).digest()


# -- against a real etcd 3.4.23 ----------------------------------------------------------


@pytest.fixture(scope="module")
def etcd():
    binary = find_etcd()
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = EtcdServer(binary).start()
    try:
        yield server
    finally:
        server.stop()


def etcd_post(server, path, body, token=None):
    conn = http.client.HTTPConnection(server.host, server.client_port, timeout=10)
    headers = {"Authorization": token} if token is not None else {}
    try:
        conn.request("POST", path, body if isinstance(body, bytes) else json.dumps(body).encode(), headers)
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def test_the_stream_and_refusals_are_shaped_as_etcds(etcd, tmp_path):
    for i in range(5):
        etcd_post(etcd, "/v3/kv/put", {"key": b64(f"k{i}"), "value": b64(VALUE)})
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/user/add", {"name": "alice", "password": "alicepw"}),
        ("/v3/auth/enable", {}),
    ):
        assert etcd_post(etcd, path, body)[0] == 200
    etcd_tokens = {
        user: json.loads(etcd_post(etcd, "/v3/auth/authenticate", {"name": user, "password": pw})[2])["token"]
        for user, pw in (("root", "rootpw"), ("alice", "alicepw"))
    }

    calls = iter(range(100))

    async def ours(token_name, body=b"{}"):
        directory = tmp_path / f"member{next(calls)}"
        directory.mkdir()
        member, tokens = await secured_member(directory)
        token = tokens.get(token_name, token_name)
        status, headers, data, _ = await call(gateway(member), body, token)
        return status, {k.decode(): v.decode() for k, v in headers.items()}, data

    # The stream: the same framing rules hold for both (the databases differ).
    status, headers, data = etcd_post(etcd, SNAPSHOT_PATH, b"{}", etcd_tokens["root"])
    assert status == 200 and headers["content-type"] == "application/json"
    etcd_results = parse_stream(data)
    check_framing(etcd_results)
    our_status, our_headers, our_data = asyncio.run(ours("root"))
    assert our_status == 200
    for name in ("content-type", "grpc-metadata-content-type"):
        assert our_headers[name] == headers[name]
    our_results = parse_stream(our_data)
    check_framing(our_results)
    first_line = data.split(b"\n")[0]
    assert first_line.startswith(b'{"result":{"remaining_bytes":"')  # field order as etcd writes it
    assert our_data.split(b"\n")[0].startswith(b'{"result":{"remaining_bytes":"')
    assert data.split(b"\n")[-2].startswith(b'{"result":{"blob":"') and len(data.split(b"\n")[-2]) == len(
        our_data.split(b"\n")[-2])  # the SHA-256 line: 44 base64 characters on both sides

    # Refusals: byte for byte.
    for token_name in (None, "alice", "garbage"):
        theirs = etcd_post(etcd, SNAPSHOT_PATH, b"{}", etcd_tokens.get(token_name, token_name))
        mine = asyncio.run(ours(token_name))
        assert (mine[0], mine[2]) == (theirs[0], theirs[2]), token_name
    # Bodies that are not a JSON object.
    for body in (b"x", b"[1]", b'{"a":'):
        theirs = etcd_post(etcd, SNAPSHOT_PATH, body, etcd_tokens["root"])
        mine = asyncio.run(ours("root", body))
        assert (mine[0], json.loads(mine[2])) == (theirs[0], json.loads(theirs[2])), body
