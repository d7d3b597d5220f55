"""The node as operators run it: store auth on by default with a root
password made on first start, ``/metrics`` in Prometheus format,
``/api/v1/cluster/status``, and ``manage.py cluster up``."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.test_skeleton_runnode import REPO, free_port, get, node_env, runnode, start, stop, wait_until_serving


def post(base: str, path: str, body: dict, token: str | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST")
    if token:
        request.add_header("Authorization", token)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


@pytest.fixture
def secured_node(tmp_path):
    port = free_port()
    process = start(runnode("--data-dir", str(tmp_path), "--listen-client", f"127.0.0.1:{port}"))
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(process, base)
        yield base, tmp_path
    finally:
        stop(process)


def _root_token(base, data_dir) -> str:
    password_file = data_dir / "root-password"
    deadline = time.monotonic() + 20
    while not password_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stat.S_IMODE(os.stat(password_file).st_mode) == 0o600
    code, body = post(base, "/v3/auth/authenticate", {"name": "root", "password": password_file.read_text().strip()})
    assert code == 200, body
    return body["token"]


def test_the_store_api_is_closed_until_a_user_authenticates(secured_node):
    base, data_dir = secured_node
    token = _root_token(base, data_dir)
    key = {"key": "YQ==", "value": "MQ=="}
    code, body = post(base, "/v3/kv/put", key)
    assert (code, body["error"]) == (400, "etcdserver: user name is empty")
    code, body = post(base, "/v3/kv/put", key, token="ccv1.forged.token")
    assert (code, body["code"]) == (401, 16)
    code, body = post(base, "/v3/auth/authenticate", {"name": "root", "password": "wrong"})
    assert code == 400 and "authentication failed" in body["error"]
    assert post(base, "/v3/kv/range", {"key": "YQ=="}, token)[1].get("count") is None  # nothing was written
    assert post(base, "/v3/kv/put", key, token)[0] == 200


def test_only_root_reaches_config_centers_own_keys(secured_node):
    base, data_dir = secured_node
    root = _root_token(base, data_dir)
    assert post(base, "/v3/auth/user/add", {"name": "app", "password": "app-password"}, root)[0] == 200
    assert post(base, "/v3/auth/role/add", {"name": "everything"}, root)[0] == 200
    grant = {"name": "everything", "perm": {"permType": "READWRITE", "key": "AA==", "range_end": "AA=="}}
    assert post(base, "/v3/auth/role/grant", grant, root)[0] == 200
    assert post(base, "/v3/auth/user/grant", {"user": "app", "role": "everything"}, root)[0] == 200
    code, body = post(base, "/v3/auth/authenticate", {"name": "app", "password": "app-password"})
    app = body["token"]
    assert post(base, "/v3/kv/put", {"key": "YQ==", "value": "MQ=="}, app)[0] == 200
    system = {"key": "L19jb25maWdfY2VudGVyLw==", "range_end": "L19jb25maWdfY2VudGVyMA=="}  # /_config_center/ prefix
    code, body = post(base, "/v3/kv/range", system, app)
    assert (code, body["error"]) == (403, "etcdserver: permission denied")
    code, body = post(base, "/v3/kv/put", {"key": "L19jb25maWdfY2VudGVyL3g=", "value": "MQ=="}, app)
    assert code == 403
    code, body = post(base, "/v3/kv/range", system, root)
    assert code == 200 and int(body["count"]) >= 1  # the member's own record


def test_metrics_and_cluster_status_describe_the_running_member(secured_node):
    base, _ = secured_node
    status, content_type, text = get(base + "/metrics")
    assert status == 200 and content_type.startswith("text/plain")
    samples = {line.split(" ")[0]: float(line.split(" ")[1]) for line in text.splitlines() if line and not line.startswith("#")}
    assert samples["etcd_server_has_leader"] == 1
    assert samples["etcd_server_is_leader"] == 1
    assert samples["etcd_disk_wal_fsync_duration_seconds_count"] >= 1
    assert samples["etcd_mvcc_db_total_size_in_bytes"] > 0
    assert samples["etcd_server_proposals_committed_total"] >= 1
    code, _, body = get(base + "/api/v1/cluster/status")
    cluster = json.loads(body)
    assert code == 200 and cluster["has_leader"] and len(cluster["members"]) == 1
    (member,) = cluster["members"]
    assert member["role"] == "leader" and member["id"] == cluster["leader"] == cluster["member_id"]
    assert member["applied_index"] >= 1 and member["lag"] == 0 and member["db_size_bytes"] > 0


def consecutive_free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports, below Linux's ephemeral
    range (32768+) so that outgoing connections do not take them meanwhile."""
    import random
    import socket

    rng = random.Random()
    for _ in range(200):
        first = rng.randrange(20000, 32000 - count)
        try:
            sockets = []
            for port in range(first, first + count):
                sock = socket.socket()
                sockets.append(sock)
                sock.bind(("127.0.0.1", port))
            return first
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise AssertionError("no run of free ports found")


def test_cluster_up_runs_three_members_and_stops_them_all(tmp_path):
    first = consecutive_free_ports(6)
    client_port, peer_port = first, first + 3
    process = subprocess.Popen(
        [sys.executable, "manage.py", "cluster", "up", "--size", "3", "--base-dir", str(tmp_path),
         "--client-port", str(client_port), "--peer-port", str(peer_port), "--store-auth", "off"],
        cwd=REPO, env=node_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if "leader elected" in line:
                break
        assert any("leader elected" in line for line in lines), "".join(lines) + process.stderr.read()
        assert sum(f"client http://127.0.0.1:{client_port + i}" in "".join(lines) for i in range(3)) == 3
        base = f"http://127.0.0.1:{client_port + 1}"
        deadline = time.monotonic() + 30
        while True:
            cluster = json.loads(get(base + "/api/v1/cluster/status")[2])
            named = [m for m in cluster["members"] if m["name"]]
            if len(named) == 3 and all(m["reachable"] for m in named) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert sorted(m["name"] for m in cluster["members"]) == ["n1", "n2", "n3"]
        assert [m["role"] for m in cluster["members"]].count("leader") == 1
        assert all(m["reachable"] and m["lag"] >= 0 for m in cluster["members"])
        code, body = post(base, "/v3/kv/put", {"key": "YQ==", "value": "MQ=="})  # through a follower or the leader
        assert code == 200
    finally:
        os.killpg(process.pid, signal.SIGINT)
        out, err = process.communicate(timeout=60)
    assert process.returncode == 0, err
    assert "cluster stopped" in out
    for name in ("n1", "n2", "n3"):
        assert (tmp_path / name / "member" / "identity.json").exists()
