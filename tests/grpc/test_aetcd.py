"""Acceptance: aetcd, a Python gRPC client from PyPI, against a running
node, the same scenarios as the etcd3gw test over the JSON gateway
(``aetcd_scenario``, run in a process of its own; its docstring says why).
Once with store auth off, once as root with it on."""
from __future__ import annotations

import subprocess
import sys

from tests.test_skeleton_runnode import REPO

SCENARIOS = ["put_get_delete_and_prefix", "transaction", "lease", "watch", "lock"]


def run_scenarios(endpoint: str, *credentials: str) -> subprocess.CompletedProcess:
    host, port = endpoint.rsplit(":", 1)
    return subprocess.run([sys.executable, "-m", "tests.grpc.aetcd_scenario", host, port, *credentials],
                          cwd=REPO, capture_output=True, text=True, timeout=120)


def test_aetcd_scenarios_pass_against_an_open_node(open_node):
    done = run_scenarios(open_node.endpoint)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split("\n")[:-1] == [f"{name} passed" for name in SCENARIOS]


def test_aetcd_scenarios_pass_as_root_and_nobody_gets_in_without_a_password(locked_node):
    done = run_scenarios(locked_node.endpoint, "root", locked_node.root_password())
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.split("\n")[:-1] == [f"{name} passed" for name in SCENARIOS]
    refused = run_scenarios(locked_node.endpoint, "root", "not-the-password")
    assert refused.returncode != 0 and "authentication failed" in refused.stderr
