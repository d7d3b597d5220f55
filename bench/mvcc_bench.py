"""The MVCC state machine on its own (no Raft): apply and read costs, memory,
disk, reopen time, and how reads age with history.

Each measurement runs in a fresh child process so that memory figures are
the store's own and earlier runs leave nothing behind.

    python bench/mvcc_bench.py                 # full: 100,000 keys, 1,000,000 revisions
    python bench/mvcc_bench.py --quick         # 20,000 keys, 100,000 revisions
    python bench/mvcc_bench.py --with-etcd     # also load a real etcd 3.4 with the same keys
                                               # through its JSON gateway and read its RSS

Measured:
- applied puts/s: log-encoded puts, 256-byte values (what every member
  does per committed entry), by ``StoreStateMachine.apply`` (one entry per
  transaction) and by ``apply_batch`` of 64 entries (a typical ready batch
  under load: one transaction for all);
- a range of 1,000 keys out of N (median of 50);
- RSS of a process holding N keys, and the database's bytes on disk;
- time to reopen a store holding M revisions (index rebuild included);
- single-key get latency on a fresh store and on one with M revisions of
  history on the same keys (median of 2,000).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

VALUE = b"v" * 256


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _open(path):
    from consensus.mvcc.state_machine import StoreStateMachine

    return StoreStateMachine.open(path)


def _load(machine, first_index: int, count: int, keys: int) -> int:
    from consensus.mvcc.api import PutRequest
    from consensus.mvcc.log_codec import encode_request

    index = first_index
    for i in range(count):
        index += 1
        machine.apply(index, encode_request(PutRequest(key=b"key%07d" % (i % keys), value=VALUE)))
    return index


def child_puts(path: str, count: int, batch: int) -> dict:
    """``count`` log-encoded puts of distinct keys, encoded before the clock
    starts (the proposer encodes once; every member applies): ``apply`` one
    entry per transaction when ``batch`` is 1, else ``apply_batch`` of
    ``batch`` entries at a time (one transaction each, as the node applies
    a ready batch)."""
    from consensus.mvcc.api import PutRequest
    from consensus.mvcc.log_codec import encode_request

    payloads = [encode_request(PutRequest(key=b"key%07d" % i, value=VALUE)) for i in range(count)]
    machine = _open(path)
    started = time.perf_counter()
    if batch == 1:
        for index, payload in enumerate(payloads, start=1):
            machine.apply(index, payload)
    else:
        for first in range(0, count, batch):
            machine.apply_batch([(i + 1, payloads[i]) for i in range(first, min(first + batch, count))])
    elapsed = time.perf_counter() - started
    machine.close()
    return {"puts_per_s": count / elapsed}


def child_range_and_rss(path: str, keys: int) -> dict:
    from consensus.mvcc.api import RangeRequest

    # The keys were loaded by another child: this process holds the store
    # as a restarted member does, without the allocator's leftovers from
    # loading it.
    baseline = _rss_mb()
    machine = _open(path)
    rss = _rss_mb()
    start = keys // 2
    request = RangeRequest(key=b"key%07d" % start, range_end=b"key%07d" % (start + 1000))
    timings = []
    for _ in range(50):
        t0 = time.perf_counter()
        response = machine.range(request)
        timings.append(time.perf_counter() - t0)
    assert len(response.kvs) == 1000, len(response.kvs)
    disk = machine.db_size_bytes
    machine.close()
    return {
        "range_1000_ms": statistics.median(timings) * 1e3,
        "rss_mb": rss,
        "rss_baseline_mb": baseline,
        "disk_mb": disk / 1e6,
    }


def child_build_history(path: str, revisions: int, keys: int) -> dict:
    machine = _open(path)
    _load(machine, 0, revisions, keys)
    machine.close()
    return {}


def child_reopen_and_get(path: str) -> dict:
    from consensus.mvcc.api import RangeRequest

    t0 = time.perf_counter()
    machine = _open(path)
    reopen = time.perf_counter() - t0
    timings = []
    for i in range(2000):
        request = RangeRequest(key=b"key%07d" % (i % 100))
        t1 = time.perf_counter()
        machine.range(request)
        timings.append(time.perf_counter() - t1)
    revision = machine.revision
    machine.close()
    return {"reopen_s": reopen, "get_us": statistics.median(timings) * 1e6, "revision": revision}


def run_child(name: str, *args) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", name, *map(str, args)],
        capture_output=True, text=True, check=True, cwd=ROOT,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def etcd_rss_for_keys(keys: int) -> float | None:
    """Load a real etcd 3.4 with the same keys through its JSON gateway and
    return its RSS in MB (None if etcd is not installed)."""
    etcd = shutil.which("etcd")
    if etcd is None:
        return None
    import base64
    import http.client
    import socket
    from concurrent.futures import ThreadPoolExecutor

    def free_port():
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    client_port, peer_port = free_port(), free_port()
    data_dir = tempfile.mkdtemp(prefix="etcd-bench-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
    proc = subprocess.Popen(
        [etcd, "--data-dir", data_dir, "--listen-client-urls", f"http://127.0.0.1:{client_port}",
         "--advertise-client-urls", f"http://127.0.0.1:{client_port}",
         "--listen-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer_port}",
         "--initial-cluster", f"default=http://127.0.0.1:{peer_port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )
    try:
        deadline = time.time() + 20
        while time.time() < deadline:
            try:
                c = http.client.HTTPConnection("127.0.0.1", client_port, timeout=2)
                c.request("GET", "/health")
                if c.getresponse().status == 200:
                    break
            except OSError:
                time.sleep(0.1)
        value = base64.b64encode(VALUE).decode()

        def load(part: int) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", client_port, timeout=30)
            for i in range(part, keys, 32):
                body = json.dumps({"key": base64.b64encode(b"key%07d" % i).decode(), "value": value})
                conn.request("POST", "/v3/kv/put", body)
                conn.getresponse().read()

        with ThreadPoolExecutor(32) as pool:
            list(pool.map(load, range(32)))
        with open(f"/proc/{proc.pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        return None
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(data_dir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--with-etcd", action="store_true")
    parser.add_argument("--child", nargs="+")
    args = parser.parse_args()
    if args.child:
        name, *rest = args.child
        print(json.dumps(globals()[f"child_{name}"](*[rest[0], *map(int, rest[1:])])))
        return
    keys = 20_000 if args.quick else 100_000
    revisions = 100_000 if args.quick else 1_000_000
    puts = 10_000 if args.quick else 50_000
    work = Path(tempfile.mkdtemp(prefix="mvcc-bench-", dir=ROOT / "bench"))
    try:
        r_puts = run_child("puts", work / "puts.db", puts, 1)
        r_batch_puts = run_child("puts", work / "batch_puts.db", puts, 64)
        run_child("build_history", work / "range.db", keys, keys)
        r_range = run_child("range_and_rss", work / "range.db", keys)
        run_child("build_history", work / "fresh.db", 100, 100)
        r_fresh = run_child("reopen_and_get", work / "fresh.db")
        run_child("build_history", work / "history.db", revisions, 100)
        r_hist = run_child("reopen_and_get", work / "history.db")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    etcd_rss = etcd_rss_for_keys(keys) if args.with_etcd else None
    print(f"MVCC state machine, 256-byte values, {keys:,} keys, {revisions:,} revisions of history")
    print(f"{'measure':<52}{'result':>16}")
    print(f"{'applied puts/s (log-encoded, no Raft)':<52}")
    print(f"{'  apply, one entry per transaction':<52}{r_puts['puts_per_s']:>16,.0f}")
    print(f"{'  apply_batch, 64 entries per transaction':<52}{r_batch_puts['puts_per_s']:>16,.0f}")
    print(f"{f'range of 1,000 keys out of {keys:,} (median ms)':<52}{r_range['range_1000_ms']:>16.2f}")
    print(f"{f'RSS holding {keys:,} keys (MB)':<52}{r_range['rss_mb']:>16.1f}")
    print(f"{'  of which the bare interpreter (MB)':<52}{r_range['rss_baseline_mb']:>16.1f}")
    if etcd_rss is not None:
        print(f"{f'real etcd 3.4 RSS holding the same keys (MB)':<52}{etcd_rss:>16.1f}")
        print(f"{'  ratio ours / etcd':<52}{r_range['rss_mb'] / etcd_rss:>16.2f}")
    print(f"{f'database on disk for {keys:,} keys (MB)':<52}{r_range['disk_mb']:>16.1f}")
    reopen_label = f"reopen with {r_hist['revision']:,} revisions (s)"
    print(f"{reopen_label:<52}{r_hist['reopen_s']:>16.2f}")
    print(f"{'single-key get, fresh store (median us)':<52}{r_fresh['get_us']:>16.1f}")
    print(f"{f'single-key get after {revisions:,} revisions (median us)':<52}{r_hist['get_us']:>16.1f}")
    print(f"{'  slowdown':<52}{r_hist['get_us'] / r_fresh['get_us']:>16.2f}x")


if __name__ == "__main__":
    main()
