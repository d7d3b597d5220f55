"""Acceptance: the PyPI client etcd3gw (2.7.0, pinned in requirements.txt)
against a running node, as it would use a real etcd 3.4.

etcd3gw finds its API prefix by reading ``etcdserver`` from ``GET
/version`` as a dotted version, so the clients here are built without an
``api_path``: discovery itself must pick ``/v3/`` from the node's answer.
"""
from __future__ import annotations

import time

import etcd3gw
import pytest

from tests.gateway.node_process import request


@pytest.fixture(scope="module")
def client(node):
    return etcd3gw.client(host=node.host, port=node.port, timeout=10)


@pytest.fixture(scope="module")
def other(node):
    return etcd3gw.client(host=node.host, port=node.port, timeout=10)


def test_put_get_delete_and_prefix(client):
    assert client.put("cfg/app/a", "1") is True
    assert client.put("cfg/app/b", b"\x00\xff") is True
    client.put("cfg/other", "x")
    assert client.get("cfg/app/a") == [b"1"]
    assert client.get("cfg/none") == []
    pairs = client.get_prefix("cfg/app/")
    assert [(meta["key"], value) for value, meta in pairs] == [(b"cfg/app/a", b"1"), (b"cfg/app/b", b"\x00\xff")]
    assert all(int(meta["mod_revision"]) > 0 and meta["version"] == "1" for _, meta in pairs)
    assert client.delete("cfg/app/a") is True
    assert client.delete("cfg/app/a") is False
    assert client.get("cfg/app/a") == []
    assert client.delete_prefix("cfg/") is True
    assert client.get_prefix("cfg/") == []


def test_lease_grant_refresh_ttl_and_revoke(client):
    lease = client.lease(ttl=30)
    assert lease.id > 0
    client.put("svc/instance-1", "10.0.0.1", lease=lease)
    assert lease.refresh() == 30
    assert 25 <= lease.ttl() <= 30
    assert lease.keys() == [b"svc/instance-1"]
    assert client.get("svc/instance-1") == [b"10.0.0.1"]
    assert lease.revoke() is True
    assert client.get("svc/instance-1") == []
    assert lease.ttl() == -1
    assert lease.refresh() == -1  # etcd answers a keep-alive of an unknown lease without a TTL


def test_watch_sees_a_put_made_by_another_client(client, other, node):
    events, cancel = client.watch("watched/key")
    try:
        time.sleep(0.3)  # the watch is created by a request in flight; let it arrive
        other.put("watched/key", "v1")
        event = next(events)
        assert event["kv"]["key"] == b"watched/key" and event["kv"]["value"] == b"v1"
        other.delete("watched/key")
        event = next(events)
        assert event["type"] == "DELETE" and event["kv"]["key"] == b"watched/key"
    finally:
        cancel()
    deadline = time.monotonic() + 10
    while request(node.host, node.port, "/v3/maintenance/status").headers["x-config-center-watchers"] != "0":
        assert time.monotonic() < deadline, "the cancelled watch is still in the hub"
        time.sleep(0.05)


def test_watch_once_and_watch_prefix(client, other):
    # (etcd3gw's watch_prefix_once base64-encodes its range end twice and
    # so never sees an event, against a real etcd 3.4 just as here.)
    import threading

    timer = threading.Timer(0.5, lambda: other.put("once/k", "x"))
    timer.start()
    try:
        event = client.watch_once("once/k", timeout=10)
    finally:
        timer.join()
    assert event["kv"]["key"] == b"once/k" and event["kv"]["value"] == b"x"

    events, cancel = client.watch_prefix("prefix/", prev_kv=True)
    try:
        time.sleep(0.3)
        other.put("prefix/a", "1")
        other.put("prefixed", "not in the range")
        other.put("prefix/a", "2")
        first, second = next(events), next(events)
        assert [first["kv"]["value"], second["kv"]["value"]] == [b"1", b"2"]
        assert second["prev_kv"]["value"] == "MQ=="  # etcd3gw decodes kv only
    finally:
        cancel()


def test_transactions(client):
    client.put("txn/k", "old")
    cas = {
        "compare": [{"key": etcd3gw.utils._encode("txn/k"), "result": "EQUAL", "target": "VALUE",
                     "value": etcd3gw.utils._encode("old")}],
        "success": [{"request_put": {"key": etcd3gw.utils._encode("txn/k"), "value": etcd3gw.utils._encode("new")}}],
        "failure": [{"request_range": {"key": etcd3gw.utils._encode("txn/k")}}],
    }
    first = client.transaction(cas)
    assert first["succeeded"] is True and "response_put" in first["responses"][0]
    second = client.transaction(cas)
    assert "succeeded" not in second  # false is left out, as etcd does
    kv = second["responses"][0]["response_range"]["kvs"][0]
    assert etcd3gw.utils._decode(kv["value"]) == b"new"
    assert client.replace("txn/k", "new", "newer") is True
    assert client.replace("txn/k", "new", "x") is False
    assert client.create("txn/fresh", "1") is True
    assert client.create("txn/fresh", "2") is False
    assert client.get("txn/fresh") == [b"1"] and client.get("txn/k") == [b"newer"]


def test_status(client):
    status = client.status()
    assert status["version"] == "3.4.0" and status["leader"] == status["header"]["member_id"]


def test_errors_reach_the_client_as_etcd3gw_exceptions(client):
    with pytest.raises(etcd3gw.exceptions.Etcd3Exception) as info:
        client.put("", "no key")
    assert "key is not provided" in str(info.value.detail_text)


def test_discovery_picks_the_v3_api_from_the_nodes_version(client):
    assert client.api_path.rstrip("/").endswith("/v3")
