"""``manage.py runnode`` runs a real store member: /health reports its Raft
state, its data directory is locked against a second node, and it keeps its
term across a restart."""
import json
import time
import urllib.request

from tests.test_skeleton_runnode import free_port, get, runnode, start, stop, wait_until_serving


def serve(data_dir):
    port = free_port()
    process = start(runnode("--data-dir", str(data_dir), "--listen-client", f"127.0.0.1:{port}"))
    base = f"http://127.0.0.1:{port}"
    wait_until_serving(process, base)
    return process, base


def member_status(base):
    request = urllib.request.Request(base + "/v3/maintenance/status", data=b"{}", method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return json.loads(response.read())


def test_health_reports_the_elected_member_and_term_survives_restart(tmp_path):
    process, base = serve(tmp_path)
    try:
        assert json.loads(get(base + "/health")[2]) == {"health": "true"}
        first = member_status(base)
        # the one member leads; its ID is derived from name, peer address and cluster token
        assert first["leader"] == first["header"]["member_id"] != "0"
        assert first["header"]["cluster_id"] not in ("", "0")
        assert int(first["raftAppliedIndex"]) >= 2  # bootstrap membership + the leader's empty entry
        # An empty store starts at revision 1, as etcd's; the member then
        # publishes its own record (name, URLs) under the system prefix, and
        # the config service its first admin (one transaction each).
        deadline = time.monotonic() + 10
        while int(first["header"]["revision"]) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
            first = member_status(base)
        assert first["header"]["revision"] == "3"
        assert int(first["dbSize"]) > 0
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr
    assert (tmp_path / "member" / "wal").is_dir()

    process, base = serve(tmp_path)
    try:
        second = member_status(base)
        assert int(second["raftTerm"]) > int(first["raftTerm"])
        # The restarted leader applies its own new entry shortly after it is
        # elected (and /health turns green at election).
        deadline = time.monotonic() + 10
        while int(second["raftAppliedIndex"]) <= int(first["raftAppliedIndex"]) and time.monotonic() < deadline:
            time.sleep(0.05)
            second = member_status(base)
        assert int(second["raftAppliedIndex"]) > int(first["raftAppliedIndex"])
    finally:
        stop(process)


def test_second_node_on_the_same_data_dir_is_refused(tmp_path):
    process, _ = serve(tmp_path)
    try:
        other = start(runnode("--data-dir", str(tmp_path), "--listen-client", f"127.0.0.1:{free_port()}"))
        _, stderr = other.communicate(timeout=60)
        assert other.returncode == 1
        assert "already in use" in stderr and str(tmp_path) in stderr
    finally:
        stop(process)


def test_a_member_of_several_needs_the_shared_cluster_secret(tmp_path):
    other = start(runnode(
        "--data-dir", str(tmp_path), "--name", "a", "--listen-peer", "127.0.0.1:2390",
        "--initial-cluster", "a=127.0.0.1:2390,b=127.0.0.1:2391",
    ))
    _, stderr = other.communicate(timeout=60)
    assert other.returncode == 2
    assert "--cluster-secret-file" in stderr
