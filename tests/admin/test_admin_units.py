"""The admin functions without a cluster: argument checks, the client's
failover and re-authentication against a scripted HTTP server, member IDs
in hex or decimal, snapshot file checks, and a restore whose Raft state and
identity are read back and compared with what a new cluster's members
compute for themselves."""
from __future__ import annotations

import asyncio
import hashlib
import http.server
import json
import sqlite3
import threading
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from consensus.admin.client import Credentials, Endpoint, GatewayClient, parse_endpoints
from consensus.admin.errors import GatewayError, OutcomeUnknownError, UnreachableError, UsageError
from consensus.admin.members import Member, check_new_member, resolve_member_id
from consensus.admin.options import client_from_options, read_credentials
from consensus.admin.snapshots import read_snapshot_file, restore_snapshot, snapshot_status
from consensus.cluster.setup import resolve_member
from consensus.member import STORE_FILE
from consensus.member_identity import MemberIdentity, write_secret_file
from consensus.mvcc.api import PutRequest
from consensus.mvcc.state_machine import StoreStateMachine
from consensus.node import member_dir
from consensus.node_config import parse_node_config
from consensus.storage.durable import DurableStorage
from tests.test_skeleton_runnode import free_port

# -- arguments ---------------------------------------------------------------------------


def test_endpoints():
    assert parse_endpoints("127.0.0.1:8000, http://[::1]:9000,node-2:1") == (
        Endpoint("127.0.0.1", 8000), Endpoint("::1", 9000), Endpoint("node-2", 1),
    )
    assert str(Endpoint("::1", 9000)) == "[::1]:9000"
    for bad, words in (("", "names no endpoint"), ("host", "not HOST:PORT"), ("https://a:1", "plain HTTP"),
                       ("a:1,a:1", "twice"), ("a:99999", "not HOST:PORT"), ("a:1/x", "not HOST:PORT")):
        with pytest.raises(UsageError, match=words) as caught:
            parse_endpoints(bad)
        assert caught.value.argument == "--endpoints"


def test_credentials(tmp_path):
    password_file = tmp_path / "pw"
    password_file.write_text("s3cret\nignored\n")
    assert read_credentials(user=None, password=None, password_file=str(password_file), environ={}) == \
        Credentials("root", "s3cret")
    assert read_credentials(user="alice", password="pw", password_file=None, environ={}) == Credentials("alice", "pw")
    assert read_credentials(user=None, password=None, password_file=None, environ={"CONFIG_CENTER_PASSWORD": "e"}) == \
        Credentials("root", "e")
    assert read_credentials(user=None, password=None, password_file=None, environ={}) is None
    assert "s3cret" not in repr(Credentials("root", "s3cret"))
    cases = (
        (dict(user="alice", password=None, password_file=None), "--user"),
        (dict(user=None, password="a", password_file=str(password_file)), "--password"),
        (dict(user=None, password=None, password_file=str(tmp_path / "missing")), "--password-file"),
        (dict(user=" ", password="a", password_file=None), "--user"),
        (dict(user=None, password="", password_file=None), "--password"),
    )
    for kwargs, argument in cases:
        with pytest.raises(UsageError) as caught:
            read_credentials(environ={}, **kwargs)
        assert caught.value.argument == argument
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(UsageError, match="no password"):
        read_credentials(user=None, password=None, password_file=str(tmp_path / "empty"), environ={})


def test_timeout_and_endpoints_from_the_environment():
    client = client_from_options({}, {"CONFIG_CENTER_ENDPOINTS": "10.0.0.1:1,10.0.0.2:2"})
    assert client.endpoints == (Endpoint("10.0.0.1", 1), Endpoint("10.0.0.2", 2))
    with pytest.raises(UsageError, match="set by CONFIG_CENTER_ENDPOINTS"):
        client_from_options({}, {"CONFIG_CENTER_ENDPOINTS": "nope"})
    for bad in ("0", "-1", "x", "nan"):
        with pytest.raises(UsageError) as caught:
            client_from_options({"timeout": bad}, {})
        assert caught.value.argument == "--timeout"


