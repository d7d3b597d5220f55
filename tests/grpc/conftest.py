"""Fixtures for the gRPC API tests: a real node serving gRPC, a real etcd
3.4 beside it (``etcd_server``, the differential tests' fixture), and etcdctl 3.4 (Debian's, installed by scripts/setup.sh)
to speak to either.

``etcdctl(endpoint, *args)`` runs ``etcdctl --endpoints ENDPOINT ARGS`` with
``ETCDCTL_API=3`` and a short dial timeout and returns ``(returncode,
stdout, stderr)``; it never skips: without etcdctl the test fails with the
command that installs it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.differential.conftest import etcd_server  # noqa: F401 (the real etcd of a module)
from tests.differential.etcd import INSTALL_HINT
from tests.gateway.node_process import running_node
from tests.test_skeleton_runnode import STARTUP_TIMEOUT, free_port

COMMAND_TIMEOUT = 30.0


@dataclass(frozen=True)
class Ran:
    returncode: int
    stdout: str
    stderr: str


def etcdctl(endpoint: str, *args: str, input: str | None = None, timeout: float = COMMAND_TIMEOUT) -> Ran:
    binary = shutil.which("etcdctl")
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCDCTL")}
    env["ETCDCTL_API"] = "3"
    done = subprocess.run([binary, "--endpoints", endpoint, "--dial-timeout", "5s", *args], input=input,
                          capture_output=True, text=True, timeout=timeout, env=env)
    return Ran(done.returncode, done.stdout, done.stderr)


def root_password(data_dir: Path) -> str:
    """The root password the new member writes once it has bootstrapped auth."""
    deadline = time.monotonic() + STARTUP_TIMEOUT
    while not (data_dir / "root-password").exists():
        assert time.monotonic() < deadline, "the node wrote no root-password file"
        time.sleep(0.1)
    return (data_dir / "root-password").read_text().strip()


@dataclass(frozen=True)
class GrpcNode:
    endpoint: str
    data_dir: Path
    base_url: str
    process: object

    def root_password(self) -> str:
        return root_password(self.data_dir)


def start_grpc_node(tmp_path_factory, *flags: str):
    grpc_port = free_port()
    data_dir = tmp_path_factory.mktemp("grpc-node") / "data"
    return grpc_port, running_node(data_dir, ["--listen-grpc", f"127.0.0.1:{grpc_port}", *flags]), data_dir


@pytest.fixture(scope="module")
def open_node(tmp_path_factory):
    """A node with store auth off, serving gRPC on a port of its own."""
    port, context, data_dir = start_grpc_node(tmp_path_factory, "--store-auth", "off")
    with context as node:
        yield GrpcNode(f"127.0.0.1:{port}", data_dir, node.base_url, node.process)


@pytest.fixture(scope="module")
def locked_node(tmp_path_factory):
    """A node with store auth on (its default), serving gRPC."""
    port, context, data_dir = start_grpc_node(tmp_path_factory)
    with context as node:
        yield GrpcNode(f"127.0.0.1:{port}", data_dir, node.base_url, node.process)
