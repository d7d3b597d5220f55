"""etcd's v3 gRPC API: a real etcd 3.4 and our node side by side in one run,
through the same client (``go/src/cctools/loadgen``, a Go clientv3 program
built by setup), every figure also as a ratio ours / etcd.

    .venv/bin/python bench/grpc_bench.py              # about 3 minutes
    .venv/bin/python bench/grpc_bench.py --seconds 10 --fanout 1000,10000

Each system is one member on 127.0.0.1 with its data on the same ordinary
disk (a fresh directory in /tmp), auth off, heartbeat 100 ms, election
timeout 1,000 ms. Measured, each cell ``--seconds`` long (5) after a
1-second warm-up, systems taking turns cell by cell:

- put: 1, 16 and 64 clients (goroutines) over 1, 4 and 4 connections,
  100-byte values over 1,000 keys;
- range: linearizable get of one key of 1,000, 64 clients over 4
  connections;
- watch fan-out: W watchers on one prefix over 8 connections, then 20 puts
  50 ms apart; the delay from each put to its delivery on every watcher;
- the ceiling of the gRPC layer itself: a bare ``grpc.aio`` server on
  uvloop whose ``KV.Put`` answers an empty response at once (no Raft, no
  store), measured the same way, so our figures can be read against what
  Python's gRPC server can do at all on this machine;
- with ``--check-perf``: ``etcdctl check perf --load s`` against each (60 s
  each), as a second client nobody here wrote.

The machine's load average is printed before and after. Results go to
``bench/results/grpc_bench.json``.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
LOADGEN = REPO / ".venv" / "go-bin" / "loadgen"
RESULTS = REPO / "bench" / "results" / "grpc_bench.json"


def free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def wait_port(port: int, process: subprocess.Popen, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"a server exited with {process.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listens on {port} after {timeout} s")


def start_etcd(base: Path) -> tuple[subprocess.Popen, int]:
    client, peer = free_ports(2)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    process = subprocess.Popen([
        shutil.which("etcd"), "--name", "default", "--data-dir", str(base / "etcd"),
        "--listen-client-urls", f"http://127.0.0.1:{client}", "--advertise-client-urls", f"http://127.0.0.1:{client}",
        "--listen-peer-urls", f"http://127.0.0.1:{peer}", "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
        "--initial-cluster", f"default=http://127.0.0.1:{peer}", "--heartbeat-interval", "100",
        "--election-timeout", "1000", "--logger", "zap", "--log-level", "error",
    ], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    wait_port(client, process)
    return process, client


def start_node(base: Path) -> tuple[subprocess.Popen, int]:
    http, peer, grpc_port = free_ports(3)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONFIG_CENTER_")}
    process = subprocess.Popen([
        sys.executable, "manage.py", "runnode", "--data-dir", str(base / "node"), "--listen-client", f"127.0.0.1:{http}",
        "--listen-peer", f"127.0.0.1:{peer}", "--listen-grpc", f"127.0.0.1:{grpc_port}", "--store-auth", "off",
    ], cwd=REPO, stdout=subprocess.DEVNULL, stderr=open(base / "node.log", "wb"), env=env)
    wait_port(grpc_port, process)
    time.sleep(2)  # elected, first admin written
    return process, grpc_port


def start_bare() -> tuple[subprocess.Popen, int]:
    (port,) = free_ports(1)
    process = subprocess.Popen([sys.executable, __file__, "--bare-server", str(port)], cwd=REPO,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_port(port, process)
    return process, port


def serve_bare(port: int) -> None:
    """A ``grpc.aio`` server on uvloop whose KV.Put answers at once."""
    sys.path.insert(0, str(REPO))
    import grpc
    import uvloop

    from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2, rpc_pb2_grpc

    class Bare(rpc_pb2_grpc.KVServicer):
        async def Put(self, request, context):
            return rpc_pb2.PutResponse()

    async def main() -> None:
        server = grpc.aio.server()
        rpc_pb2_grpc.add_KVServicer_to_server(Bare(), server)
        server.add_insecure_port(f"127.0.0.1:{port}")
        await server.start()
        await server.wait_for_termination()

    uvloop.install()
    asyncio.run(main())


def loadgen(*args: str) -> dict:
    done = subprocess.run([str(LOADGEN), *args], capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise RuntimeError(f"loadgen {' '.join(args)} failed: {done.stderr}")
    return json.loads(done.stdout)


def check_perf(port: int) -> str:
    done = subprocess.run(["etcdctl", "--endpoints", f"127.0.0.1:{port}", "check", "perf", "--load", "s"],
                          capture_output=True, text=True, timeout=300, env={"ETCDCTL_API": "3", "PATH": "/usr/bin:/bin"})
    return (done.stdout + done.stderr).strip().splitlines()[-1] if done.stdout + done.stderr else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--fanout", default="1000", help="watcher counts, comma-separated (default 1000)")
    parser.add_argument("--check-perf", action="store_true")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        serve_bare(args.bare_server)
        return
    if not LOADGEN.exists():
        raise SystemExit(f"{LOADGEN} is missing: run ./scripts/setup.sh")
    base = Path(tempfile.mkdtemp(prefix="grpc-bench-", dir="/tmp"))
    load_start = os.getloadavg()
    etcd, etcd_port = start_etcd(base)
    node, node_port = start_node(base)
    bare, bare_port = start_bare()
    s = str(args.seconds)
    cells = [("put", "1", "1"), ("put", "16", "4"), ("put", "64", "4"), ("range", "64", "4")]
    rows = []
    try:
        for mode, clients, connections in cells:
            figures = {}
            for name, port in (("etcd", etcd_port), ("ours", node_port)):
                extra = ["100"] if mode == "put" else []
                loadgen(mode, f"127.0.0.1:{port}", clients, connections, "1", *extra)  # warm-up
                figures[name] = loadgen(mode, f"127.0.0.1:{port}", clients, connections, s, *extra)
            if mode == "put" and clients == "64":
                figures["bare grpc.aio"] = loadgen("put", f"127.0.0.1:{bare_port}", clients, connections, s, "100")
            rows.append((f"{mode}, {clients} clients", figures))
        for watchers in args.fanout.split(","):
            figures = {name: loadgen("watch", f"127.0.0.1:{port}", watchers, "8", "20")
                       for name, port in (("etcd", etcd_port), ("ours", node_port))}
            rows.append((f"watch fan-out, {watchers} watchers", figures))
        perf = {name: check_perf(port) for name, port in (("etcd", etcd_port), ("ours", node_port))} \
            if args.check_perf else {}
    finally:
        for process in (etcd, node, bare):
            process.kill()
        shutil.rmtree(base, ignore_errors=True)
    load_end = os.getloadavg()
    print(f"load average before {load_start}, after {load_end}")
    print("| cell | etcd 3.4 | ours | ours / etcd | p99 ms etcd / ours |")
    print("| --- | --- | --- | --- | --- |")
    for cell, figures in rows:
        etcd_f, ours_f = figures["etcd"], figures["ours"]
        unit = "deliveries/s" if cell.startswith("watch") else "ops/s"
        print(f"| {cell} | {etcd_f['rate']:,.0f} {unit} | {ours_f['rate']:,.0f} | {ours_f['rate'] / etcd_f['rate']:.2f} "
              f"| {etcd_f['p99_ms']:.1f} / {ours_f['p99_ms']:.1f} |")
        if "bare grpc.aio" in figures:
            print(f"| (a bare grpc.aio server, same cell) | | {figures['bare grpc.aio']['rate']:,.0f} | | |")
    for name, line in perf.items():
        print(f"check perf, {name}: {line}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"load_average": [load_start, load_end], "rows": rows, "check_perf": perf}, indent=1))


if __name__ == "__main__":
    main()
