"""Live delivery on real nodes: publish -> receipt latency over websockets
with many subscribers, memory per idle subscriber, and the service
registry's registrations and keep-alives per second.

    python bench/live_bench.py                      # 1,000 and 10,000 subscribers on 1 member, then 3 members
    python bench/live_bench.py --quick              # 1,000 on 1 member, fewer publishes
    python bench/live_bench.py --subscribers 2000 --sizes 3

Nodes are ``manage.py runnode`` processes on loopback (``loopback_cluster``,
store auth off, every fsync real). Subscribers are ``ws_swarm.py``
processes (``--swarms`` of them, each with its share of the connections,
spread over every member): each opens its websockets to
``/ws/v1/config``, subscribes to one namespace and notes when each
``change`` arrives. The publisher saves a draft and publishes it through
the REST API with a token, ``--publishes`` times, one every ``--gap``
seconds; a publish's latency to a subscriber is from just before the
publish request was sent (the draft is saved before) to when that
subscriber had the change (both ``time.monotonic()``, system-wide), so it
includes the publish itself: its transaction committed and applied. Every receipt counts: p50/p99/max over
all (publish, subscriber) pairs; ``delivered`` is the share of pairs that
arrived at all (it must be 1.0).

Memory per idle subscriber: the growth of the members' RSS from before the
subscribers connected to when all had their snapshot, divided by their
number.

Registry: ``--clients`` closed loops over keep-alive HTTP connections
register instances (a lease grant and a put each), then renew their leases
(``.../keepalive``), each for ``--duration`` seconds.

All of it shares the machine's two cores: the swarms' own CPU is on the
same cores as the node's.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from config_bench import admin_token, call, pct, request, window  # noqa: E402
from gateway_client import Connection  # noqa: E402
from loopback_cluster import Cluster, kill_all, process_cpu_seconds, raise_fd_limit  # noqa: E402

NAMESPACE = "bench/live"
SWARM = Path(__file__).resolve().parent / "ws_swarm.py"


async def publish_once(conn: Connection, token: str, n: int, item_revision: int) -> tuple[float, dict]:
    """Save a draft and publish it; when the publish request was sent, and
    the release."""
    saved = await call(conn, "PUT", f"/api/v1/namespaces/{NAMESPACE}/-/items/app.yaml", token,
                       {"content": f"version: {n}\n", "revision": item_revision})
    t0 = time.monotonic()
    release = await call(conn, "POST", f"/api/v1/namespaces/{NAMESPACE}/-/publish", token,
                         {"revision": saved["revision"], "comment": f"bench {n}"})
    return t0, release


async def subscribers_run(cluster: Cluster, token: str, args, count: int) -> dict:
    ports = [m.client_port for m in cluster.members]
    leader = await cluster.leader()
    conn = Connection(leader.client_port)
    status, raw = await conn.send(request("GET", f"/api/v1/namespaces/{NAMESPACE}/-/items/app.yaml", token))
    item_revision = json.loads(raw)["revision"] if status == 200 else 0  # a run before this one published it
    _, release = await publish_once(conn, token, 0, item_revision)
    item_revision = release["revision"]
    rss_before = sum(m.rss_mb() for m in cluster.members)
    per_swarm = [count // args.swarms + (1 if i < count % args.swarms else 0) for i in range(args.swarms)]
    swarms = [subprocess.Popen([sys.executable, str(SWARM), "--ports", ",".join(map(str, ports)), "--token", token,
                                "--namespace", NAMESPACE, "--count", str(n)] + (["--deflate"] if args.deflate else []),
                               stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True) for n in per_swarm if n]
    started = time.monotonic()
    for swarm in swarms:
        line = await asyncio.to_thread(swarm.stdout.readline)
        if not line.startswith("ready"):
            raise RuntimeError(f"a swarm failed to connect its subscribers: {line!r}")
    connect_s = time.monotonic() - started
    await asyncio.sleep(2)  # let the members settle (GC, buffers) before reading RSS
    rss_after = sum(m.rss_mb() for m in cluster.members)
    conn.close()  # idle for longer than the server's keep-alive timeout by now
    conn = Connection(leader.client_port)
    sent: dict[int, float] = {}
    cpu0 = sum(process_cpu_seconds(m.pid) for m in cluster.members)
    for n in range(1, args.publishes + 1):
        t0, release = await publish_once(conn, token, n, item_revision)
        item_revision = release["revision"]
        sent[release["revision"]] = t0
        await asyncio.sleep(args.gap)
    cpu = (sum(process_cpu_seconds(m.pid) for m in cluster.members) - cpu0) / (args.publishes * args.gap)
    receipts: dict[str, list[float]] = {}
    for swarm in swarms:
        swarm.stdin.write("stop\n")
        swarm.stdin.flush()
        got = json.loads(await asyncio.to_thread(swarm.stdout.readline))
        for revision, times in got.items():
            receipts.setdefault(revision, []).extend(times)
        swarm.wait(timeout=30)
    conn.close()
    latencies = [t - sent[int(revision)] for revision, times in receipts.items() if int(revision) in sent
                 for t in times]
    return {
        "subscribers": count, "members": len(cluster.members), "connect_s": round(connect_s, 1),
        "delivered": len(latencies) / (count * args.publishes),
        "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99),
        "max_ms": max(latencies) * 1000 if latencies else float("nan"),
        "rss_per_subscriber_kb": (rss_after - rss_before) * 1024 / count,
        "server_cpu_while_publishing": cpu,
    }


async def registry_run(cluster: Cluster, token: str, args) -> dict:
    leader = await cluster.leader()
    port = leader.client_port
    leases: dict[tuple[int, int], int] = {}

    async def register(conn: Connection, i: int, seq: int) -> list[float]:
        t0 = time.perf_counter()
        registered = await call(conn, "PUT", f"/api/v1/services/bench/svc/-/instances/i-{i}-{seq % 50}", token,
                                {"address": "10.0.0.1", "port": 8080, "ttl": 60})
        leases[(i, seq % 50)] = registered["lease"]
        return [time.perf_counter() - t0]

    async def keepalive(conn: Connection, i: int, seq: int) -> list[float]:
        t0 = time.perf_counter()
        slot = seq % 50
        await call(conn, "POST", f"/api/v1/services/bench/svc/-/instances/i-{i}-{slot}/keepalive", token,
                   {"lease": leases[(i, slot)]})
        return [time.perf_counter() - t0]

    out = {}
    for name, work in (("register", register), ("keepalive", keepalive)):
        result = await window(port, args.clients, 1.0, args.duration, work)
        latencies = [s[0] for s in result["samples"]]
        out[name] = {"rate": result["rate"], "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99)}
    return out


async def main_async(args) -> dict:
    raise_fd_limit()
    base = Path(tempfile.mkdtemp(prefix="live-bench-", dir=args.dir))
    results: dict = {"subscribers": [], "registry": {}}
    try:
        for size in args.sizes:
            cluster = Cluster("ours", base / f"size{size}", snapshot_count=10_000)
            await cluster.start(size)
            try:
                leader = await cluster.leader()
                token = admin_token(leader.client_port, [m.data_dir for m in cluster.members], [NAMESPACE])
                for count in args.subscribers:
                    r = await subscribers_run(cluster, token, args, count)
                    results["subscribers"].append(r)
                    print(f"{size} member(s), {count:,} subscribers: publish -> receipt p50 {r['p50_ms']:.0f} ms, "
                          f"p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms; delivered {r['delivered']:.4f}; "
                          f"{r['rss_per_subscriber_kb']:.0f} KiB per idle subscriber; connected in "
                          f"{r['connect_s']} s; server CPU {r['server_cpu_while_publishing']:.2f}", flush=True)
                if size == 1:
                    reg = await registry_run(cluster, token, args)
                    results["registry"] = reg
                    print(f"registry, 1 member, {args.clients} clients: {reg['register']['rate']:,.0f} "
                          f"registrations/s (p99 {reg['register']['p99_ms']:.1f} ms), "
                          f"{reg['keepalive']['rate']:,.0f} keep-alives/s (p99 {reg['keepalive']['p99_ms']:.1f} ms)",
                          flush=True)
            finally:
                for m in cluster.members:
                    m.terminate()
    finally:
        kill_all()
        shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--sizes", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--subscribers", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--publishes", type=int)
    parser.add_argument("--gap", type=float, default=1.0, help="seconds between publishes")
    parser.add_argument("--swarms", type=int, default=2, help="subscriber processes")
    parser.add_argument("--deflate", action="store_true",
                        help="subscribers ask for permessage-deflate, as websockets clients do by default")
    parser.add_argument("--clients", type=int, default=16, help="registry clients")
    parser.add_argument("--duration", type=float, default=5.0, help="registry window, seconds")
    parser.add_argument("--dir", help="parent of the data dirs (default /tmp)")
    parser.add_argument("--json", help="where to write the results")
    args = parser.parse_args()
    args.sizes = args.sizes or [1] if args.quick else (args.sizes or [1, 3])
    args.subscribers = args.subscribers or ([1000] if args.quick else [1000, 10_000])
    args.publishes = args.publishes or (5 if args.quick else 20)
    results = asyncio.run(main_async(args))
    path = Path(args.json or Path(__file__).parent / "results" / ("live_bench-quick.json" if args.quick
                                                                  else "live_bench.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
