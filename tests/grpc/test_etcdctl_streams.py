"""etcdctl's streaming and lease commands against a real etcd 3.4 and our
node: the same scenario on each, outputs compared after normalizing lease
IDs (each server picks its own) and etcdctl's JSON log lines.

- leases: grant, a key put with it, timetolive --keys, keep-alive --once,
  list, revoke (the key goes with it);
- watch: ``etcdctl watch --prefix`` in the background sees puts and a
  delete, in order, with ``--prev-kv``; ``--rev`` replays history;
- ``watch -i`` with a progress request.
"""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from tests.grpc.conftest import etcdctl
from tests.grpc.test_etcdctl_vs_etcd import normalized

_GRANTED = re.compile(r"lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)")
_REMAINING = re.compile(r"remaining\((\d+)s\)")


def lease_scenario(endpoint: str, prefix: str) -> list[str]:
    """What etcdctl prints through the lease commands, in order."""
    printed = []
    granted = etcdctl(endpoint, "lease", "grant", "60")
    printed.append(normalized(granted.stdout))
    lease = _GRANTED.search(granted.stdout).group(1)
    printed.append(normalized(etcdctl(endpoint, "put", f"{prefix}/k", "v", "--lease", lease).stdout))
    ttl = etcdctl(endpoint, "lease", "timetolive", lease, "--keys").stdout
    remaining = int(_REMAINING.search(ttl).group(1))
    assert 55 <= remaining <= 60, ttl
    printed.append(_REMAINING.sub("remaining(N)", normalized(ttl)))
    printed.append(normalized(etcdctl(endpoint, "lease", "keep-alive", "--once", lease).stdout))
    listed = etcdctl(endpoint, "lease", "list").stdout
    assert lease in listed, listed
    printed.append(normalized(etcdctl(endpoint, "lease", "revoke", lease).stdout))
    printed.append(normalized(etcdctl(endpoint, "get", f"{prefix}/k").stdout))
    printed.append(normalized(etcdctl(endpoint, "lease", "timetolive", lease).stdout))
    return printed


def test_lease_commands_print_what_they_print_against_etcd(open_node, etcd_server):
    theirs = lease_scenario(f"127.0.0.1:{etcd_server.client_port}", "/lease")
    ours = lease_scenario(open_node.endpoint, "/lease")
    assert ours == theirs
    assert "granted with TTL(60s)" in theirs[0] and "keepalived with TTL(60)" in theirs[3]
    assert "attached keys([/lease/k])" in theirs[2] and theirs[5] == ""


def watch_scenario(endpoint: str, prefix: str) -> tuple[str, str]:
    """``watch --prefix --prev-kv`` while three changes are made, and a
    ``watch --rev`` replay of the same changes afterwards."""
    start = etcdctl(endpoint, "put", f"{prefix}/start", "0", "-w", "json").stdout
    first = int(re.search(r'"revision":(\d+)', start).group(1)) + 1
    watcher = subprocess.Popen(
        ["etcdctl", "--endpoints", endpoint, "watch", f"{prefix}/", "--prefix", "--prev-kv"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    )
    try:
        time.sleep(1.0)  # the watch is created before the changes (a later start would miss them)
        etcdctl(endpoint, "put", f"{prefix}/a", "1")
        etcdctl(endpoint, "put", f"{prefix}/a", "2")
        etcdctl(endpoint, "del", f"{prefix}/a")
        time.sleep(1.0)
    finally:
        watcher.terminate()
        live, _ = watcher.communicate(timeout=10)
    replay = subprocess.Popen(
        ["etcdctl", "--endpoints", endpoint, "watch", f"{prefix}/a", "--rev", str(first)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    )
    time.sleep(1.5)
    replay.terminate()
    replayed, _ = replay.communicate(timeout=10)
    return live, replayed


def test_watch_prints_what_it_prints_against_etcd(open_node, etcd_server):
    theirs = watch_scenario(f"127.0.0.1:{etcd_server.client_port}", "/watch")
    ours = watch_scenario(open_node.endpoint, "/watch")
    assert ours == theirs
    assert theirs[0] == "PUT\n/watch/a\n1\nPUT\n/watch/a\n1\n/watch/a\n2\nDELETE\n/watch/a\n2\n/watch/a\n\n"
    assert theirs[1] == "PUT\n/watch/a\n1\nPUT\n/watch/a\n2\nDELETE\n/watch/a\n\n"


def test_interactive_watch_answers_a_progress_request(open_node):
    watcher = subprocess.Popen(
        ["etcdctl", "--endpoints", open_node.endpoint, "watch", "-i"], stdin=subprocess.PIPE,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"},
    )
    try:
        watcher.stdin.write("watch /interactive/k\n")
        watcher.stdin.flush()
        time.sleep(1.0)
        etcdctl(open_node.endpoint, "put", "/interactive/k", "v")
        watcher.stdin.write("progress\n")
        watcher.stdin.flush()
        time.sleep(1.0)
    finally:
        watcher.terminate()
        out, _ = watcher.communicate(timeout=10)
    assert out.startswith("PUT\n/interactive/k\nv\n"), out
    assert re.search(r"progress notify: \d+", out), out
