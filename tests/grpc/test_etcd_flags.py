"""A node started with etcd's own command line: the flag names a script
that starts etcd 3.4 uses, URLs included, and etcdctl answered on the
client URL; an etcd flag with no counterpart is refused by name."""
from __future__ import annotations

import sys

from tests.grpc.conftest import etcdctl
from tests.test_skeleton_runnode import STARTUP_TIMEOUT, free_port, node_env, start, stop, wait_until_serving


def test_a_node_started_with_etcds_flags_serves_etcdctl_on_the_client_url(tmp_path):
    grpc, peer, http = free_port(), free_port(), free_port()
    process = start([
        sys.executable, "manage.py", "runnode", "--name", "infra0", "--data-dir", str(tmp_path / "infra0"),
        "--listen-client-urls", f"http://127.0.0.1:{grpc}", "--listen-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"infra0=http://127.0.0.1:{peer}", "--initial-cluster-token", "etcd-cluster-1",
        "--initial-cluster-state", "new", "--heartbeat-interval", "100", "--election-timeout", "1000",
        "--snapshot-count", "10000", "--quota-backend-bytes", "8589934592", "--max-request-bytes", "2097152",
        "--max-txn-ops", "256",
        "--listen-client", f"127.0.0.1:{http}", "--store-auth", "off",
    ], env=node_env())
    try:
        wait_until_serving(process, f"http://127.0.0.1:{http}")
        assert etcdctl(f"127.0.0.1:{grpc}", "put", "foo", "bar").stdout == "OK\n"
        ops = "".join(f"put k{i} v\n" for i in range(200))
        # 200 ops: above etcd's default of 128, within the 256 given
        txn = etcdctl(f"127.0.0.1:{grpc}", "txn", input=f"\n{ops}\n\n")
        assert txn.returncode == 0 and txn.stdout.startswith("SUCCESS"), txn.stderr
        too_many = "".join(f"put k{i} v\n" for i in range(300))
        refused = etcdctl(f"127.0.0.1:{grpc}", "txn", input=f"\n{too_many}\n\n")
        assert "etcdserver: too many operations in txn request" in refused.stderr
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr


def test_an_etcd_flag_with_no_counterpart_is_refused_by_name(tmp_path):
    process = start([sys.executable, "manage.py", "runnode", "--data-dir", str(tmp_path / "d"),
                     "--enable-v2", "true"], env=node_env())
    _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode != 0 and "--enable-v2" in stderr
