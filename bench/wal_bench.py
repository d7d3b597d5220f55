"""WAL throughput with every acknowledgement behind an fsync.

Scenarios (256-byte entries by default):

- ``group T×B``: T threads each committing B entries per commit in a loop. A
  thread takes the next indices and appends under one lock (WAL order), then
  waits for the group fsync outside it; it counts its entries only after
  ``wait_synced`` returned.
- ``batch N``: the single-threaded path of the asyncio runtime: ``append`` one
  ready batch of N entries plus a hard state, then ``sync()``.
- ``durable N``: ``DurableStorage.save`` of a ready batch of N entries plus a
  hard state (WAL + fsync + in-memory update), single-threaded.

Usage::

    python bench/wal_bench.py            # ~5 s per scenario
    python bench/wal_bench.py --quick    # ~1 s per scenario
    python bench/wal_bench.py --dir /mnt/disk/tmp --seconds 10

The directory defaults to a temporary directory next to this file's
repository (so on the same disk as the data directory would be), removed
afterwards.
"""
from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consensus.raft.messages import Entry, HardState  # noqa: E402
from consensus.storage import DurableStorage  # noqa: E402
from consensus.storage.records import EntryBatch  # noqa: E402
from consensus.storage.wal import WAL  # noqa: E402


@dataclass
class Result:
    name: str
    entries: int
    commits: int
    fsyncs: int
    seconds: float
    latencies: list[float]

    def row(self) -> str:
        latencies = sorted(self.latencies)
        p50 = latencies[len(latencies) // 2] * 1e3 if latencies else 0.0
        p99 = latencies[int(len(latencies) * 0.99)] * 1e3 if latencies else 0.0
        return (
            f"{self.name:<16}{self.entries / self.seconds:>12,.0f}{self.commits / self.seconds:>11,.0f}"
            f"{self.fsyncs / self.seconds:>10,.0f}{self.entries / max(self.fsyncs, 1):>10.1f}"
            f"{p50:>9.2f}{p99:>9.2f}"
        )


HEADER = (
    f"{'scenario':<16}{'entries/s':>12}{'commits/s':>11}{'fsyncs/s':>10}{'ent/fsync':>10}"
    f"{'p50 ms':>9}{'p99 ms':>9}"
)


def group_commit(directory: Path, threads: int, per_commit: int, entry_size: int, seconds: float) -> Result:
    wal, _ = WAL.open(directory)
    payload = b"x" * entry_size
    order = threading.Lock()
    next_index = [1]
    counts = [0] * threads
    latencies: list[list[float]] = [[] for _ in range(threads)]
    start = threading.Barrier(threads + 1)
    deadline = [0.0]

    def committer(slot: int) -> None:
        start.wait()
        mine = latencies[slot]
        while time.perf_counter() < deadline[0]:
            began = time.perf_counter()
            with order:
                first = next_index[0]
                next_index[0] += per_commit
                batch = EntryBatch(tuple(Entry(1, i, 0, payload) for i in range(first, first + per_commit)))
                ticket = wal.append([batch])
            wal.wait_synced(ticket)
            mine.append(time.perf_counter() - began)
            counts[slot] += per_commit

    workers = [threading.Thread(target=committer, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    fsyncs_before = wal.stats.fsyncs
    began = time.perf_counter()
    deadline[0] = began + seconds
    start.wait()
    for worker in workers:
        worker.join()
    elapsed = time.perf_counter() - began
    fsyncs = wal.stats.fsyncs - fsyncs_before
    commits = wal.stats.appends
    wal.close()
    flat = [latency for per_thread in latencies for latency in per_thread]
    return Result(f"group {threads}x{per_commit}", sum(counts), commits, fsyncs, elapsed, flat)


def single_batches(directory: Path, per_batch: int, entry_size: int, seconds: float) -> Result:
    wal, _ = WAL.open(directory)
    payload = b"x" * entry_size
    index, commits, latencies = 1, 0, []
    fsyncs_before = wal.stats.fsyncs
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        t0 = time.perf_counter()
        batch = EntryBatch(tuple(Entry(1, i, 0, payload) for i in range(index, index + per_batch)))
        wal.append([batch, HardState(1, 1, index - 1)])
        wal.sync()
        latencies.append(time.perf_counter() - t0)
        index += per_batch
        commits += 1
    elapsed = time.perf_counter() - began
    fsyncs = wal.stats.fsyncs - fsyncs_before
    wal.close()
    return Result(f"batch {per_batch}", index - 1, commits, fsyncs, elapsed, latencies)


def durable_saves(directory: Path, per_batch: int, entry_size: int, seconds: float) -> Result:
    storage = DurableStorage.open(directory)
    payload = b"x" * entry_size
    index, commits, latencies = 1, 0, []
    fsyncs_before = storage.wal_stats.fsyncs
    began = time.perf_counter()
    while time.perf_counter() - began < seconds:
        t0 = time.perf_counter()
        entries = [Entry(1, i, 0, payload) for i in range(index, index + per_batch)]
        storage.save(HardState(1, 1, index - 1), entries)
        latencies.append(time.perf_counter() - t0)
        index += per_batch
        commits += 1
    elapsed = time.perf_counter() - began
    fsyncs = storage.wal_stats.fsyncs - fsyncs_before
    storage.close()
    return Result(f"durable {per_batch}", index - 1, commits, fsyncs, elapsed, latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="about one second per scenario")
    parser.add_argument("--seconds", type=float, default=None, help="seconds per scenario (default 5)")
    parser.add_argument("--entry-size", type=int, default=256)
    parser.add_argument("--dir", type=Path, default=None, help="where to put the WAL files")
    args = parser.parse_args()
    seconds = args.seconds if args.seconds is not None else (1.0 if args.quick else 5.0)
    parent = args.dir or Path(__file__).resolve().parent
    root = Path(tempfile.mkdtemp(prefix="wal-bench-", dir=parent))
    scenarios = [
        ("group", 8, 1),
        ("group", 32, 1),
        ("group", 8, 4),
        ("group", 32, 4),
        ("batch", 1, None),
        ("batch", 64, None),
        ("batch", 256, None),
        ("durable", 64, None),
    ]
    print(f"{args.entry_size}-byte entries, {seconds:g} s per scenario, files in {root}")
    print(HEADER)
    try:
        for n, (kind, a, b) in enumerate(scenarios):
            directory = root / f"s{n}"
            if kind == "group":
                result = group_commit(directory, a, b, args.entry_size, seconds)
            elif kind == "batch":
                result = single_batches(directory, a, args.entry_size, seconds)
            else:
                result = durable_saves(directory, a, args.entry_size, seconds)
            print(result.row(), flush=True)
            shutil.rmtree(directory)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
