"""Acknowledged writes through a one-member node: proposals per second, each
acknowledged only after its entry was fsynced to the WAL and applied.

This is group commit as the runtime does it: client requests that arrive
while an fsync is in flight wait in the node's queue and go to disk together
in the next ready batch.

    python bench/node_bench.py            # 5 s per concurrency level
    python bench/node_bench.py --quick    # 1.5 s per level
"""
from __future__ import annotations

import argparse
import asyncio
import logging
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consensus.node import AppliedEntryCounter, RaftNode, open_member_storage  # noqa: E402

PAYLOAD = b"v" * 256


async def measure(data_dir: Path, clients: int, seconds: float) -> tuple[float, float, float, float]:
    storage = open_member_storage(data_dir)
    node = RaftNode(
        node_id=1, peers=(1,), storage=storage, state_machine=AppliedEntryCounter(),
        heartbeat_ms=100, election_ms=1000, snapshot_count=1_000_000, rng=random.Random(1),
    )
    runner = asyncio.create_task(node.run())
    while not node.is_leader:
        await asyncio.sleep(0.01)
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    fsyncs_before = storage.wal_stats.fsyncs

    async def client() -> None:
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            await node.propose(PAYLOAD)
            latencies.append(time.perf_counter() - started)

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    elapsed = time.perf_counter() - started
    fsyncs = storage.wal_stats.fsyncs - fsyncs_before
    runner.cancel()
    try:
        await runner
    except asyncio.CancelledError:
        pass
    storage.close()
    latencies.sort()
    return (
        len(latencies) / elapsed,
        fsyncs / elapsed,
        latencies[len(latencies) // 2] * 1e3,
        latencies[int(len(latencies) * 0.99)] * 1e3,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    seconds = 1.5 if args.quick else 5.0
    root = Path(tempfile.mkdtemp(prefix="node-bench-", dir=Path(__file__).resolve().parent))
    print(f"one-member node, {len(PAYLOAD)}-byte proposals, ack after fsync + apply, {seconds} s per level")
    print(f"{'clients':>8}{'acked/s':>12}{'fsyncs/s':>10}{'per fsync':>11}{'p50 ms':>9}{'p99 ms':>9}")
    try:
        for clients in (1, 16, 256, 1024):
            rate, fsyncs, p50, p99 = asyncio.run(measure(root / f"c{clients}", clients, seconds))
            print(f"{clients:>8}{rate:>12,.0f}{fsyncs:>10,.0f}{rate / max(fsyncs, 1):>11.1f}{p50:>9.2f}{p99:>9.2f}")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