def test_member_ids_in_hex_or_decimal():
    members = [Member(16, "a", (), (), False), Member(0x8E9E05C52164694D, "b", (), (), True),
               Member(0x16, "c", (), (), False)]
    assert resolve_member_id("8e9e05c52164694d", members).name == "b"
    assert resolve_member_id(str(0x8E9E05C52164694D), members).name == "b"
    assert resolve_member_id(" 8E9E05C52164694D ", members).name == "b"
    assert resolve_member_id("0x16", members).name == "c"
    assert resolve_member_id("0x10", members).name == "a"
    with pytest.raises(UsageError, match="write 0x10 or 0x16"):
        resolve_member_id("16", members)  # decimal 16 is a, hex 16 is c
    with pytest.raises(UsageError, match="no member has the ID"):
        resolve_member_id("ffff", members)
    for bad in ("xyz", "0", "0x", "-5", str(1 << 64)):
        with pytest.raises(UsageError) as caught:
            resolve_member_id(bad, members)
        assert caught.value.argument == "ID"


def test_new_member_checks():
    assert check_new_member("n4", "127.0.0.1:2390") == "tcp://127.0.0.1:2390"
    for name, url, argument in (("bad name", "127.0.0.1:1", "--name"), ("n4", "nonsense", "--peer-url"),
                                ("n4", "0.0.0.0:2380", "--peer-url"), ("n4", "127.0.0.1:0", "--peer-url")):
        with pytest.raises(UsageError) as caught:
            check_new_member(name, url)
        assert caught.value.argument == argument, (name, url)


def test_commands_refuse_bad_arguments_with_status_2(tmp_path):
    cases = (
        (("member", "list", "--endpoints", "no port"), "--endpoints"),
        (("member", "add", "--name", "n4", "--peer-url", "x", "--endpoints", "127.0.0.1:1"), "--peer-url"),
        (("status", "--timeout", "0"), "--timeout"),
        (("snapshot", "status", str(tmp_path / "missing")), "FILE"),
        (("snapshot", "restore", str(tmp_path / "missing"), "--data-dir", str(tmp_path / "d"), "--name", "bad name"),
         "--name"),
    )
    for argv, argument in cases:
        with pytest.raises(CommandError) as caught:
            call_command(*argv)
        assert str(caught.value).startswith(argument + ":"), caught.value
        assert caught.value.returncode == 2
    assert not (tmp_path / "d").exists()


# -- the client against a scripted server -------------------------------------------------


