"""Watch fan-out: one prefix watched by many in-process watchers, fed by the
real store (``StoreStateMachine`` on SQLite) through the watch hub.

For each write the bench measures
- apply: ``store.apply`` of one put, hub notification included;
- in every buffer: from the start of ``hub.on_apply`` until it returns —
  the event then sits in every watcher's buffer;
- consumed by all: from the start of ``on_apply`` until the last of the
  watchers' consumer tasks has taken the event with ``await watcher.next()``
  (one asyncio task per watcher, on one event loop, as the node runs them);
and the throughput: writes per second and events delivered per second
(writes x watchers) with every consumer keeping up.

A last row overruns the buffers: a burst of writes bigger than each
watcher's buffer while the consumers wait, so every watcher becomes a
victim and catches up from the store's history as it drains.

    python bench/watch_bench.py            # 10,000 watchers, 200 writes per row
    python bench/watch_bench.py --quick    # 10,000 watchers, 30 writes per row
"""
from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from consensus.mvcc.api import PutRequest, WatchCreateRequest  # noqa: E402
from consensus.mvcc.state_machine import StoreStateMachine  # noqa: E402
from consensus.mvcc.watch_hub import WatchHub  # noqa: E402
from consensus.mvcc.watcher_group import prefix_end  # noqa: E402

PREFIX = b"cfg/app/"
VALUE = b"v" * 128


class Store:
    """The real store, one Raft index per write, the hub's on_apply timed."""

    def __init__(self, path: Path, buffer_events: int) -> None:
        self.sm = StoreStateMachine.open(path)
        self.index = self.sm.applied_index
        self.hub = WatchHub(self.sm, buffer_events=buffer_events)
        self.notify_started = 0.0
        self.notify_seconds: list[float] = []
        self.sm.add_apply_listener(self._on_apply)

    def _on_apply(self, revision, events) -> None:
        self.notify_started = started = time.perf_counter()
        self.hub.on_apply(revision, events)
        self.notify_seconds.append(time.perf_counter() - started)

    def put(self, key: bytes) -> float:
        self.index += 1
        started = time.perf_counter()
        self.sm.apply(self.index, PutRequest(key=key, value=VALUE))
        return time.perf_counter() - started

    def close(self) -> None:
        self.hub.close()
        self.sm.close()


async def steady(store: Store, watchers: int, writes: int) -> dict:
    """One write at a time; the next goes once every consumer has the last."""
    request = WatchCreateRequest(key=PREFIX, range_end=prefix_end(PREFIX))
    handles = [store.hub.watch(request) for _ in range(watchers)]
    for watcher in handles:
        watcher.poll()  # the created response
    remaining = 0
    all_consumed = asyncio.Event()
    consumed_at: list[float] = []

    async def consume(watcher) -> None:
        nonlocal remaining
        while True:
            response = await watcher.next()
            if response.canceled:
                return
            remaining -= len(response.events)
            if remaining == 0:
                consumed_at.append(time.perf_counter())
                all_consumed.set()

    tasks = [asyncio.ensure_future(consume(w)) for w in handles]
    await asyncio.sleep(0)
    apply_seconds, consume_seconds = [], []
    store.notify_seconds.clear()
    started = time.perf_counter()
    for i in range(writes):
        all_consumed.clear()
        remaining = watchers
        apply_seconds.append(store.put(PREFIX + b"%d" % (i % 100)))
        notified = store.notify_started
        await all_consumed.wait()
        consume_seconds.append(consumed_at[-1] - notified)
    elapsed = time.perf_counter() - started
    for watcher in handles:
        watcher.cancel()
    await asyncio.gather(*tasks)
    return {
        "watchers": watchers,
        "writes/s": writes / elapsed,
        "events/s": writes * watchers / elapsed,
        "apply": apply_seconds,
        "buffered": list(store.notify_seconds),
        "consumed": consume_seconds,
    }


async def overrun(store: Store, watchers: int, burst: int) -> dict:
    """``burst`` writes while nobody consumes (more than a buffer holds),
    then every consumer drains to the end: victims catching up from history."""
    request = WatchCreateRequest(key=PREFIX, range_end=prefix_end(PREFIX))
    handles = [store.hub.watch(request) for _ in range(watchers)]
    for watcher in handles:
        watcher.poll()
    started = time.perf_counter()
    for i in range(burst):
        store.put(PREFIX + b"%d" % (i % 100))
    written = time.perf_counter()
    victims = store.hub.counts()["victim"]

    async def consume(watcher) -> int:
        got = 0
        while got < burst:
            response = await watcher.next()
            got += len(response.events)
        return got

    counts = await asyncio.gather(*(consume(w) for w in handles))
    assert all(count == burst for count in counts), "a watcher lost events"
    drained = time.perf_counter()
    for watcher in handles:
        watcher.cancel()
    return {
        "watchers": watchers,
        "burst": burst,
        "victims": victims,
        "write seconds": written - started,
        "drain seconds": drained - written,
        "events/s": burst * watchers / (drained - started),
    }


def ms(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--watchers", type=int, default=10_000)
    parser.add_argument("--default-gc", action="store_true",
                        help="keep Python's default collector settings instead of the member's (consensus.member.tune_gc)")
    args = parser.parse_args()
    if not args.default_gc:
        from consensus.member import tune_gc

        tune_gc()
    writes = 30 if args.quick else 200
    root = Path(tempfile.mkdtemp(prefix="watch-bench-", dir=Path(__file__).resolve().parent))
    print(f"one prefix, {len(VALUE)}-byte puts through the real store, {writes} writes per row")
    print(
        f"{'watchers':>9}{'writes/s':>10}{'events/s':>12}"
        f"{'apply p50':>11}{'buffered p50':>14}{'p99':>8}{'max':>8}"
        f"{'consumed p50':>14}{'p99':>8}{'max':>8}   (ms)"
    )
    try:
        counts = sorted({1, 100, 1_000, args.watchers})
        for watchers in counts:
            store = Store(root / f"steady-{watchers}.db", buffer_events=1000)
            row = asyncio.run(steady(store, watchers, writes))
            store.close()
            print(
                f"{watchers:>9,}{row['writes/s']:>10,.0f}{row['events/s']:>12,.0f}"
                f"{ms(row['apply'], 0.5):>11.2f}"
                f"{ms(row['buffered'], 0.5):>14.2f}{ms(row['buffered'], 0.99):>8.2f}"
                f"{max(row['buffered']) * 1e3:>8.2f}"
                f"{ms(row['consumed'], 0.5):>14.2f}{ms(row['consumed'], 0.99):>8.2f}"
                f"{max(row['consumed']) * 1e3:>8.2f}"
            )
        buffer_events = 100
        burst = 3 * buffer_events if args.quick else 10 * buffer_events
        store = Store(root / "overrun.db", buffer_events=buffer_events)
        row = asyncio.run(overrun(store, args.watchers, burst))
        store.close()
        print()
        print(
            f"overrun: {row['watchers']:,} watchers with {buffer_events}-event buffers, a burst of "
            f"{row['burst']:,} writes with nobody consuming -> {row['victims']:,} victims;"
        )
        print(
            f"  writes took {row['write seconds']:.2f} s, catching up from history and draining "
            f"{row['drain seconds']:.2f} s: {row['events/s']:,.0f} events/s delivered, none lost"
        )
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
