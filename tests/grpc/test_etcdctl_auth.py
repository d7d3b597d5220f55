"""etcdctl's auth against a real etcd 3.4 with auth enabled and against our
node, whose store auth is on from its first moment: the same users, roles
and permission checks, printed the same.

etcd is given a root user and ``auth enable`` first (ours has both from
bootstrap, the password in DATA_DIR/root-password); then both run the same
steps as root, and as a user with a read-only role.
"""
from __future__ import annotations

import pytest

from tests.grpc.conftest import etcdctl
from tests.grpc.test_etcdctl_vs_etcd import normalized

ETCD_ROOT_PASSWORD = "root-secret"

# (as whom, args): "root", "alice" (password alice-pw, role reader), or "nobody" (no --user)
STEPS: list[tuple[str, tuple[str, ...]]] = [
    ("nobody", ("put", "/a/k", "v")),
    ("root", ("put", "/a/k", "v")),
    ("root", ("get", "/a/k")),
    ("root", ("role", "add", "reader")),
    ("root", ("role", "add", "reader")),
    ("root", ("role", "grant-permission", "reader", "read", "/a/", "--prefix")),
    ("root", ("role", "grant-permission", "reader", "write", "/a/w")),
    ("root", ("role", "get", "reader")),
    ("root", ("role", "list")),
    ("root", ("user", "add", "alice:alice-pw")),
    ("root", ("user", "add", "alice:again")),
    ("root", ("user", "grant-role", "alice", "reader")),
    ("root", ("user", "grant-role", "alice", "missing")),
    ("root", ("user", "get", "alice")),
    ("root", ("user", "list")),
    ("alice", ("get", "/a/k")),
    ("alice", ("put", "/a/k", "no")),
    ("alice", ("put", "/a/w", "yes")),
    ("alice", ("get", "/b/k")),
    ("alice", ("user", "list")),
    ("root", ("role", "revoke-permission", "reader", "/a/w")),
    ("alice", ("put", "/a/w", "no more")),
    ("root", ("user", "revoke-role", "alice", "reader")),
    ("alice", ("get", "/a/k")),
    ("root", ("user", "passwd", "alice", "--interactive=false")),
    ("root", ("user", "delete", "alice")),
    ("root", ("user", "delete", "alice")),
    ("root", ("role", "delete", "reader")),
    ("root", ("role", "get", "reader")),
    ("wrong", ("get", "/a/k")),
]


def run_steps(endpoint: str, root_password: str) -> list[tuple[int, str, str]]:
    printed = []
    for who, args in STEPS:
        user = {"root": [f"--user=root:{root_password}"], "alice": ["--user=alice:alice-pw"],
                "wrong": ["--user=root:not-the-password"], "nobody": []}[who]
        stdin = "new-pw\n" if "passwd" in args else None
        ran = etcdctl(endpoint, *user, *args, input=stdin)
        printed.append((ran.returncode, normalized(ran.stdout), normalized(ran.stderr)))
    return printed


@pytest.fixture(scope="module")
def outputs(locked_node, etcd_server):
    theirs_endpoint = f"127.0.0.1:{etcd_server.client_port}"
    assert etcdctl(theirs_endpoint, "user", "add", f"root:{ETCD_ROOT_PASSWORD}").returncode == 0
    assert etcdctl(theirs_endpoint, "auth", "enable").returncode == 0
    try:
        theirs = run_steps(theirs_endpoint, ETCD_ROOT_PASSWORD)
        ours = run_steps(locked_node.endpoint, locked_node.root_password())
    finally:
        etcdctl(theirs_endpoint, f"--user=root:{ETCD_ROOT_PASSWORD}", "auth", "disable")
    return theirs, ours


@pytest.mark.parametrize("step", range(len(STEPS)), ids=[f"{who} {' '.join(args)}" for who, args in STEPS])
def test_etcdctl_auth_prints_what_it_prints_against_etcd(outputs, step):
    theirs, ours = outputs
    assert ours[step] == theirs[step]


def test_the_auth_steps_were_refused_and_allowed_as_meant(outputs):
    theirs, _ = outputs
    codes = [code for code, _, _ in theirs]
    assert codes[0] != 0 and codes[1] == 0 and codes[16] != 0 and codes[17] == 0 and codes[-1] != 0
    assert "permission denied" in theirs[16][2] and "user name is empty" in theirs[0][2]
