"""Backup and restore with real processes: ``snapshot save`` from a running
one-member node with store auth on (root's password from its
``root-password`` file), ``snapshot restore`` into a fresh data dir, and a
new ``runnode`` on it serving the same keys, history (KV hash at the saved
revision) and users; refusals of the snapshot endpoint and of bad
restores, through the commands."""
from __future__ import annotations

import base64
import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from consensus.admin.snapshots import read_snapshot_file
from consensus.member_identity import write_secret_file
from tests.gateway.node_process import request, running_node
from tests.test_skeleton_runnode import REPO, free_port, node_env, runnode, start, stop, wait_until_serving

VALUE = "v" * 40_000


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def post(host: str, port: int, path: str, body: dict, token: str | None = None):
    answer = request(host, port, path, body, headers={"Authorization": token} if token else None)
    return answer.status, answer.json()


def login(host: str, port: int, user: str, password: str) -> str:
    status, answer = post(host, port, "/v3/auth/authenticate", {"name": user, "password": password})
    assert status == 200, answer
    return answer["token"]


def command(*argv: str) -> str:
    out = io.StringIO()
    call_command(*argv, stdout=out)
    return out.getvalue()


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A running node with store auth on, some history, and user alice who
    may read and write keys "a".."b" only; yields (node, root password)."""
    with running_node(tmp_path_factory.mktemp("secured") / "data", []) as node:
        password_file = node.data_dir / "root-password"
        deadline = time.monotonic() + 15
        while not password_file.exists():
            assert time.monotonic() < deadline, "root was not bootstrapped"
            time.sleep(0.05)
        password = password_file.read_text().strip()
        root = login(node.host, node.port, "root", password)
        for i in range(6):  # several 32 KiB chunks
            assert post(node.host, node.port, "/v3/kv/put", {"key": b64(f"k{i}"), "value": b64(VALUE)}, root)[0] == 200
        assert post(node.host, node.port, "/v3/kv/put", {"key": b64("a1"), "value": b64("one")}, root)[0] == 200
        assert post(node.host, node.port, "/v3/kv/deleterange", {"key": b64("k5")}, root)[0] == 200
        for path, body in (
            ("/v3/auth/role/add", {"name": "reader"}),
            ("/v3/auth/role/grant", {"name": "reader", "perm": {"permType": "READWRITE", "key": b64("a"),
                                                               "range_end": b64("b")}}),
            ("/v3/auth/user/add", {"name": "alice", "password": "alicepw"}),
            ("/v3/auth/user/grant", {"user": "alice", "role": "reader"}),
        ):
            status, answer = post(node.host, node.port, path, body, root)
            assert status == 200, (path, answer)
        yield node, password


def everything(host: str, port: int, token: str, revision: int = 0) -> list[tuple[str, str, str]]:
    """(key, value, mod_revision) of every key outside the system prefix."""
    status, answer = post(host, port, "/v3/kv/range", {"key": b64("a"), "range_end": b64("z"),
                                                        "revision": str(revision)}, token)
    assert status == 200, answer
    return [(kv["key"], kv.get("value", ""), kv["mod_revision"]) for kv in answer.get("kvs", [])]


def test_save_restore_and_serve_the_same_store(secured, tmp_path):
    node, password = secured
    root = login(node.host, node.port, "root", password)
    backup = tmp_path / "backup.db"
    dead = f"127.0.0.1:{free_port()}"
    out = command("snapshot", "save", str(backup), "--endpoints", f"{dead},{node.host}:{node.port}",
                  "--password-file", str(node.data_dir / "root-password"))
    assert not backup.with_name("backup.db.part").exists()
    assert backup.stat().st_mode & 0o777 == 0o600
    db, digest = read_snapshot_file(backup)
    assert f"sha256 {digest}" in out and f"from {node.host}:{node.port}" in out
    saved_revision = int(out.split("revision ")[1].split(",")[0])
    assert len(db) > 6 * 32 * 1024 and saved_revision >= 9
    status_out = command("snapshot", "status", str(backup))
    assert f"revision:         {saved_revision}" in status_out and "store auth:       on, 2 users" in status_out
    status, original_hash = post(node.host, node.port, "/v3/maintenance/hashkv", {"revision": str(saved_revision)},
                                 root)
    assert status == 200
    original_keys = everything(node.host, node.port, root, saved_revision)

    data_dir = tmp_path / "restored"
    peer, client = f"127.0.0.1:{free_port()}", free_port()
    flags = ("--name", "r1", "--listen-peer", peer, "--listen-client", f"127.0.0.1:{client}")
    out = command("snapshot", "restore", str(backup), "--data-dir", str(data_dir), *flags)
    assert f"Restored revision {saved_revision}" in out and "runnode --data-dir" in out
    process = start([sys.executable, "manage.py", "runnode", "--data-dir", str(data_dir), *flags])
    try:
        wait_until_serving(process, f"http://127.0.0.1:{client}")
        # Same password, same users and permissions.
        token = login("127.0.0.1", client, "root", password)
        status, restored_hash = post("127.0.0.1", client, "/v3/maintenance/hashkv",
                                     {"revision": str(saved_revision)}, token)
        assert status == 200 and restored_hash["hash"] == original_hash["hash"]
        assert restored_hash["compact_revision"] == original_hash["compact_revision"]
        assert int(restored_hash["header"]["revision"]) >= saved_revision  # + the new member's own record
        assert everything("127.0.0.1", client, token) == original_keys
        assert everything("127.0.0.1", client, token, saved_revision - 1) == everything(
            node.host, node.port, root, saved_revision - 1)  # history, not just the last revision
        alice = login("127.0.0.1", client, "alice", "alicepw")
        assert post("127.0.0.1", client, "/v3/kv/range", {"key": b64("a1")}, alice)[0] == 200
        assert post("127.0.0.1", client, "/v3/kv/range", {"key": b64("k1")}, alice)[0] == 403
        # A new cluster: its own ID, one member, and it takes writes.
        status, members = post("127.0.0.1", client, "/v3/cluster/member/list", {}, token)
        assert [m.get("name") for m in members["members"]] == ["r1"]
        assert members["header"]["cluster_id"] != post(node.host, node.port, "/v3/cluster/member/list", {},
                                                       root)[1]["header"]["cluster_id"]
        assert post("127.0.0.1", client, "/v3/kv/put", {"key": b64("a2"), "value": b64("two")}, token)[0] == 200
    finally:
        if process.poll() is None:
            code, _, stderr = stop(process)
            assert code == 0, stderr[-2000:]


def test_the_snapshot_endpoint_is_root_only(secured, tmp_path):
    node, _ = secured
    target = tmp_path / "alice.db"
    with pytest.raises(CommandError, match="auth: permission denied") as caught:
        command("snapshot", "save", str(target), "--endpoints", f"{node.host}:{node.port}", "--user", "alice",
                "--password", "alicepw")
    assert caught.value.returncode == 1
    with pytest.raises(CommandError, match="store auth on and no credentials were given"):
        command("snapshot", "save", str(target), "--endpoints", f"{node.host}:{node.port}")
    assert list(tmp_path.iterdir()) == []  # no file, no part file
    anonymous = request(node.host, node.port, "/v3/maintenance/snapshot", b"{}")
    assert anonymous.status == 500
    assert anonymous.json()["error"]["message"] == "auth: user name is empty"
    alice = login(node.host, node.port, "alice", "alicepw")
    refused = request(node.host, node.port, "/v3/maintenance/snapshot", b"{}", headers={"Authorization": alice})
    assert (refused.status, refused.json()["error"]["message"]) == (500, "auth: permission denied")


def test_restore_refuses_a_damaged_file_and_a_used_data_dir(secured, tmp_path):
    node, _ = secured
    backup = tmp_path / "backup.db"
    command("snapshot", "save", str(backup), "--endpoints", f"{node.host}:{node.port}",
            "--password-file", str(node.data_dir / "root-password"))
    damaged = tmp_path / "damaged.db"
    data = bytearray(backup.read_bytes())
    data[len(data) // 3] ^= 0x20
    damaged.write_bytes(bytes(data))
    flags = ["--name", "r1", "--listen-peer", f"127.0.0.1:{free_port()}"]
    result = subprocess.run(
        [sys.executable, "manage.py", "snapshot", "restore", str(damaged), "--data-dir", str(tmp_path / "new"),
         *flags], cwd=REPO, env=node_env(), capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 2 and "FILE:" in result.stderr and "is damaged" in result.stderr, result.stderr
    assert not (tmp_path / "new").exists()
    used = tmp_path / "used"
    used.mkdir()
    (used / "something").write_text("keep")
    with pytest.raises(CommandError, match="is not empty") as caught:
        command("snapshot", "restore", str(backup), "--data-dir", str(used), *flags)
    assert caught.value.returncode == 2 and str(caught.value).startswith("--data-dir:")
    assert [p.name for p in used.iterdir()] == ["something"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["backup.db", "damaged.db", "used"]


def test_restore_a_three_member_cluster(secured, tmp_path):
    """The same file restored once per member, with one --initial-cluster:
    the three start as one new cluster, elect a leader and agree."""
    node, password = secured
    backup = tmp_path / "backup.db"
    out = command("snapshot", "save", str(backup), "--endpoints", f"{node.host}:{node.port}",
                  "--password-file", str(node.data_dir / "root-password"))
    saved_revision = int(out.split("revision ")[1].split(",")[0])
    root = login(node.host, node.port, "root", password)
    original = post(node.host, node.port, "/v3/maintenance/hashkv", {"revision": str(saved_revision)}, root)[1]
    secret = tmp_path / "secret"
    write_secret_file(secret)
    names = ("m1", "m2", "m3")
    peers = {name: f"127.0.0.1:{free_port()}" for name in names}
    clients = {name: free_port() for name in names}
    initial_cluster = ",".join(f"{name}={peers[name]}" for name in names)
    processes = []
    try:
        for name in names:
            flags = ("--name", name, "--listen-peer", peers[name], "--listen-client", f"127.0.0.1:{clients[name]}",
                     "--initial-cluster", initial_cluster, "--initial-cluster-token", "restored")
            command("snapshot", "restore", str(backup), "--data-dir", str(tmp_path / name), *flags)
            processes.append(start([sys.executable, "manage.py", "runnode", "--data-dir", str(tmp_path / name), *flags,
                                    "--cluster-secret-file", str(secret), "--heartbeat-ms", "50",
                                    "--election-ms", "500"]))
        for name, process in zip(names, processes):
            wait_until_serving(process, f"http://127.0.0.1:{clients[name]}")
        token = login("127.0.0.1", clients["m1"], "root", password)
        assert post("127.0.0.1", clients["m1"], "/v3/kv/put", {"key": b64("a3"), "value": b64("x")}, token)[0] == 200
        leaders = set()
        for name in names:
            status, answer = post("127.0.0.1", clients[name], "/v3/maintenance/hashkv",
                                  {"revision": str(saved_revision)}, token)
            assert status == 200 and answer["hash"] == original["hash"], name
            leaders.add(post("127.0.0.1", clients[name], "/v3/maintenance/status", {})[1]["leader"])
        assert len(leaders) == 1
        deadline = time.monotonic() + 15  # each member publishes its name once it sees a leader
        while not all(f"\n{name} " in (out := command("status", "--endpoints", f"127.0.0.1:{clients['m2']}"))
                      for name in names):
            assert time.monotonic() < deadline, out
            time.sleep(0.2)
        assert "leader: m" in out and "(not started)" not in out
    finally:
        for process in processes:
            if process.poll() is None:
                stop(process)
