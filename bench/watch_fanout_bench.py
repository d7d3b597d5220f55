"""Store watch fan-out, our node against a real etcd 3.4, side by side:
put -> event receipt latency with many watchers over etcd's JSON API.

    python bench/watch_fanout_bench.py                  # 1,000 and 5,000 watchers
    python bench/watch_fanout_bench.py --quick          # 1,000 watchers, 5 puts
    python bench/watch_fanout_bench.py --watchers 2000 --puts 20

One member of each system (``loopback_cluster``: same heartbeat, election
timeout and snapshot count, auth off, data on the same disk), run one
after the other. The watchers are ``watch_swarm.py`` processes (``--swarms``
of them), each watcher one ``POST /v3/watch`` stream on a prefix — the
same client and the same requests for both systems. The writer puts one
key under the prefix ``--puts`` times, one every ``--gap`` seconds; a
put's latency to a watcher is from just before the put request to the
watcher's receipt of the event (``time.monotonic()``, system-wide). This
is what ``/ws/v1/config`` is built on, without the config service's work
per subscriber; live config itself has no etcd counterpart
(``live_bench.py``).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from config_bench import pct  # noqa: E402
from gateway_client import Connection  # noqa: E402
from loopback_cluster import Cluster, kill_all, process_cpu_seconds, raise_fd_limit  # noqa: E402

SWARM = Path(__file__).resolve().parent / "watch_swarm.py"
PREFIX = "bench/fanout/"


def put_request(key: str, value: str) -> bytes:
    body = json.dumps({"key": base64.b64encode(key.encode()).decode(),
                       "value": base64.b64encode(value.encode()).decode()}).encode()
    return (b"POST /v3/kv/put HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: %d\r\n\r\n" % len(body)) + body


async def run_one(system: str, base: Path, watchers: int, args) -> dict:
    cluster = Cluster(system, base / f"{system}-{watchers}", snapshot_count=10_000)
    await cluster.start(1)
    try:
        member = cluster.members[0]
        per_swarm = [watchers // args.swarms + (1 if i < watchers % args.swarms else 0) for i in range(args.swarms)]
        swarms = [subprocess.Popen([sys.executable, str(SWARM), "--port", str(member.client_port), "--prefix", PREFIX,
                                    "--count", str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                  for n in per_swarm if n]
        for swarm in swarms:
            line = await asyncio.to_thread(swarm.stdout.readline)
            if not line.startswith("ready"):
                raise RuntimeError(f"{system}: a swarm failed to open its watches: {line!r}")
        conn = Connection(member.client_port)
        sent: dict[int, float] = {}
        cpu0 = process_cpu_seconds(member.pid)
        for n in range(args.puts):
            t0 = time.monotonic()
            status, raw = await conn.send(put_request(PREFIX + "key", f"value {n}"))
            if status != 200:
                raise RuntimeError(f"{system}: put answered {status}: {raw[:200]!r}")
            sent[int(json.loads(raw)["header"]["revision"])] = t0
            await asyncio.sleep(args.gap)
        cpu = (process_cpu_seconds(member.pid) - cpu0) / (args.puts * args.gap)
        conn.close()
        latencies = []
        for swarm in swarms:
            swarm.stdin.write("stop\n")
            swarm.stdin.flush()
            got = json.loads(await asyncio.to_thread(swarm.stdout.readline))
            latencies += [t - sent[int(r)] for r, times in got.items() if int(r) in sent for t in times]
            swarm.wait(timeout=30)
        return {"system": system, "watchers": watchers, "delivered": len(latencies) / (watchers * args.puts),
                "p50_ms": pct(latencies, 0.5), "p99_ms": pct(latencies, 0.99),
                "max_ms": max(latencies) * 1000 if latencies else float("nan"), "server_cpu": cpu}
    finally:
        for m in cluster.members:
            m.terminate()


async def main_async(args) -> list[dict]:
    raise_fd_limit()
    base = Path(tempfile.mkdtemp(prefix="fanout-bench-", dir=args.dir))
    results = []
    try:
        for watchers in args.watchers:
            pair = {}
            for system in ("ours", "etcd"):
                r = await run_one(system, base, watchers, args)
                pair[system] = r
                results.append(r)
                print(f"{system:4} {watchers:,} watchers: put -> event p50 {r['p50_ms']:.1f} ms, p99 "
                      f"{r['p99_ms']:.1f} ms, max {r['max_ms']:.1f} ms; delivered {r['delivered']:.4f}; "
                      f"server CPU {r['server_cpu']:.2f}", flush=True)
            print(f"     ratio ours / etcd: p50 {pair['ours']['p50_ms'] / pair['etcd']['p50_ms']:.2f}, "
                  f"p99 {pair['ours']['p99_ms'] / pair['etcd']['p99_ms']:.2f}", flush=True)
    finally:
        kill_all()
        shutil.rmtree(base, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--watchers", type=lambda s: [int(x) for x in s.split(",")])
    parser.add_argument("--puts", type=int)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between puts")
    parser.add_argument("--swarms", type=int, default=2, help="watcher processes")
    parser.add_argument("--dir", help="parent of the data dirs (default /tmp)")
    parser.add_argument("--json", help="where to write the results")
    args = parser.parse_args()
    args.watchers = args.watchers or ([1000] if args.quick else [1000, 5000])
    args.puts = args.puts or (5 if args.quick else 20)
    results = asyncio.run(main_async(args))
    path = Path(args.json or Path(__file__).parent / "results" / ("watch_fanout-quick.json" if args.quick
                                                                  else "watch_fanout.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
