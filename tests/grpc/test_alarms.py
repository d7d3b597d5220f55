"""Alarms: etcd's NOSPACE alarm raised, listed, obeyed and disarmed, compared
with a real etcd 3.4 through etcdctl, and raised by the quota itself on a
node with a small ``--quota-backend-bytes``."""
from __future__ import annotations

import json
import re

import grpc

from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.grpc.conftest import etcdctl, start_grpc_node
from tests.grpc.test_etcdctl_vs_etcd import normalized

_MEMBER = re.compile(r"memberID:\d+")


def member_id(endpoint: str) -> int:
    return json.loads(etcdctl(endpoint, "endpoint", "status", "-w", "json").stdout)[0]["Status"]["header"]["member_id"]


def raise_no_space(endpoint: str) -> None:
    """What etcd's server does when the quota is exceeded (etcdctl has no
    command for it)."""
    with grpc.insecure_channel(endpoint) as channel:
        rpc_pb2_grpc.MaintenanceStub(channel).Alarm(rpc_pb2.AlarmRequest(
            action=rpc_pb2.AlarmRequest.ACTIVATE, memberID=member_id(endpoint), alarm=rpc_pb2.NOSPACE), timeout=10)


def alarm_scenario(endpoint: str) -> list[tuple[int, str, str]]:
    etcdctl(endpoint, "put", "/alarm/k", "v")
    raise_no_space(endpoint)
    printed = []
    for args in (("alarm", "list"), ("put", "/alarm/k", "v2"), ("get", "/alarm/k"), ("del", "/alarm/k"),
                 ("txn",), ("lease", "grant", "10"), ("alarm", "disarm"), ("alarm", "list"),
                 ("put", "/alarm/k", "v3")):
        ran = etcdctl(endpoint, *args, input="\n\nput /alarm/t x\n\n" if args == ("txn",) else None)
        printed.append((ran.returncode, _MEMBER.sub("memberID:<id>", normalized(ran.stdout)), normalized(ran.stderr)))
    return printed


def test_a_raised_no_space_alarm_is_obeyed_and_disarmed_as_etcd_does(open_node, etcd_server):
    theirs = alarm_scenario(f"127.0.0.1:{etcd_server.client_port}")
    ours = alarm_scenario(open_node.endpoint)
    assert ours == theirs
    assert theirs[0][1] == "memberID:<id> alarm:NOSPACE \n"  # etcdctl prints the proto text, space and all
    assert "Error: etcdserver: mvcc: database space exceeded" in theirs[1][2] and theirs[3][1] == "1\n"
    assert theirs[8][1] == "OK\n"


def test_status_reports_a_raised_alarm_in_etcds_words(open_node, etcd_server):
    for endpoint in (f"127.0.0.1:{etcd_server.client_port}", open_node.endpoint):
        raise_no_space(endpoint)
        try:
            status = json.loads(etcdctl(endpoint, "endpoint", "status", "-w", "json").stdout)[0]["Status"]
            assert status["errors"] == [f"memberID:{member_id(endpoint)} alarm:NOSPACE "], endpoint
        finally:
            etcdctl(endpoint, "alarm", "disarm")


def test_the_quota_raises_the_alarm_and_compact_defrag_disarm_recover(tmp_path_factory):
    port, context, _ = start_grpc_node(tmp_path_factory, "--store-auth", "off", "--quota-backend-bytes", "1048576")
    endpoint = f"127.0.0.1:{port}"
    with context:
        value = "x" * 100_000
        refused = None
        for i in range(20):
            ran = etcdctl(endpoint, "put", f"/big/{i}", input=value)
            if ran.returncode != 0:
                refused = ran
                break
        assert refused is not None and "database space exceeded" in refused.stderr, "the quota never refused"
        assert etcdctl(endpoint, "alarm", "list").stdout == f"memberID:{member_id(endpoint)} alarm:NOSPACE \n"
        # disarming alone does not help while the store is still full
        assert etcdctl(endpoint, "del", "/big/", "--prefix").returncode == 0
        revision = json.loads(etcdctl(endpoint, "get", "/big/", "-w", "json").stdout)["header"]["revision"]
        assert etcdctl(endpoint, "compaction", "--physical", str(revision)).returncode == 0
        assert etcdctl(endpoint, "defrag").returncode == 0
        assert etcdctl(endpoint, "alarm", "disarm").returncode == 0
        assert etcdctl(endpoint, "alarm", "list").stdout == ""
        assert etcdctl(endpoint, "put", "/big/again", "small").stdout == "OK\n"


def test_the_config_api_refuses_writes_under_the_alarm_with_507_and_says_why(tmp_path):
    from tests.live.live_support import live_node

    with live_node(tmp_path / "data") as node:
        node.namespace("full/prod")
        endpoint_status = node.admin("POST", "/v3/maintenance/status", {})
        member = endpoint_status[1]["header"]["member_id"]
        status, raised = node.admin("POST", "/v3/maintenance/alarm",
                                    {"action": "ACTIVATE", "memberID": member, "alarm": "NOSPACE"})
        assert status == 200 and raised["alarms"], raised
        status, refused = node.admin("PUT", "/api/v1/namespaces/full/prod/-/items/app.yaml",
                                     {"content": "a: 1\n", "format": "yaml", "revision": 0})
        assert status == 507 and refused["code"] == "store_full", refused
        assert "compacts it, defragments it and disarms the alarm" in refused["message"]
        # reads go on
        assert node.admin("GET", "/api/v1/namespaces/full/prod")[0] == 200
        node.admin("POST", "/v3/maintenance/alarm", {"action": "DEACTIVATE", "memberID": member, "alarm": "NOSPACE"})
        status, _ = node.admin("PUT", "/api/v1/namespaces/full/prod/-/items/app.yaml",
                               {"content": "a: 1\n", "format": "yaml", "revision": 0})
        assert status == 200
