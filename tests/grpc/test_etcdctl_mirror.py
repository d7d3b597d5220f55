"""``etcdctl make-mirror`` (clientv3's mirror package: a Sync of the
prefix at one revision, then a watch from the next) between a real etcd
3.4 and our node, both ways: what is there is copied, what follows is
mirrored as it happens."""
from __future__ import annotations

import subprocess
import time

from tests.grpc.conftest import etcdctl


def mirror_between(source: str, dest: str, prefix: str) -> None:
    etcdctl(source, "put", f"{prefix}before", "1")
    mirror = subprocess.Popen(["etcdctl", "--endpoints", source, "make-mirror", "--prefix", prefix, dest],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    try:
        expected = f"{prefix}before\n1\n"
        for attempt, (key, value) in enumerate([(None, None), ("after", "2"), ("after", "3")]):
            if key is not None:
                etcdctl(source, "put", f"{prefix}{key}", value)
                expected = f"{prefix}after\n{value}\n{prefix}before\n1\n"
            deadline = time.monotonic() + 15
            while (got := etcdctl(dest, "get", prefix, "--prefix").stdout) != expected and time.monotonic() < deadline:
                time.sleep(0.2)
            assert got == expected, (attempt, got, mirror.poll())
        etcdctl(source, "del", f"{prefix}after")
        deadline = time.monotonic() + 15
        while etcdctl(dest, "get", f"{prefix}after").stdout and time.monotonic() < deadline:
            time.sleep(0.2)
        assert etcdctl(dest, "get", f"{prefix}after").stdout == ""
    finally:
        mirror.terminate()
        mirror.communicate(timeout=10)


def test_make_mirror_from_our_node_to_etcd(open_node, etcd_server):
    mirror_between(open_node.endpoint, f"127.0.0.1:{etcd_server.client_port}", "/mirror-a/")


def test_make_mirror_from_etcd_to_our_node(open_node, etcd_server):
    mirror_between(f"127.0.0.1:{etcd_server.client_port}", open_node.endpoint, "/mirror-b/")
