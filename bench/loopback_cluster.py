"""Clusters of real server processes on loopback, for benchmarks: our
``manage.py runnode`` members and Debian's etcd 3.4, started the same way.

Both systems get the same treatment: ports the kernel hands out at run time
(127.0.0.1 only), a data directory on the same disk, the same heartbeat
(100 ms), election timeout (1,000 ms) and ``--snapshot-count``, auth off
(etcd's default; ``--store-auth off`` for ours), logs in a file beside the
data dir. Requests go to the members' client ports through
``gateway_client``.

Every process started here is recorded in ``PROCESSES``; ``kill_all()``
(called by the benchmark on any exit, Ctrl-C included) SIGKILLs whatever is
still running, and each child also gets ``PR_SET_PDEATHSIG`` so that it dies
with the benchmark even if the benchmark itself is killed with SIGKILL.
"""
from __future__ import annotations

import asyncio
import ctypes
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from gateway_client import HTTPError, call_once

REPO = Path(__file__).resolve().parent.parent
ETCD = "/usr/bin/etcd"
HEARTBEAT_MS = 100
ELECTION_MS = 1000

PROCESSES: list[subprocess.Popen] = []

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    # Runs in the child between fork and exec.
    _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def kill_all() -> None:
    """SIGKILL every process this module started that is still running."""
    for process in PROCESSES:
        if process.poll() is None:
            try:
                process.kill()
                process.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass


