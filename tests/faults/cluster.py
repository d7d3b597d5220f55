"""A cluster of real ``runnode`` processes on loopback, with faults on demand.

Each member gets a data dir, a client port, a peer listener port and an
advertised peer port served by the test's ``FaultProxy`` (partitions). The
test can SIGKILL, SIGSTOP/SIGCONT, stop and restart members, wipe a data
dir, and cut links. Members run with ``--store-auth off``: these tests are
about replication, and auth has tests of its own.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from consensus.cluster.members import normalize_peer_url
from consensus.member_identity import initial_member_id, write_secret_file

from .proxy import FaultProxy

REPO = Path(__file__).resolve().parents[2]
TOKEN = "fault-tests"


def free_ports(count: int) -> list[int]:
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def b64(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


class Client:
    """A keep-alive JSON client of one member's etcd gateway."""

    def __init__(self, port: int, timeout: float = 5.0) -> None:
        self.port = port
        self.timeout = timeout
        self._conn: http.client.HTTPConnection | None = None

    def call(self, path: str, body: dict) -> tuple[int, dict]:
        """(HTTP status, JSON body). Raises OSError/http.client errors when the
        outcome is unknown (connection lost, timeout)."""
        if self._conn is None:
            self._conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
        try:
            self._conn.request("POST", path, json.dumps(body), {"Content-Type": "application/json"})
            response = self._conn.getresponse()
            data = response.read()
            return response.status, json.loads(data) if data else {}
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class Member:
    def __init__(self, cluster: "ProcessCluster", index: int, client_port: int, peer_port: int, advertise_port: int,
                 grpc_port: int) -> None:
        self.cluster = cluster
        self.name = f"n{index + 1}"
        self.client_port = client_port
        self.grpc_port = grpc_port
        self.peer_port = peer_port
        self.advertise_port = advertise_port
        self.data_dir = cluster.base / self.name
        self.id = initial_member_id(self.name, normalize_peer_url(f"127.0.0.1:{advertise_port}"), TOKEN)
        self.process: subprocess.Popen | None = None
        self.log_path = cluster.base / f"{self.name}.log"
        self.paused = False

    def argv(self, state: str = "new") -> list[str]:
        return [
            sys.executable, "manage.py", "runnode", "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client", f"127.0.0.1:{self.client_port}", "--listen-peer", f"127.0.0.1:{self.peer_port}",
            "--listen-grpc", f"127.0.0.1:{self.grpc_port}",
            "--advertise-peer", f"127.0.0.1:{self.advertise_port}", "--initial-cluster", self.cluster.initial_cluster,
            "--initial-cluster-state", state, "--initial-cluster-token", TOKEN,
            "--cluster-secret-file", str(self.cluster.secret_file), "--store-auth", "off",
            "--heartbeat-ms", str(self.cluster.heartbeat_ms), "--election-ms", str(self.cluster.election_ms),
            "--snapshot-count", str(self.cluster.snapshot_count),
            "--snapshot-catchup-entries", str(self.cluster.snapshot_catchup_entries),
        ]

    def start(self, state: str = "new") -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_CENTER_")}
        env["PYTHONUNBUFFERED"] = "1"
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(self.argv(state), cwd=REPO, env=env, stdout=log, stderr=log)
        self.paused = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        if self.alive:
            if self.paused:
                self.process.send_signal(signal.SIGCONT)
            self.process.kill()
            self.process.wait(timeout=10)
        self.paused = False

    def stop(self) -> int:
        if not self.alive:
            return self.process.returncode if self.process else 0
        if self.paused:
            self.resume()
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise AssertionError(f"{self.name} did not stop within 20 s of SIGTERM")

    def pause(self) -> None:
        self.process.send_signal(signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)
        self.paused = False

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)

    def status(self, timeout: float = 2.0) -> dict | None:
        try:
            code, body = Client(self.client_port, timeout).call("/v3/maintenance/status", {})
        except (OSError, http.client.HTTPException, ValueError):
            return None
        return body if code == 200 else None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


class ProcessCluster:
    def __init__(self, base: Path, size: int = 3, *, snapshot_count: int = 10_000,
                 snapshot_catchup_entries: int = 5000, heartbeat_ms: int = 50, election_ms: int = 500) -> None:
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.snapshot_count = snapshot_count
        self.snapshot_catchup_entries = snapshot_catchup_entries
        self.heartbeat_ms = heartbeat_ms
        self.election_ms = election_ms
        self.secret_file = self.base / "cluster-secret"
        if not self.secret_file.exists():
            write_secret_file(self.secret_file)
        ports = free_ports(4 * size)
        self.members = [Member(self, i, *ports[4 * i: 4 * i + 4]) for i in range(size)]
        self.initial_cluster = ",".join(f"{m.name}=127.0.0.1:{m.advertise_port}" for m in self.members)
        self.proxy = FaultProxy()
        for m in self.members:
            self.proxy.listen(m.advertise_port, m.peer_port)

    def start(self) -> "ProcessCluster":
        for m in self.members:
            m.start()
        self.wait_for_leader()
        return self

    def close(self) -> None:
        for m in self.members:
            try:
                m.kill()
            except Exception:
                pass
        self.proxy.close()

    def member_by_id(self, member_id: int) -> Member | None:
        return next((m for m in self.members if m.id == member_id), None)

    def leader(self) -> Member | None:
        """The member a majority of the reachable members name as leader."""
        votes: dict[int, int] = {}
        for m in self.members:
            if m.alive and not m.paused:
                status = m.status(timeout=1.0)
                if status and int(status.get("leader", 0)):
                    votes[int(status["leader"])] = votes.get(int(status["leader"]), 0) + 1
        if not votes:
            return None
        leader_id, count = max(votes.items(), key=lambda kv: kv[1])
        return self.member_by_id(leader_id) if count >= 1 else None

    def wait_for_leader(self, timeout: float = 30.0, *, excluding: Member | None = None) -> Member:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in self.members:
                if m.process is not None and not m.alive and m.process.returncode not in (0, -9, -15):
                    raise AssertionError(f"{m.name} exited with {m.process.returncode}:\n{m.log_tail()}")
            leader = self.leader()
            if leader is not None and leader is not excluding and leader.alive and not leader.paused:
                return leader
            time.sleep(0.1)
        logs = "\n".join(f"--- {m.name}\n{m.log_tail(15)}" for m in self.members)
        raise AssertionError(f"no leader within {timeout} s\n{logs}")

    def wait_until_applied_everywhere(self, timeout: float = 60.0) -> list[dict]:
        """Until every running member has applied the leader's commit index
        (as of when it is first read); returns their statuses."""
        deadline = time.monotonic() + timeout
        target = None
        while time.monotonic() < deadline:
            leader = self.leader()
            if leader is not None:
                status = leader.status()
                if status is not None:
                    target = target or int(status["raftIndex"])
                    statuses = [m.status() for m in self.members if m.alive]
                    if all(s is not None and int(s.get("raftAppliedIndex", 0)) >= target for s in statuses):
                        return statuses
            time.sleep(0.2)
        raise AssertionError(f"members did not all apply index {target} within {timeout} s")
