"""etcdctl's cluster and maintenance commands against our node: what they
print names this member, its status and its store (IDs and sizes differ
from a real etcd's, so these are checked against the node's own JSON
gateway rather than compared with etcd)."""
from __future__ import annotations

import json
import re
import sqlite3
import urllib.request

from tests.grpc.conftest import etcdctl


def gateway(node, path: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(node.base_url + path, data=json.dumps(body or {}).encode(), method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def test_member_list_names_this_member(open_node):
    ran = etcdctl(open_node.endpoint, "member", "list", "-w", "json")
    assert ran.returncode == 0, ran.stderr
    listed = json.loads(ran.stdout)
    via_gateway = gateway(open_node, "/v3/cluster/member/list")
    assert [m["ID"] for m in listed["members"]] == [int(m["ID"]) for m in via_gateway["members"]]
    assert listed["members"][0]["name"] == "gw"


def test_endpoint_status_and_health(open_node):
    ran = etcdctl(open_node.endpoint, "endpoint", "status", "-w", "json")
    assert ran.returncode == 0, ran.stderr
    status = json.loads(ran.stdout)[0]["Status"]
    via_gateway = gateway(open_node, "/v3/maintenance/status")
    assert status["header"]["member_id"] == int(via_gateway["header"]["member_id"]) == status["leader"]
    assert status["version"] == "3.4.0" and status["dbSize"] > 0 and status["raftIndex"] >= 1
    health = etcdctl(open_node.endpoint, "endpoint", "health")
    assert health.returncode == 0 and "is healthy: successfully committed proposal" in health.stderr + health.stdout


def test_hashkv_matches_the_gateways(open_node):
    etcdctl(open_node.endpoint, "put", "/hash/k", "v")
    ran = etcdctl(open_node.endpoint, "endpoint", "hashkv", "-w", "json")
    assert ran.returncode == 0, ran.stderr
    hashed = json.loads(ran.stdout)[0]["HashKV"]
    revision = hashed["header"]["revision"]
    via_gateway = gateway(open_node, "/v3/maintenance/hashkv", {"revision": str(revision)})
    assert hashed["hash"] == int(via_gateway["hash"]) != 0


def test_snapshot_save_writes_the_store_and_etcdctl_checks_its_hash(open_node, tmp_path):
    etcdctl(open_node.endpoint, "put", "/snap/k", "in the snapshot")
    target = tmp_path / "snap.db"
    ran = etcdctl(open_node.endpoint, "snapshot", "save", str(target))
    assert ran.returncode == 0, ran.stderr
    assert "Snapshot saved at" in ran.stdout
    # the payload is our store's SQLite database followed by etcd's 32-byte SHA-256
    data = target.read_bytes()
    database = tmp_path / "store.sqlite"
    database.write_bytes(data[: len(data) - 32])
    with sqlite3.connect(database) as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
    assert tables, "the snapshot holds no tables"


def test_move_leader_to_itself_and_to_a_stranger(open_node):
    status = json.loads(etcdctl(open_node.endpoint, "endpoint", "status", "-w", "json").stdout)[0]["Status"]
    me = format(status["header"]["member_id"], "x")
    ran = etcdctl(open_node.endpoint, "move-leader", me)
    assert ran.returncode == 0, ran.stderr
    stranger = etcdctl(open_node.endpoint, "move-leader", "1234")
    assert stranger.returncode != 0 and re.search(r"Error: .*", stranger.stderr)


def db_size(node) -> int:
    return int(gateway(node, "/v3/maintenance/status")["dbSize"])


def test_defrag_gives_the_space_of_compacted_history_back(open_node):
    value = "x" * 500_000
    for i in range(12):
        assert etcdctl(open_node.endpoint, "put", f"/defrag/{i}", input=value).returncode == 0  # value on stdin
    etcdctl(open_node.endpoint, "del", "/defrag/", "--prefix")
    revision = gateway(open_node, "/v3/kv/range", {"key": "L2RlZnJhZw=="})["header"]["revision"]
    assert etcdctl(open_node.endpoint, "compaction", "--physical", revision).returncode == 0
    grown = db_size(open_node)
    assert grown > 5_000_000  # the deleted values' pages are free, still in the file
    ran = etcdctl(open_node.endpoint, "defrag")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == f"Finished defragmenting etcd member[{open_node.endpoint}]\n"
    shrunk = db_size(open_node)
    assert shrunk < grown / 4, (grown, shrunk)
    # the store is whole and serving
    assert etcdctl(open_node.endpoint, "put", "/defrag/after", "v").stdout == "OK\n"
    assert gateway(open_node, "/v3/maintenance/defragment")["header"]["member_id"]


def test_defrag_is_for_root_only(locked_node):
    ran = etcdctl(locked_node.endpoint, "defrag")
    assert ran.returncode != 0 and "user name is empty" in ran.stderr
    ran = etcdctl(locked_node.endpoint, f"--user=root:{locked_node.root_password()}", "defrag")
    assert ran.returncode == 0, ran.stderr