def raise_fd_limit() -> None:
    """Allow as many open files as the hard limit: benchmarks with thousands
    of sockets need it, and the members started here inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_ports(count: int) -> list[int]:
    """Distinct ports the kernel just handed out on 127.0.0.1. Another
    process may take one before our server binds it (this machine is
    shared): ``Cluster.start`` retries with new ports if a member fails."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads), from /proc."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # After the command name: state is field 3, utime 14 and stime 15 (1-based).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """CPU seconds all of this machine's cores spent busy since boot (from
    /proc/stat: everything but idle and iowait). Over a window, minus what
    our servers and client used, this is what other people's work took."""
    try:
        with open("/proc/stat") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except OSError:
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def process_rss_mb(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


class StartError(RuntimeError):
    pass


class Member:
    """One server process of either system; ``system`` is "ours" or "etcd"."""

    system = ""

    def __init__(self, cluster: "Cluster", name: str, client_port: int, peer_port: int) -> None:
        self.cluster = cluster
        self.name = name
        self.client_port = client_port
        self.peer_port = peer_port
        self.data_dir = cluster.base / name
        self.log_path = cluster.base / f"{name}.log"
        self.process: subprocess.Popen | None = None
        self.id = 0  # the member ID, once known from its status

    def argv(self, initial_cluster: str, state: str) -> list[str]:
        raise NotImplementedError

    def peer_url(self) -> str:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        return dict(os.environ)

    def start(self, initial_cluster: str, state: str = "new") -> None:
        log = open(self.log_path, "ab")
        try:
            self.process = subprocess.Popen(
                self.argv(initial_cluster, state), cwd=self.cluster.tree, env=self.env(), stdin=subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, preexec_fn=_die_with_parent,
                # Ctrl-C in a terminal reaches only the benchmark, which stops
                # every server itself.
                start_new_session=True,
            )
        finally:
            log.close()
        PROCESSES.append(self.process)

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        return self.process.pid if self.process else 0

    def terminate(self, timeout: float = 30.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``). Returns the exit status."""
        if not self.alive:
            return self.process.returncode if self.process else 0
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def kill(self) -> None:
        if self.alive:
            self.process.kill()
            self.process.wait()

    def cpu_seconds(self) -> float:
        return process_cpu_seconds(self.pid) if self.alive else 0.0

    def rss_mb(self) -> float:
        return process_rss_mb(self.pid) if self.alive else 0.0

    async def status(self, timeout: float = 2.0) -> dict | None:
        """``/v3/maintenance/status``, or None while it does not answer."""
        try:
            return await call_once(self.client_port, "/v3/maintenance/status", {}, timeout=timeout)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HTTPError, ValueError):
            return None

    def log_tail(self, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""


class OurMember(Member):
    system = "ours"

    def argv(self, initial_cluster: str, state: str) -> list[str]:
        return [
            sys.executable, "manage.py", "runnode", "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client", f"127.0.0.1:{self.client_port}", "--listen-peer", f"127.0.0.1:{self.peer_port}",
            "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
            "--cluster-secret-file", str(self.cluster.secret_file), "--store-auth", "off",
            "--listen-grpc", "off",  # this benchmark's client speaks the JSON gateway
            "--heartbeat-ms", str(HEARTBEAT_MS), "--election-ms", str(ELECTION_MS),
            "--snapshot-count", str(self.cluster.snapshot_count),
        ]

    def peer_url(self) -> str:
        return f"127.0.0.1:{self.peer_port}"

    def env(self) -> dict[str, str]:
        # CONFIG_CENTER_* variables would override nothing given as a flag,
        # but could add settings; start from a clean slate.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_CENTER_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env


class EtcdMember(Member):
    system = "etcd"

    def argv(self, initial_cluster: str, state: str) -> list[str]:
        client, peer = f"http://127.0.0.1:{self.client_port}", f"http://127.0.0.1:{self.peer_port}"
        return [
            ETCD, "--name", self.name, "--data-dir", str(self.data_dir),
            "--listen-client-urls", client, "--advertise-client-urls", client,
            "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
            "--initial-cluster", initial_cluster, "--initial-cluster-state", state,
            "--heartbeat-interval", str(HEARTBEAT_MS), "--election-timeout", str(ELECTION_MS),
            "--snapshot-count", str(self.cluster.snapshot_count),
            "--logger", "zap", "--log-level", "info",
        ]

    def peer_url(self) -> str:
        return f"http://127.0.0.1:{self.peer_port}"

    def env(self) -> dict[str, str]:
        # ETCD_* variables would override flags.
        return {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}


class Cluster:
    """``size`` members of one system under ``base`` (``n1``, ``n2``, ...)."""

    def __init__(self, system: str, base: Path, *, snapshot_count: int, tree: Path = REPO) -> None:
        if system not in ("ours", "etcd"):
            raise ValueError(system)
        self.system = system
        # The checkout whose ``manage.py runnode`` runs (ours).
        self.tree = Path(tree)
        self.base = Path(base)
        self.base.mkdir(parents=True, exist_ok=True)
        self.snapshot_count = snapshot_count
        self.secret_file = self.base / "cluster-secret"
        if system == "ours" and not self.secret_file.exists():
            from consensus.member_identity import write_secret_file

            write_secret_file(self.secret_file)
        self.members: list[Member] = []

    def _new_member(self, name: str, client_port: int, peer_port: int) -> Member:
        cls = OurMember if self.system == "ours" else EtcdMember
        return cls(self, name, client_port, peer_port)

    def initial_cluster(self, members: list[Member] | None = None) -> str:
        return ",".join(f"{m.name}={m.peer_url()}" for m in (members or self.members))

    async def start(self, size: int, *, timeout: float = 90.0, attempts: int = 3) -> "Cluster":
        """Start a new cluster of ``size`` members and wait until it serves.
        A member that exits during startup (typically: a port taken by
        another process in the meantime) makes all of them start again on
        new ports in fresh directories."""
        for attempt in range(1, attempts + 1):
            ports = free_ports(2 * size)
            self.members = [self._new_member(f"n{i + 1}", ports[2 * i], ports[2 * i + 1]) for i in range(size)]
            for m in self.members:
                shutil.rmtree(m.data_dir, ignore_errors=True)
            initial = self.initial_cluster()
            for m in self.members:
                m.start(initial, "new")
            try:
                await self.wait_ready(timeout)
                return self
            except StartError as error:
                tails = "\n".join(f"--- {m.name}:\n{m.log_tail()}" for m in self.members)
                for m in self.members:
                    m.kill()
                if attempt == attempts:
                    raise StartError(f"{self.system} cluster did not start: {error}\n{tails}") from None
                print(f"  ({self.system} cluster start failed, retrying on new ports: {error})", flush=True)
        raise AssertionError("unreachable")

    async def wait_ready(self, timeout: float = 90.0, members: list[Member] | None = None) -> Member:
        """Until every member names the same leader and the leader answers a
        linearizable range with 200; returns the leader."""
        members = members or self.members
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for m in members:
                if not m.alive:
                    raise StartError(f"{m.system} member {m.name} exited with status {m.process.returncode}")
            statuses = await asyncio.gather(*(m.status(1.0) for m in members))
            if all(statuses):
                for m, s in zip(members, statuses):
                    m.id = int(s["header"]["member_id"])
                leaders = {s.get("leader", "0") for s in statuses}
                if len(leaders) == 1 and leaders != {"0"}:
                    leader_id = int(leaders.pop())
                    leader = next((m for m in self.members if m.id == leader_id), None)
                    if leader is not None and await serves_linearizable_read(leader.client_port):
                        return leader
            await asyncio.sleep(0.1)
        raise StartError(f"no leader serving within {timeout:.0f} s")

    async def leader(self) -> Member:
        return await self.wait_ready(30.0)

    async def add_member(self, name: str) -> tuple[Member, dict]:
        """``member add`` on the leader (etcd's JSON API, both systems), then
        a new member object on fresh ports (not started). Returns it and the
        add answer."""
        leader = await self.leader()
        client_port, peer_port = free_ports(2)
        member = self._new_member(name, client_port, peer_port)
        answer = await call_once(leader.client_port, "/v3/cluster/member/add", {"peerURLs": [member.peer_url()]}, timeout=10)
        self.members.append(member)
        return member, answer

    def cpu_seconds(self) -> dict[str, float]:
        return {m.name: m.cpu_seconds() for m in self.members}

    def stop(self) -> None:
        for m in self.members:
            m.terminate(timeout=20)


async def serves_linearizable_read(port: int, timeout: float = 2.0) -> bool:
    try:
        await call_once(port, "/v3/kv/range", {"key": "aGVhbHRo"}, timeout=timeout)  # "health"
        return True
    except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError, HTTPError, ValueError):
        return False