class Script(http.server.BaseHTTPRequestHandler):
    """Answers by the server's ``answer(path, headers, body) -> (status, obj)``;
    ``None`` drops the connection without answering."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.server.seen.append((self.path, self.headers.get("Authorization"), json.loads(body or b"{}")))
        result = self.server.answer(self.path, self.headers, body)
        if result is None:
            self.close_connection = True
            self.connection.shutdown(2)
            return
        status, obj = result
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Script)
    httpd.seen = []
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_failover_on_connection_errors_only(server):
    server.answer = lambda path, headers, body: (200, {"ok": path})
    dead = Endpoint("127.0.0.1", free_port())
    live = Endpoint("127.0.0.1", server.server_address[1])
    client = GatewayClient((dead, live), timeout=2)
    assert client.post("/v3/x") == {"ok": "/v3/x"}
    assert client.endpoint == live
    # A refusal is an answer: no failover.
    server.answer = lambda path, headers, body: (403, {"error": "etcdserver: permission denied",
                                                       "message": "etcdserver: permission denied", "code": 7})
    with pytest.raises(GatewayError) as caught:
        GatewayClient((live, dead), timeout=2).post("/v3/x")
    assert (caught.value.code, caught.value.status) == (7, 403)
    with pytest.raises(UnreachableError) as unreachable:
        GatewayClient((dead, Endpoint("127.0.0.1", free_port())), timeout=2).post("/v3/x")
    assert str(unreachable.value).count("connection refused") == 2 and str(dead) in str(unreachable.value)


def test_a_change_whose_answer_is_lost_is_not_sent_again(server):
    server.answer = lambda path, headers, body: None  # takes the request, drops the connection
    live = Endpoint("127.0.0.1", server.server_address[1])
    fallback = Endpoint("127.0.0.1", free_port())
    with pytest.raises(OutcomeUnknownError, match="may or may not"):
        GatewayClient((live, fallback), timeout=2).post("/v3/cluster/member/add", {}, idempotent=False)
    assert len(server.seen) == 1
    # A read may go on to the next endpoint; here none answers.
    with pytest.raises(UnreachableError, match="closed without an answer"):
        GatewayClient((live, fallback), timeout=2).post("/v3/cluster/member/list")
    assert len(server.seen) == 2


def test_reauthenticates_once_when_the_token_expired(server):
    tokens = iter(["t1", "t2", "t3"])
    valid = {"t2"}

    def answer(path, headers, body):
        if path == "/v3/auth/authenticate":
            assert json.loads(body) == {"name": "root", "password": "pw"}
            return 200, {"token": next(tokens)}
        if headers.get("Authorization") not in valid:
            return 401, {"error": "etcdserver: invalid auth token", "message": "etcdserver: invalid auth token",
                         "code": 16}
        return 200, {"ok": True}

    server.answer = answer
    client = GatewayClient((Endpoint("127.0.0.1", server.server_address[1]),), credentials=Credentials("root", "pw"))
    assert client.post("/v3/kv/range") == {"ok": True}
    assert [(p, t) for p, t, _ in server.seen] == [
        ("/v3/auth/authenticate", None), ("/v3/kv/range", "t1"), ("/v3/auth/authenticate", None), ("/v3/kv/range", "t2"),
    ]
    valid.clear()
    with pytest.raises(GatewayError, match="invalid auth token"):  # once, not forever
        client.post("/v3/kv/range")


def test_auth_off_sends_no_token_and_wrong_passwords_say_so(server):
    def answer(path, headers, body):
        if path == "/v3/auth/authenticate":
            return 412, {"error": "etcdserver: authentication is not enabled",
                         "message": "etcdserver: authentication is not enabled", "code": 9}
        return 200, {"token_sent": headers.get("Authorization")}

    server.answer = answer
    client = GatewayClient((Endpoint("127.0.0.1", server.server_address[1]),), credentials=Credentials("root", "pw"))
    assert client.post("/v3/x") == {"token_sent": None}
    server.answer = lambda path, headers, body: (400, {
        "error": "etcdserver: authentication failed, invalid user ID or password",
        "message": "etcdserver: authentication failed, invalid user ID or password", "code": 3})
    fresh = GatewayClient((Endpoint("127.0.0.1", server.server_address[1]),), credentials=Credentials("root", "x"))
    with pytest.raises(Exception, match="refused the password of user 'root'"):
        fresh.post("/v3/x")


# -- snapshot files and restore ------------------------------------------------------------


def make_store(path: Path, keys: int = 20) -> StoreStateMachine:
    machine = StoreStateMachine.open(path)
    for i in range(keys):
        machine.apply(i + 1, PutRequest(key=f"key{i:03}".encode(), value=b"x" * 2000))
    return machine


def write_snapshot(tmp_path: Path, name: str = "backup.db") -> tuple[Path, StoreStateMachine]:
    machine = make_store(tmp_path / "source.sqlite3")
    db = machine.snapshot()
    path = tmp_path / name
    path.write_bytes(db + hashlib.sha256(db).digest())
    return path, machine


def test_snapshot_file_checks(tmp_path):
    path, machine = write_snapshot(tmp_path)
    info = snapshot_status(path)
    assert (info.store.revision, info.store.keys, info.store.kv_hash) == (
        machine.revision, 20, machine.hash_kv(0).hash)
    assert info.sha256 == path.read_bytes()[-32:].hex()
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped = tmp_path / "flipped.db"
    flipped.write_bytes(bytes(data))
    with pytest.raises(UsageError, match="is damaged"):
        read_snapshot_file(flipped)
    short = tmp_path / "short.db"
    short.write_bytes(path.read_bytes()[:-100])
    with pytest.raises(UsageError, match="cut short"):
        read_snapshot_file(short)
    bare = tmp_path / "bare.db"
    bare.write_bytes(path.read_bytes()[:-32])
    with pytest.raises(UsageError, match="--skip-hash-check"):
        read_snapshot_file(bare)
    assert snapshot_status(bare, skip_hash_check=True).store.revision == machine.revision
    other = tmp_path / "other.sqlite3"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    foreign = tmp_path / "foreign.db"
    foreign.write_bytes(other.read_bytes() + hashlib.sha256(other.read_bytes()).digest())
    with pytest.raises(UsageError, match="does not hold a config_center store"):
        snapshot_status(foreign)


def test_restore_writes_the_new_members_state(tmp_path):
    path, machine = write_snapshot(tmp_path)
    secret = tmp_path / "secret"
    write_secret_file(secret)
    cluster = "n1=127.0.0.1:2381,n2=127.0.0.1:2382,n3=127.0.0.1:2383"
    flags = {"name": "n2", "listen_peer": "127.0.0.1:2382", "initial_cluster": cluster,
             "initial_cluster_token": "restored"}
    restored = restore_snapshot(path, data_dir=tmp_path / "n2", flags=flags, environ={})

    # What a member of a new cluster with these flags computes for itself.
    values = {**flags, "data_dir": str(tmp_path / "scratch"), "cluster_secret_file": str(secret)}
    resolved = asyncio.run(resolve_member(parse_node_config(values, {}), tmp_path / "scratch" / "member"))
    assert (restored.member_id, restored.cluster_id) == (resolved.identity.member_id, resolved.identity.cluster_id)
    assert MemberIdentity.load(member_dir(tmp_path / "n2")) == MemberIdentity("n2", restored.member_id,
                                                                             restored.cluster_id)
    storage = DurableStorage.open(member_dir(tmp_path / "n2"))
    try:
        hard_state, conf_state = storage.initial_state()
        snapshot = storage.snapshot()
    finally:
        storage.close()
    assert sorted(conf_state.voters) == sorted(resolved.bootstrap_voters) and not conf_state.learners
    assert snapshot.metadata.index == machine.applied_index == restored.snapshot_index
    assert (snapshot.metadata.term, hard_state.term, hard_state.vote, hard_state.commit) == (
        1, 1, 0, machine.applied_index)
    store = StoreStateMachine.open(member_dir(tmp_path / "n2") / STORE_FILE)
    try:
        assert (store.revision, store.hash_kv(0).hash, store.applied_index) == (
            machine.revision, machine.hash_kv(0).hash, machine.applied_index)
    finally:
        store.close()


def test_restore_refuses_and_changes_nothing(tmp_path):
    path, _ = write_snapshot(tmp_path)
    flags = {"name": "n1", "listen_peer": "127.0.0.1:2381"}
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "keep").write_text("mine")
    with pytest.raises(UsageError, match="is not empty") as caught:
        restore_snapshot(path, data_dir=busy, flags=flags, environ={})
    assert caught.value.argument == "--data-dir"
    assert [p.name for p in busy.iterdir()] == ["keep"]
    data = bytearray(path.read_bytes())
    data[100] ^= 0xFF
    broken = tmp_path / "broken.db"
    broken.write_bytes(bytes(data))
    before = sorted(p.name for p in tmp_path.iterdir())
    with pytest.raises(UsageError, match="damaged") as caught:
        restore_snapshot(broken, data_dir=tmp_path / "new", flags=flags, environ={})
    assert caught.value.argument == "FILE"
    with pytest.raises(UsageError) as caught:
        restore_snapshot(path, data_dir=tmp_path / "new", flags={**flags, "initial_cluster": "n9=127.0.0.1:1"},
                         environ={})
    assert caught.value.argument == "--initial-cluster"
    with pytest.raises(UsageError) as caught:
        restore_snapshot(path, data_dir=tmp_path / "new", flags=flags,
                         environ={"CONFIG_CENTER_INITIAL_CLUSTER_TOKEN": "\x01"})
    assert caught.value.argument == "--initial-cluster-token (set by CONFIG_CENTER_INITIAL_CLUSTER_TOKEN)"
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no data dir, no leftovers
    # An empty directory is fine.
    (tmp_path / "empty").mkdir()
    restore_snapshot(path, data_dir=tmp_path / "empty", flags=flags, environ={})
    assert (member_dir(tmp_path / "empty") / "identity.json").exists()
