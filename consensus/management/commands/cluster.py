"""``manage.py cluster up --size 3``: a local cluster on loopback, for trying
things out and for tests.

Starts ``--size`` ``runnode`` processes, each with its own data dir under
``--base-dir`` (``n1``, ``n2``, ...), consecutive client and peer ports,
and one shared cluster secret (written once to ``BASE_DIR/cluster-secret``).
It prints every member's URLs and the equivalent per-host commands, waits
until a leader is elected, then stays in the foreground: Ctrl-C (or SIGTERM)
stops every member cleanly. Running it again on the same base dir restarts
the same cluster with its data.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from consensus.member_identity import write_secret_file

STARTUP_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
SIZES = (1, 3, 5, 7)


class Command(BaseCommand):
    help = "Run a local cluster on loopback: manage.py cluster up --size 3"

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True)
        up = sub.add_parser("up", help="start a local cluster and keep it in the foreground")
        up.add_argument("--size", type=int, default=3, help="members (1, 3, 5 or 7). Default: 3.")
        up.add_argument("--base-dir", default="./cluster-data", help="parent of the data dirs. Default: ./cluster-data.")
        up.add_argument("--client-port", type=int, default=8000, help="client port of n1; n2 gets the next one, ... Default: 8000.")
        up.add_argument("--peer-port", type=int, default=2380, help="peer port of n1; n2 gets the next one, ... Default: 2380.")
        up.add_argument("--store-auth", choices=("on", "off"), default="on", help="passed to every member. Default: on.")
        up.add_argument("--snapshot-count", default=None, help="passed to every member.")

    def handle(self, *args, **options):
        size = options["size"]
        if size not in SIZES:
            raise CommandError(f"--size: {size} is not one of {', '.join(map(str, SIZES))} (use an odd number of members)")
        for flag in ("client_port", "peer_port"):
            port = options[flag]
            if not 1 <= port <= 65535 - size:
                raise CommandError(f"--{flag.replace('_', '-')}: {port} leaves no room for {size} consecutive ports")
        client_ports = [options["client_port"] + i for i in range(size)]
        peer_ports = [options["peer_port"] + i for i in range(size)]
        if set(client_ports) & set(peer_ports):
            raise CommandError("--client-port and --peer-port ranges overlap; move one of them")
        base = Path(options["base_dir"]).resolve()
        base.mkdir(parents=True, exist_ok=True)
        secret_file = base / "cluster-secret"
        if not secret_file.exists():
            write_secret_file(secret_file)
        names = [f"n{i + 1}" for i in range(size)]
        initial = ",".join(f"{name}=127.0.0.1:{port}" for name, port in zip(names, peer_ports))
        commands = []
        for name, client_port, peer_port in zip(names, client_ports, peer_ports):
            argv = [
                sys.executable, str(Path(sys.argv[0]).resolve()), "runnode", "--name", name,
                "--data-dir", str(base / name), "--listen-client", f"127.0.0.1:{client_port}",
                "--listen-peer", f"127.0.0.1:{peer_port}", "--initial-cluster", initial,
                "--cluster-secret-file", str(secret_file), "--store-auth", options["store_auth"],
            ]
            if options["snapshot_count"]:
                argv += ["--snapshot-count", str(options["snapshot_count"])]
            commands.append(argv)

        processes: list[subprocess.Popen] = []
        stopping = False

        def stop_all(signum=None, frame=None):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, stop_all)
        signal.signal(signal.SIGTERM, stop_all)
        for argv in commands:
            processes.append(subprocess.Popen(argv, start_new_session=True))
        self.stdout.write(f"cluster of {size} in {base} (secret: {secret_file})")
        for name, client_port, peer_port in zip(names, client_ports, peer_ports):
            self.stdout.write(f"  {name}: client http://127.0.0.1:{client_port}  peer tcp://127.0.0.1:{peer_port}  data {base / name}")
        self.stdout.write("the same on separate hosts, one per host:")
        self.stdout.write(
            f"  manage.py runnode --name NAME --data-dir DIR --listen-client HOST:PORT --listen-peer HOST:PORT "
            f"--initial-cluster {initial} --cluster-secret-file FILE"
        )
        try:
            leader = self._wait_for_leader(client_ports, processes, lambda: stopping)
            if leader:
                self.stdout.write(f"leader elected (member {leader}); Ctrl-C stops the cluster")
                self.stdout.flush()
            while not stopping:
                for name, process in zip(names, processes):
                    if process.poll() is not None and not stopping:
                        self.stderr.write(f"{name} exited with status {process.returncode}")
                        processes_alive = [p for p in processes if p.poll() is None]
                        if not processes_alive:
                            raise CommandError("every member exited")
                time.sleep(0.2)
        finally:
            self._stop(processes)
        self.stdout.write("cluster stopped")

    def _wait_for_leader(self, client_ports, processes, stopping) -> str:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while time.monotonic() < deadline and not stopping():
            for process in processes:
                if process.poll() is not None:
                    raise CommandError(f"a member exited with status {process.returncode} during startup")
            for port in client_ports:
                try:
                    request = urllib.request.Request(
                        f"http://127.0.0.1:{port}/v3/maintenance/status", data=b"{}", method="POST",
                    )
                    with urllib.request.urlopen(request, timeout=1) as response:
                        leader = json.loads(response.read()).get("leader")
                        if leader and leader != "0":
                            return leader
                except (urllib.error.URLError, OSError, ValueError):
                    pass
            time.sleep(0.2)
        return ""

    @staticmethod
    def _stop(processes: list[subprocess.Popen]) -> None:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in processes:
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
