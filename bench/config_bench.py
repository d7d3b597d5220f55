"""The config service's REST API on real nodes: publishes per second and
their latency, and reads of a namespace's live config (50 items).

    python bench/config_bench.py                 # 1 and 3 members, 10 s windows
    python bench/config_bench.py --quick         # 1 member, 3 s windows
    python bench/config_bench.py --sizes 1 --clients 16 --duration 20

Nodes are ``manage.py runnode`` processes on loopback (``loopback_cluster``,
data on an ordinary disk, every fsync real). The client is this process:
keep-alive HTTP/1.1 connections (``gateway_client.Connection``), one per
simulated client, closed loop, authenticated with an API token.

- **publish**: each client owns a namespace; one operation is a draft save
  (``PUT .../-/items/app.yaml``, a 300-byte YAML document that changes every
  time) followed by a publish (``POST .../-/publish``) based on the revision
  the save answered. Counted: publishes per second (each preceded by its
  save), and the latency of the publish request alone and of the pair.
- **read**: ``GET .../-/config`` of one namespace holding 50 published
  items (about 300 bytes each), linearizable, by every client.

Targets (issue 5, one member): >= 500 publishes/s with p99 <= 50 ms, and
>= 2,000 namespace reads/s.
"""
from __future__ import annotations

import argparse
import asyncio
import http.cookiejar
import json
import shutil
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gateway_client import Connection  # noqa: E402
from loopback_cluster import Cluster, kill_all, process_cpu_seconds  # noqa: E402

ITEMS = 50
DOC = "service:\n  name: {name}\n  replicas: {n}\n  limits:\n    cpu: 500m\n    memory: 256Mi\n" \
      "  env:\n    LOG_LEVEL: info\n    FEATURE_FLAGS: alpha,beta,gamma\n    REGION: eu-west-1\n" \
      "  endpoints:\n    - https://api.example.com/v1\n    - https://api.example.com/v2\n" \
      "  notes: padding padding padding padding padding padding padding padding padding\n"


def request(method: str, path: str, token: str, body: dict | None = None) -> bytes:
    data = json.dumps(body).encode() if body is not None else b""
    head = (f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n")
    return head.encode() + data


def admin_token(port: int, data_dirs: list[Path], namespaces: list[str]) -> str:
    """Log in as the first admin, create ``namespaces`` (a token may not)
    and make a write token for everything."""
    deadline = time.monotonic() + 60
    password = None
    while password is None and time.monotonic() < deadline:
        for d in data_dirs:
            if (d / "admin-password").exists():
                password = (d / "admin-password").read_text().strip()
        time.sleep(0.1)
    if password is None:
        raise RuntimeError("no member wrote admin-password")
    base = f"http://127.0.0.1:{port}/api/v1"
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def post(path, body, csrf=None):
        req = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Referer": base,
                                              **({"X-CSRFToken": csrf} if csrf else {})})
        with opener.open(req, timeout=30) as response:
            return json.loads(response.read())

    login = post("/auth/login", {"username": "admin", "password": password})
    for name in namespaces:
        post("/namespaces", {"name": name}, login["csrf_token"])
    return post("/tokens", {"name": "bench", "namespaces": "*", "access": "write"}, login["csrf_token"])["token"]


async def call(conn: Connection, method: str, path: str, token: str, body: dict | None = None) -> dict:
    status, raw = await conn.send(request(method, path, token, body))
    if status not in (200, 201):
        raise RuntimeError(f"{method} {path}: HTTP {status} {raw[:300]!r}")
    return json.loads(raw)


async def setup(port: int, token: str) -> None:
    conn = Connection(port)
    try:
        for i in range(ITEMS):
            await call(conn, "PUT", f"/api/v1/namespaces/bench/read/-/items/item-{i:02d}.yaml", token,
                       {"content": DOC.format(name=f"item-{i}", n=i)})
        ns = await call(conn, "GET", "/api/v1/namespaces/bench/read", token)
        await call(conn, "POST", "/api/v1/namespaces/bench/read/-/publish", token, {"revision": ns["revision"]})
    finally:
        conn.close()


async def window(port: int, clients: int, warmup: float, duration: float, work) -> dict:
    """``clients`` closed loops of ``work(conn, i, seq) -> latencies`` over a
    warm-up and a measured window."""
    start = time.perf_counter()
    opened, closed = start + warmup, start + warmup + duration
    samples: list[list[float]] = []

    async def loop(i: int) -> None:
        conn = Connection(port)
        seq = 0
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= closed:
                    return
                parts = await work(conn, i, seq)
                seq += 1
                if t0 >= opened and time.perf_counter() <= closed:
                    samples.append(parts)
        finally:
            conn.close()

    await asyncio.gather(*(loop(i) for i in range(clients)))
    return {"count": len(samples), "rate": len(samples) / duration, "samples": samples}


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p))] * 1000 if values else float("nan")


