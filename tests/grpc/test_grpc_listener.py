"""The node's gRPC listener as an operator meets it: with no flags at all
it is etcd's client port, 127.0.0.1:2379, so ``etcdctl put foo bar`` on
the same host needs no ``--endpoints`` (only ``--user``, store auth being
on); a port that cannot be bound stops the node, naming the flag."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys

import pytest

from tests.grpc.conftest import Ran, root_password
from tests.test_skeleton_runnode import STARTUP_TIMEOUT, free_port, node_env, start, stop, wait_until_serving


def plain_etcdctl(*args: str) -> Ran:
    """etcdctl with no --endpoints: its default, 127.0.0.1:2379."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    env["ETCDCTL_API"] = "3"
    done = subprocess.run([shutil.which("etcdctl"), *args], capture_output=True, text=True, timeout=30, env=env)
    return Ran(done.returncode, done.stdout, done.stderr)


def test_a_node_with_no_flags_answers_etcdctl_on_etcds_client_port(tmp_path):
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 2379)) == 0:
            pytest.fail("something already listens on 127.0.0.1:2379, the port this test needs", pytrace=False)
    data_dir = tmp_path / "data"
    client = free_port()
    # Only what this machine's tests need besides the defaults: the client
    # and peer ports (other tests' nodes may hold 8000 and 2380).
    env = {k: v for k, v in node_env().items() if k != "CONFIG_CENTER_LISTEN_GRPC"}  # the real default
    process = start([sys.executable, "manage.py", "runnode", "--data-dir", str(data_dir),
                     "--listen-client", f"127.0.0.1:{client}", "--listen-peer", f"127.0.0.1:{free_port()}"], env=env)
    try:
        wait_until_serving(process, f"http://127.0.0.1:{client}")
        password = root_password(data_dir)
        refused = plain_etcdctl("put", "foo", "bar")
        assert refused.returncode != 0 and "Error: etcdserver: user name is empty" in refused.stderr
        assert plain_etcdctl(f"--user=root:{password}", "put", "foo", "bar").stdout == "OK\n"
        assert plain_etcdctl(f"--user=root:{password}", "get", "foo").stdout == "foo\nbar\n"
    finally:
        code, _, stderr = stop(process)
    assert code == 0, stderr


def test_a_grpc_port_in_use_stops_the_node_naming_the_flag(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        process = start([sys.executable, "manage.py", "runnode", "--data-dir", str(tmp_path / "data"),
                         "--listen-client", f"127.0.0.1:{free_port()}", "--listen-peer", f"127.0.0.1:{free_port()}",
                         "--listen-grpc", f"127.0.0.1:{port}"])
        _, stderr = process.communicate(timeout=STARTUP_TIMEOUT)
    assert process.returncode == 1, stderr
    assert f"--listen-grpc 127.0.0.1:{port}: cannot listen there" in stderr
