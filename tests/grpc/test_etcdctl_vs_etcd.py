"""etcdctl 3.4 against a real etcd 3.4 and against our node, same commands,
outputs compared.

Each step runs on both; what etcdctl prints (stdout, stderr and exit
status) must be the same, after normalizing only what must differ: lease
IDs (each server picks its own), etcdctl's own JSON log lines (timestamps,
target names; its "Error:" line is kept and compared). Keys live under
``/t/``, away from our node's system keys. Both serve without auth here;
auth is compared in ``test_etcdctl_auth``.
"""
from __future__ import annotations

import re

import pytest

from tests.grpc.conftest import etcdctl

TXN = """\
value("/t/b") = "3"

put /t/b 4
get /t/b

put /t/b never

"""
TXN_FAILS = """\
create("/t/nothing") > "0"

put /t/b never

del /t/b

"""

STEPS: list[tuple[tuple[str, ...], str | None]] = [
    (("put", "/t/a", "1"), None),
    (("put", "/t/b", "2", "--prev-kv"), None),
    (("put", "/t/b", "3", "--prev-kv"), None),
    (("get", "/t/a"), None),
    (("get", "/t/", "--prefix"), None),
    (("get", "/t/", "--prefix", "--keys-only"), None),
    (("get", "/t/", "--from-key", "--keys-only"), None),
    (("get", "/t/", "--prefix", "-w", "simple"), None),
    (("get", "/t/", "--prefix", "--limit", "1"), None),
    (("get", "/t/", "--prefix", "--sort-by", "VALUE", "--order", "DESCEND"), None),
    (("get", "/t/", "--prefix", "--sort-by", "KEY", "--order", "ASCEND", "--print-value-only"), None),
    (("get", "/t/", "--prefix", "--consistency", "s"), None),
    (("get", "/t/a", "/t/c"), None),
    (("get", "/t/missing"), None),
    (("put", "/t/c", "--ignore-value"), None),
    (("put", "/t/a", "--ignore-value"), None),
    (("put", "/t/x", "v", "--lease", "1234abcd"), None),
    (("txn",), TXN),
    (("txn",), TXN_FAILS),
    (("get", "/t/b"), None),
    (("del", "/t/a", "--prev-kv"), None),
    (("del", "/t/missing"), None),
    (("put", "/t/d/1", "x"), None),
    (("put", "/t/d/2", "y"), None),
    (("del", "/t/d/", "--prefix", "--prev-kv"), None),
    (("del", "/t/", "--prefix"), None),
    (("get", "/t/", "--prefix"), None),
    (("lease", "revoke", "1234abcd"), None),
    (("lease", "timetolive", "1234abcd"), None),
    (("lease", "keep-alive", "--once", "1234abcd"), None),
    (("compaction", "999999"), None),
    (("get", "/t/a", "--rev", "999999"), None),
    (("put", "", "empty-key"), None),
    (("get", ""), None),
]

_LOG_LINE = re.compile(r'^\{"level":.*$\n?', re.MULTILINE)
_LEASE_ID = re.compile(r"\b[0-9a-f]{16}\b")


def normalized(text: str) -> str:
    return _LEASE_ID.sub("<lease>", _LOG_LINE.sub("", text))


@pytest.fixture(scope="module")
def outputs(open_node, etcd_server):
    """Every step's output on (etcd, node), in order: the steps depend on
    each other, so they run once, in sequence."""
    ran = []
    for args, stdin in STEPS:
        theirs = etcdctl(f"127.0.0.1:{etcd_server.client_port}", *args, input=stdin)
        ours = etcdctl(open_node.endpoint, *args, input=stdin)
        ran.append((theirs, ours))
    return ran


@pytest.mark.parametrize("step", range(len(STEPS)), ids=[" ".join(args) or "-" for args, _ in STEPS])
def test_etcdctl_prints_what_it_prints_against_etcd(outputs, step):
    theirs, ours = outputs[step]
    assert (ours.returncode, normalized(ours.stdout), normalized(ours.stderr)) == (
        theirs.returncode, normalized(theirs.stdout), normalized(theirs.stderr))


def test_the_steps_did_something(outputs):
    # the comparison above would pass if both sides failed every command alike
    theirs = [t for t, _ in outputs]
    assert sum(t.returncode == 0 for t in theirs) >= 20 and sum(t.returncode != 0 for t in theirs) >= 5
    assert "SUCCESS" in theirs[STEPS.index((("txn",), TXN))].stdout