async def measure(cluster: Cluster, args) -> dict:
    leader = await cluster.leader()
    port = leader.client_port
    names = [f"bench/pub-{i}" for i in range(args.clients)] + ["bench/read"]
    token = admin_token(port, [m.data_dir for m in cluster.members], names)
    await setup(port, token)

    # The live item's revision: what each client's next edit is based on.
    item_revision = [0] * args.clients

    async def publish(conn: Connection, i: int, seq: int) -> list[float]:
        t0 = time.perf_counter()
        saved = await call(conn, "PUT", f"/api/v1/namespaces/bench/pub-{i}/-/items/app.yaml", token,
                           {"content": DOC.format(name=f"pub-{i}", n=seq), "revision": item_revision[i]})
        t1 = time.perf_counter()
        release = await call(conn, "POST", f"/api/v1/namespaces/bench/pub-{i}/-/publish", token,
                             {"revision": saved["revision"], "comment": f"bench {seq}"})
        t2 = time.perf_counter()
        item_revision[i] = release["revision"]
        return [t2 - t1, t2 - t0]

    async def read(conn: Connection, i: int, seq: int) -> list[float]:
        t0 = time.perf_counter()
        status, raw = await conn.send(request("GET", "/api/v1/namespaces/bench/read/-/config", token))
        if status != 200:
            raise RuntimeError(f"read: HTTP {status}")
        return [time.perf_counter() - t0]

    out = {}
    for name, work in (("publish", publish), ("read", read)):
        cpu0 = sum(process_cpu_seconds(m.pid) for m in cluster.members)
        result = await window(port, args.clients, args.warmup, args.duration, work)
        cpu = (sum(process_cpu_seconds(m.pid) for m in cluster.members) - cpu0) / (args.warmup + args.duration)
        first = [s[0] for s in result["samples"]]
        out[name] = {"rate": result["rate"], "p50_ms": pct(first, 0.5), "p99_ms": pct(first, 0.99),
                     "server_cpu": cpu}
        if name == "publish":
            pair = [s[1] for s in result["samples"]]
            out[name].update(pair_p50_ms=pct(pair, 0.5), pair_p99_ms=pct(pair, 0.99))
    return out


async def main_async(args) -> dict:
    base = Path(tempfile.mkdtemp(prefix="config-bench-", dir=args.dir))
    results = {}
    try:
        for size in args.sizes:
            cluster = Cluster("ours", base / f"size{size}", snapshot_count=10_000)
            await cluster.start(size)
            try:
                results[size] = await measure(cluster, args)
            finally:
                for m in cluster.members:
                    m.terminate()
            r = results[size]
            print(f"{size} member(s), {args.clients} clients: "
                  f"publish {r['publish']['rate']:,.0f}/s (p50 {r['publish']['p50_ms']:.1f} ms, "
                  f"p99 {r['publish']['p99_ms']:.1f} ms; save+publish p99 {r['publish']['pair_p99_ms']:.1f} ms; "
                  f"server CPU {r['publish']['server_cpu']:.2f}), "
                  f"read of 50 items {r['read']['rate']:,.0f}/s (p50 {r['read']['p50_ms']:.1f} ms, "
                  f"p99 {r['read']['p99_ms']:.1f} ms; server CPU {r['read']['server_cpu']:.2f})", flush=True)
    finally:
        kill_all()
        shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--duration", type=float)
    parser.add_argument("--warmup", type=float)
    parser.add_argument("--dir", help="parent of the data dirs (default /tmp)")
    parser.add_argument("--json", help="where to write the results")
    args = parser.parse_args()
    args.sizes = args.sizes or ([1] if args.quick else [1, 3])
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (1.0 if args.quick else 2.0)
    results = asyncio.run(main_async(args))
    target = results.get(1)
    if target:
        pub, read = target["publish"], target["read"]
        print("targets (1 member):")
        print(f"  {'met' if pub['rate'] >= 500 else 'MISSED':6} publishes/s >= 500: {pub['rate']:,.0f}")
        print(f"  {'met' if pub['p99_ms'] <= 50 else 'MISSED':6} publish p99 <= 50 ms: {pub['p99_ms']:.1f}")
        print(f"  {'met' if read['rate'] >= 2000 else 'MISSED':6} namespace reads/s >= 2,000: {read['rate']:,.0f}")
    path = Path(args.json or Path(__file__).parent / "results" / ("config_bench-quick.json" if args.quick
                                                                  else "config_bench.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({str(k): v for k, v in results.items()}, indent=2))


if __name__ == "__main__":
    main()
