"""The MVCC store (``StoreStateMachine`` on SQLite), measured.

Scenarios:

- ``put``: applied puts per second, 256-byte values, distinct keys, one log
  entry (one SQLite transaction) each — as request objects and as the
  encoded bytes the Raft log carries.
- ``range``: one range of 1,000 consecutive keys out of 100,000, and the
  same with ``limit=1000`` over all keys (etcd 3.4 counts every match).
- ``size``: bytes on disk for 100,000 keys with 256-byte values, and the
  memory (RSS growth) of opening that store in a fresh process — the key
  index rebuilt from disk (values stay in SQLite).
- ``reopen``: time (and RSS growth) to open a store holding 1,000,000
  stored revisions (10,000 keys x 100 versions, written as txns of 100
  puts), in a fresh process.
- ``get``: single-key get latency on a fresh store (one revision per key)
  and on the store with 1,000,000 revisions of history.

Usage::

    python bench/mvcc_bench.py            # full sizes (a few minutes)
    python bench/mvcc_bench.py --quick    # a tenth of the sizes (~15 s)
    python bench/mvcc_bench.py --dir /mnt/disk/tmp
"""
from __future__ import annotations

import argparse
import gc
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consensus.mvcc.api import PutRequest, RangeRequest, TxnRequest  # noqa: E402
from consensus.mvcc.log_codec import encode_request  # noqa: E402
from consensus.mvcc.state_machine import StoreStateMachine  # noqa: E402

VALUE = b"v" * 256


def rss_bytes() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def key(i: int) -> bytes:
    return b"key-%08d" % i


class Store:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.sm = StoreStateMachine.open(path)
        self.index = self.sm.applied_index

    def apply(self, request) -> object:
        self.index += 1
        return self.sm.apply(self.index, request)

    def fill(self, keys: int, versions: int = 1, batch: int = 100) -> None:
        """``keys`` x ``versions`` puts, ``batch`` puts per txn entry."""
        for _ in range(versions):
            for start in range(0, keys, batch):
                ops = tuple(PutRequest(key=key(i), value=VALUE) for i in range(start, min(start + batch, keys)))
                self.apply(TxnRequest(success=ops))

    def disk_bytes(self) -> int:
        self.sm._backend.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return self.sm.db_size_bytes

    def close(self) -> None:
        self.sm.close()


