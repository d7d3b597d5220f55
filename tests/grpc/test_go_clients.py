"""Go programs written against clientv3 (etcd 3.4.23's, from Debian; built
by setup into .venv/go-bin from go/src/cctools/), run against a real node,
a real etcd 3.4 and a 3-member cluster whose leader is killed mid-run:

- ``registry``: a service registers itself with a lease and keep-alive, a
  discovery client keeps a live list by prefix watch; the service's process
  is killed and the discovery client sees it leave within its TTL;
- ``configwatch``: an app loads a JSON config and watches it; it is cut off
  (a TCP proxy between it and the store drops its connections) while three
  changes are made, and on reconnecting resumes from the revision it last
  saw, applying each change once.
"""
from __future__ import annotations

import queue
import signal
import socket
import subprocess
import threading
import time

import pytest

from tests.faults.cluster import ProcessCluster
from tests.grpc.conftest import etcdctl
from tests.test_skeleton_runnode import REPO

GO_BIN = REPO / ".venv" / "go-bin"
TTL = 3


class Program:
    """A Go program whose output lines are read as they come."""

    def __init__(self, name: str, *args: str) -> None:
        binary = GO_BIN / name
        if not binary.exists():
            pytest.fail(f"{binary} is missing: run ./scripts/setup.sh (it builds go/src/cctools/)", pytrace=False)
        self.process = subprocess.Popen([str(binary), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def wait_for(self, line: str, timeout: float = 20.0) -> float:
        """Seconds until ``line`` is printed (every line read is kept in ``seen``)."""
        started = time.monotonic()
        while True:
            left = timeout - (time.monotonic() - started)
            try:
                got = self.lines.get(timeout=max(left, 0.01))
            except queue.Empty:
                stderr = self.process.stderr.read() if self.process.poll() is not None else "(running)"
                raise AssertionError(f"{line!r} not printed within {timeout} s; printed {self.seen}; "
                                     f"stderr: {stderr}") from None
            self.seen.append(got)
            if got == line:
                return time.monotonic() - started

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)


class CuttableProxy:
    """A TCP proxy on loopback whose connections can be cut and refused for
    a while, as a network that drops a client would."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.up = True
        self.pairs: list[tuple[socket.socket, socket.socket]] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            self.pairs.append((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.close()
            except OSError:
                pass

    def cut(self) -> None:
        self.up = False
        for pair in self.pairs:
            for s in pair:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
        self.pairs.clear()

    def restore(self) -> None:
        self.up = True

    def close(self) -> None:
        self.cut()
        self.listener.close()


def registry_scenario(endpoints: str, control: str, prefix: str) -> list[str]:
    """Two services register, the discovery client lists both, one is
    killed; what the discovery client printed, and the seconds it took to
    see the killed one leave."""
    discovery = Program("registry", "discover", endpoints, prefix)
    services = []
    try:
        discovery.wait_for("list ")
        for i, name in enumerate(("a", "b"), 1):  # one after the other, so the events come in this order
            services.append(Program("registry", "serve", endpoints, prefix, name, f"10.0.0.{i}:80", str(TTL)))
            services[-1].wait_for(f"registered {name}")
            discovery.wait_for(f"up {name}")
        discovery.wait_for("list a,b")
        services[0].kill()
        left_after = discovery.wait_for("down a", timeout=TTL + 10)
        discovery.wait_for("list b")
        assert left_after <= TTL + 2.5, f"the killed service was listed {left_after:.1f} s after its death"
        assert etcdctl(control, "get", prefix + "b", "--print-value-only").stdout == "10.0.0.2:80\n"
        return discovery.seen
    finally:
        for program in [discovery, *services]:
            program.kill()


def test_a_killed_service_leaves_the_discovery_list_within_its_ttl_as_on_etcd(open_node, etcd_server):
    etcd = f"127.0.0.1:{etcd_server.client_port}"
    theirs = registry_scenario(etcd, etcd, "/services/go-etcd/")
    ours = registry_scenario(open_node.endpoint, open_node.endpoint, "/services/go-ours/")
    assert ours == theirs == ["list ", "up a", "list a", "up b", "list a,b", "down a", "list b"]


def configwatch_scenario(endpoint: str, key: str) -> list[str]:
    etcdctl(endpoint, "put", key, '{"version": 1}')
    proxy = CuttableProxy(int(endpoint.rsplit(":", 1)[1]))
    app = Program("configwatch", f"127.0.0.1:{proxy.port}", key)
    try:
        first = app.lines.get(timeout=20)
        app.seen.append(first)
        assert first.startswith("applied ") and first.endswith('{"version":1}'), first
        proxy.cut()
        for version in (2, 3, 4):
            assert etcdctl(endpoint, "put", key, f'{{"version": {version}}}').returncode == 0
        time.sleep(1.0)  # the app notices it is cut off and backs off
        proxy.restore()
        for version in (2, 3, 4):
            line = app.lines.get(timeout=30)
            app.seen.append(line)
            assert line.endswith(f'{{"version":{version}}}'), app.seen
        etcdctl(endpoint, "put", key, "not json")
        app.seen.append(app.lines.get(timeout=20))
        time.sleep(0.5)
        assert app.lines.empty(), f"applied more than once: {app.seen} + {app.lines.get()}"
        assert app.process.poll() is None, app.process.stderr.read()
        revisions = [int(line.split()[1]) for line in app.seen]
        assert revisions == sorted(set(revisions)), revisions
        return [line.split()[0] + " " + " ".join(line.split()[2:]) for line in app.seen]
    finally:
        app.kill()
        proxy.close()


def test_an_app_cut_off_during_three_changes_applies_each_once_as_on_etcd(open_node, etcd_server):
    theirs = configwatch_scenario(f"127.0.0.1:{etcd_server.client_port}", "/config/go-app")
    ours = configwatch_scenario(open_node.endpoint, "/config/go-app")
    assert ours == theirs == ['applied {"version":1}', 'applied {"version":2}', 'applied {"version":3}',
                              'applied {"version":4}', "rejected "]


@pytest.fixture
def cluster(tmp_path):
    c = ProcessCluster(tmp_path, 3)
    try:
        c.start()
        yield c
    finally:
        c.close()


def endpoints_of(cluster: ProcessCluster) -> str:
    return ",".join(f"127.0.0.1:{m.grpc_port}" for m in cluster.members)


def test_go_clients_ride_out_the_leader_being_killed(cluster: ProcessCluster):
    endpoints = endpoints_of(cluster)
    discovery = Program("registry", "discover", endpoints, "/services/c/")
    service = Program("registry", "serve", endpoints, "/services/c/", "svc", "10.0.0.9:80", str(TTL))
    etcdctl(endpoints, "put", "/config/c", '{"version": 1}')
    app = Program("configwatch", endpoints, "/config/c")
    try:
        service.wait_for("registered svc")
        discovery.wait_for("list svc")
        first = app.lines.get(timeout=20)
        assert first.endswith('{"version":1}'), first
        leader = cluster.wait_for_leader()
        leader.kill()
        cluster.wait_for_leader(excluding=leader)
        survivors = ",".join(f"127.0.0.1:{m.grpc_port}" for m in cluster.members if m is not leader)
        for version in (2, 3, 4):
            deadline = time.monotonic() + 20
            while etcdctl(survivors, "put", "/config/c", f'{{"version": {version}}}').returncode != 0:
                assert time.monotonic() < deadline, "the survivors took no write"
        seen = [app.lines.get(timeout=30) for _ in range(3)]
        assert [line.split()[2] for line in seen] == ['{"version":2}', '{"version":3}', '{"version":4}'], seen
        # the service's lease lived through the failover: killing it now is what ends it
        time.sleep(TTL + 1)
        assert "down svc" not in discovery.seen and discovery.lines.empty(), discovery.seen
        service.kill()
        discovery.wait_for("down svc", timeout=TTL + 10)
    finally:
        for program in (discovery, service, app):
            program.kill()
