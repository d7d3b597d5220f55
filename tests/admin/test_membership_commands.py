"""``member`` and ``status`` against a 3-member cluster of real processes
(``--store-auth off``: the commands run without credentials): list; add a
learner and start it with the command line ``member add`` printed; promote
it (through the leader, found via the status page); remove it by its
decimal ID; ``status`` lists every member and exits 0, and exits 1 saying
there is no leader once two of the three voters are killed."""
from __future__ import annotations

import io
import os
import shlex
import subprocess
import sys
import time

import pytest
from django.core.management import CommandError, call_command

from tests.faults.cluster import REPO, TOKEN, ProcessCluster
from tests.test_skeleton_runnode import free_port, node_env


def command(*argv: str) -> str:
    out = io.StringIO()
    call_command(*argv, stdout=out)
    return out.getvalue()


def manage(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "manage.py", *argv], cwd=REPO, env=node_env(), capture_output=True,
                          text=True, timeout=60)


def table_rows(text: str) -> dict[str, list[str]]:
    """Rows of a table printed by the commands, by their NAME cell (the
    third column of ``member list``)."""
    lines = text.strip().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("---")) + 1
    return {line.split()[2]: line.split() for line in lines[start:]}


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            result = check()
        except (CommandError, AssertionError) as error:
            last, result = error, None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"{what} within {timeout} s; last: {last}")


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


def test_member_add_promote_remove_and_status(cluster, tmp_path):
    endpoints = ",".join(f"127.0.0.1:{m.client_port}" for m in cluster.members)
    names = {m.name for m in cluster.members}
    listed = wait_for(lambda: (rows := table_rows(command("member", "list", "--endpoints", endpoints)))
                      and set(rows) == names and rows, 15, "every member published its name")
    for m in cluster.members:
        row = listed[m.name]
        assert row[:2] == [format(m.id, "x"), str(m.id)]
        assert row[3:] == [f"tcp://127.0.0.1:{m.advertise_port}", f"http://127.0.0.1:{m.client_port}", "no"]

    # Add a learner; start it exactly as printed (plus the flags every member of this cluster has).
    peer, client = free_port(), free_port()
    out = command(
        "member", "add", "--name", "n4", "--peer-url", f"127.0.0.1:{peer}", "--learner",
        "--data-dir", str(tmp_path / "n4"), "--listen-client", f"127.0.0.1:{client}",
        "--cluster-secret-file", str(cluster.secret_file), "--initial-cluster-token", TOKEN, "--endpoints", endpoints,
    )
    new_hex = out.split("Member ")[1].split()[0]
    new_id = int(new_hex, 16)
    assert f"(decimal {new_id})" in out and "as a learner" in out
    start_line = next(line for line in out.splitlines() if line.strip().startswith("python manage.py runnode"))
    argv = shlex.split(start_line)
    initial_cluster = argv[argv.index("--initial-cluster") + 1].split(",")
    assert sorted(initial_cluster) == sorted(
        [f"{m.name}=127.0.0.1:{m.advertise_port}" for m in cluster.members] + [f"n4=127.0.0.1:{peer}"])
    assert argv[argv.index("--initial-cluster-state") + 1] == "existing"
    assert f"CONFIG_CENTER_INITIAL_CLUSTER={','.join(initial_cluster)}" in out
    argv = [sys.executable, *argv[1:], "--store-auth", "off", "--heartbeat-ms", str(cluster.heartbeat_ms),
            "--election-ms", str(cluster.election_ms)]
    log = open(tmp_path / "n4.log", "wb")
    n4 = subprocess.Popen(argv, cwd=REPO, env=node_env(), stdout=log, stderr=log)
    try:
        rows = wait_for(lambda: (rows := table_rows(command("member", "list", "--endpoints", endpoints)))
                        and "n4" in rows and rows, 20, "the new member started and published its name")
        assert rows["n4"][:2] == [new_hex, str(new_id)] and rows["n4"][-1] == "yes"

        # Promote (refused until it has caught up), by its hex ID.
        out = wait_for(lambda: command("member", "promote", new_hex, "--endpoints", endpoints), 20,
                       "the learner was promoted")
        assert f"n4 ({new_hex}) promoted" in out
        assert table_rows(command("member", "list", "--endpoints", endpoints))["n4"][-1] == "no"

        # status: everyone, one leader, exit status 0.
        result = manage("status", "--endpoints", endpoints)
        assert result.returncode == 0, result.stderr
        assert "leader: n" in result.stdout
        status_rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[4:]}
        assert set(status_rows) == names | {"n4"}
        assert [row[2] for row in status_rows.values()].count("leader") == 1
        assert all(row[-1] == "yes" for row in status_rows.values())

        # Remove it by its decimal ID: it stops.
        out = command("member", "remove", str(new_id), "--endpoints", endpoints)
        assert f"n4 ({new_hex}) removed" in out
        assert set(table_rows(out.split("the members now:\n", 1)[1])) == names
        n4.wait(timeout=20)
    finally:
        if n4.poll() is None:
            n4.kill()
            n4.wait()
        log.close()

    with pytest.raises(CommandError) as caught:
        command("member", "remove", new_hex, "--endpoints", endpoints)
    assert caught.value.returncode == 2 and "no member has the ID" in str(caught.value)

    # Two of three voters gone: no leader, exit status 1.
    for m in cluster.members[1:]:
        m.kill()

    def no_leader():
        result = manage("status", "--endpoints", endpoints)
        return result if result.returncode == 1 else None

    result = wait_for(no_leader, 20, "status reported no leader")
    assert "no leader" in result.stderr
    assert "leader: none" in result.stdout
    assert result.stdout.count(" no\n") + result.stdout.endswith(" no") >= 2  # two members unreachable