def measure_open(path: Path) -> tuple[float, int, int]:
    """Open the store at ``path`` in a fresh process: (seconds, RSS growth,
    Python heap of the opened store) — RSS includes SQLite's page cache
    (at most 16 MiB); the heap is the key index and lease maps alone."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure-open", str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[0]), int(out[1]), int(out[2])


def _measure_open_here(path: str) -> None:
    gc.collect()
    rss0 = rss_bytes()
    t = time.perf_counter()
    sm = StoreStateMachine.open(path)
    seconds = time.perf_counter() - t
    gc.collect()
    rss = rss_bytes() - rss0
    sm.close()
    del sm
    gc.collect()
    tracemalloc.start()
    sm = StoreStateMachine.open(path)
    gc.collect()
    heap = tracemalloc.get_traced_memory()[0]
    sm.close()
    print(seconds, rss, heap)


def get_latency(store: Store, keys: int, samples: int = 2000) -> float:
    """Median seconds of one single-key range."""
    times = []
    for i in range(samples):
        request = RangeRequest(key=key((i * 7919) % keys))
        t = time.perf_counter()
        store.sm.range(request)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a tenth of the sizes")
    parser.add_argument("--dir", help="where to put the databases (default: a temporary directory)")
    parser.add_argument("--measure-open", metavar="PATH", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure_open:
        _measure_open_here(args.measure_open)
        return
    scale = 10 if args.quick else 1
    base = Path(tempfile.mkdtemp(prefix="mvcc-bench-", dir=args.dir))
    rows: list[tuple[str, str]] = []

    def report(name: str, value: str) -> None:
        rows.append((name, value))
        print(f"  {name:<52}{value}", flush=True)

    try:
        # -- put throughput
        n = 20_000 // scale
        s = Store(base / "put.db")
        t = time.perf_counter()
        for i in range(n):
            s.apply(PutRequest(key=key(i), value=VALUE))
        report(f"put, request objects ({n:,} entries)", f"{n / (time.perf_counter() - t):,.0f} puts/s")
        encoded = [encode_request(PutRequest(key=key(n + i), value=VALUE)) for i in range(n)]
        t = time.perf_counter()
        for data in encoded:
            s.apply(data)
        report(f"put, encoded log entries ({n:,} entries)", f"{n / (time.perf_counter() - t):,.0f} puts/s")
        s.close()

        # -- range and size for 100,000 keys
        keys = 100_000 // scale
        s = Store(base / "range.db")
        t = time.perf_counter()
        s.fill(keys)
        report(f"fill {keys:,} keys (txns of 100 puts)", f"{keys / (time.perf_counter() - t):,.0f} keys/s")
        report(f"on disk, {keys:,} keys x 256 B", f"{s.disk_bytes() / 2**20:,.1f} MiB")
        s.close()
        _, rss, heap = measure_open(s.path)
        report(f"open {keys:,} keys: RSS growth (fresh process)", f"{rss / 2**20:,.1f} MiB")
        report(f"open {keys:,} keys: Python heap (the index)", f"{heap / 2**20:,.1f} MiB")
        s = Store(s.path)
        span = min(1000, keys)
        first = keys // 2 - span // 2
        window = RangeRequest(key=key(first), range_end=key(first + span))
        times = []
        for _ in range(30):
            t = time.perf_counter()
            resp = s.sm.range(window)
            times.append(time.perf_counter() - t)
        assert len(resp.kvs) == span
        report(f"range of {span:,} keys out of {keys:,}", f"{statistics.median(times) * 1e3:,.2f} ms")
        limited = RangeRequest(key=b"\0", range_end=b"\0", limit=span)
        times = []
        for _ in range(10):
            t = time.perf_counter()
            resp = s.sm.range(limited)
            times.append(time.perf_counter() - t)
        report(f"limit={span:,} over all {keys:,} keys (counts all)", f"{statistics.median(times) * 1e3:,.2f} ms")
        fresh_keys = 10_000 // scale
        s.close()

        # -- get latency fresh, then 1,000,000 revisions
        s = Store(base / "history.db")
        s.fill(fresh_keys)
        fresh = get_latency(s, fresh_keys)
        report(f"get latency, fresh ({fresh_keys:,} keys, 1 revision each)", f"{fresh * 1e6:,.1f} us")
        versions = 100
        t = time.perf_counter()
        s.fill(fresh_keys, versions=versions - 1)
        total = fresh_keys * versions
        report(f"write {total:,} revisions (txns of 100 puts)", f"{total / (time.perf_counter() - t):,.0f} revisions/s")
        deep = get_latency(s, fresh_keys)
        report(f"get latency after {total:,} revisions", f"{deep * 1e6:,.1f} us")
        report(f"on disk, {total:,} revisions x 256 B", f"{s.disk_bytes() / 2**20:,.1f} MiB")
        s.close()
        seconds, rss, heap = measure_open(s.path)
        report(f"reopen with {total:,} stored revisions", f"{seconds:,.2f} s")
        report(f"open {total:,} revisions: RSS growth", f"{rss / 2**20:,.1f} MiB")
        report(f"open {total:,} revisions: Python heap (the index)", f"{heap / 2**20:,.1f} MiB")
    finally:
        shutil.rmtree(base, ignore_errors=True)

    print()
    print(f"{'scenario':<54}{'result':>14}")
    for name, value in rows:
        print(f"{name:<54}{value:>14}")


if __name__ == "__main__":
    main()
