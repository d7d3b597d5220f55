"""Our cluster against a real etcd 3.4, side by side in one run, through the
same client and the same JSON gateway API; every figure is also given as a
ratio ours / etcd.

    python bench/cluster_vs_etcd.py                  # full run (~17 min)
    python bench/cluster_vs_etcd.py --quick          # smoke run (~2 min)
    python bench/cluster_vs_etcd.py --tree HEAD      # our committed code, not the working tree
    python bench/cluster_vs_etcd.py --duration 20 --rounds 5 --only puts,gets --sizes 3

Both systems run as real server processes on 127.0.0.1 (ports picked at
run time), started the same way (``loopback_cluster``): heartbeat 100 ms,
election timeout 1,000 ms, the same ``--snapshot-count`` (10,000 unless
given; etcd's own default is 100,000), auth off, data directories on the
same ordinary disk (under ``--dir``, default a fresh directory in /tmp,
never tmpfs) so that every fsync is real for both. The client
(``gateway_client``) is this process: raw HTTP/1.1 keep-alive connections
on asyncio streams, one per simulated client, closed loop. Its own CPU use
and the servers' (from /proc) are reported beside each figure.

Measured:

- **puts**: 1 and 3 members, 1/16/64 concurrent clients, 256-byte values,
  every put a distinct key, sent to the leader; throughput and p50/p99
  latency over ``--duration`` seconds (10) after ``--warmup`` (2), in
  ``--rounds`` rounds (3). Both clusters are up at once and the two
  systems take turns cell by cell (the order flips every round), so slow
  phases of this shared machine hit both; a cell's figure is all its
  rounds' requests over all their windows, the per-round rates are in the
  JSON. Beside each: CPU used by the client, by the servers, and by
  everything else on the machine (/proc/stat) during the window.
- **gets**: linearizable ``/v3/kv/range`` of one key out of 1,000, 16
  clients, to the leader, 1 and 3 members.
- **catch-up**: a one-member cluster loaded with 100,000 keys (64 clients
  of single puts, so the log has 100,000 entries), ``--snapshot-count``
  10,000 (quick: 1,000) so the leader's log is compacted and the new member
  must take a snapshot (etcd keeps 5,000 entries behind a snapshot for slow
  followers; the count is chosen so that they do not reach back to index
  1). Then ``member add`` on the leader and the new member is started with
  ``--initial-cluster-state existing``; timed from its process start until
  its ``raftAppliedIndex`` reaches the leader's commit index after the add
  (``/v3/maintenance/status``; etcd 3.4 reports ``raftIndex`` = commit and
  ``raftAppliedIndex`` too; a joining etcd answers nothing on its client
  port until it has caught up, ours answers as soon as it runs, so the
  time it first answered is reported too). Checked afterwards: a
  serializable count on the new member finds every key, and its log shows
  a snapshot was installed.
- **restart**: one member holding 1,000,000 revisions (100,000 keys x 10
  writes; quick: 100,000 revisions over 10,000 keys). SIGTERM, then start
  the server again and time until a linearizable range answers 200 (median
  of 3). Our data dir is built in a child process with the project's own
  member (``consensus.member.serve_member``: WAL + Raft + store, every put
  proposed, fsynced and applied as the node does) on a data dir that
  ``runnode`` created and opens afterwards; etcd's is filled over HTTP with
  128 clients, which takes minutes (``--skip-etcd-restart`` leaves it out
  and reports ours against the 5 s target alone).

Results are printed as tables and written as JSON (``--json``, default
``bench/results/cluster_vs_etcd.json``, or ``...-quick.json``).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))
sys.path.insert(0, str(ROOT))

from gateway_client import (  # noqa: E402
    LoadResult,
    b64,
    call_once,
    put_request,
    range_request,
    run_jobs,
    run_load,
)
from loopback_cluster import (  # noqa: E402
    ETCD,
    Cluster,
    Member,
    kill_all,
    machine_busy_seconds,
    serves_linearizable_read,
)

VALUE = b"v" * 256
VALUE_B64 = b64(VALUE)
SECTIONS = ("puts", "gets", "catchup", "restart")
GET_KEYS = 1000


def say(text: str = "") -> None:
    print(text, flush=True)


# -- puts and gets -------------------------------------------------------------------------------


class ServerCPU:
    """CPU time of a cluster's members, and of the whole machine, over a
    load window (pass ``on_window`` to ``run_load``); in cores."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.before: dict[str, float] = {}
        self.machine_before = 0.0
        self.opened = 0.0
        self.cores: dict[str, float] = {}
        self.machine = 0.0

    def on_window(self, opening: bool) -> None:
        if opening:
            self.before, self.opened = self.cluster.cpu_seconds(), time.perf_counter()
            self.machine_before = machine_busy_seconds()
        else:
            after, elapsed = self.cluster.cpu_seconds(), time.perf_counter() - self.opened
            self.cores = {name: (after[name] - self.before.get(name, 0.0)) / elapsed for name in after}
            self.machine = (machine_busy_seconds() - self.machine_before) / elapsed


def merge(results: list[LoadResult]) -> dict:
    """Rounds of one cell as one figure: all requests over all windows,
    percentiles over all latencies."""
    latencies = sorted(x for r in results for x in r.latencies)
    merged = LoadResult(
        clients=results[0].clients, seconds=sum(r.seconds for r in results), requests=sum(r.requests for r in results),
        errors=sum(r.errors for r in results), latencies=latencies,
        client_cpu=statistics.mean(r.client_cpu for r in results),
        first_error=next((r.first_error for r in results if r.first_error), ""),
    )
    out = merged.summary()
    out["rounds"] = [round(r.rate, 1) for r in results]
    return out


async def measure_cell(cluster: Cluster, kind: str, clients: int, tag: str, args) -> tuple[LoadResult, dict]:
    leader = await cluster.leader()
    cpu = ServerCPU(cluster)
    if kind == "put":
        prefix = b"put/%s/" % tag.encode()

        def make(client: int, seq: int) -> bytes:
            return put_request(prefix + b"%d/%d" % (client, seq), VALUE_B64)
    else:
        requests = [range_request(b"get/%04d" % i) for i in range(GET_KEYS)]

        def make(client: int, seq: int) -> bytes:
            return requests[(client * 61 + seq) % GET_KEYS]

    result = await run_load(
        leader.client_port, clients, make, warmup=args.warmup, duration=args.duration, on_window=cpu.on_window,
    )
    leader_cpu = cpu.cores.get(leader.name, 0.0)
    servers = sum(cpu.cores.values())
    return result, {
        "leader": round(leader_cpu, 3), "all": round(servers, 3), "machine": round(cpu.machine, 3),
        # what neither the servers nor this client used: other people's work
        "others": round(max(0.0, cpu.machine - servers - result.client_cpu), 3),
    }


async def section_load(size: int, base: Path, args, results: dict) -> None:
    clusters = {}
    try:
        for system in ("ours", "etcd"):
            clusters[system] = await Cluster(system, base / f"load{size}-{system}", snapshot_count=args.snapshot_count, tree=args.tree).start(size)
        leaders = {system: (await cluster.leader()).name for system, cluster in clusters.items()}
        say(f"\n{size}-member clusters up: " + ", ".join(f"{s} leader {name}" for s, name in leaders.items()))
        cells = []
        if "puts" in args.only:
            cells += [("put", clients) for clients in args.clients]
        if "gets" in args.only:
            for system, cluster in clusters.items():
                leader = await cluster.leader()
                seconds, done = await run_jobs(
                    leader.client_port, 16, GET_KEYS, lambda i: put_request(b"get/%04d" % i, VALUE_B64),
                )
                assert done == GET_KEYS
            cells.append(("get", args.get_clients))
        for kind, clients in cells:
            per_system: dict[str, list[LoadResult]] = {"ours": [], "etcd": []}
            cpus: dict[str, list[dict]] = {"ours": [], "etcd": []}
            for round_no in range(args.rounds):
                order = ("ours", "etcd") if round_no % 2 == 0 else ("etcd", "ours")
                for system in order:
                    tag = f"{clients}-{round_no}"
                    result, cpu = await measure_cell(clusters[system], kind, clients, tag, args)
                    per_system[system].append(result)
                    cpus[system].append(cpu)
                    say(f"  {size} member(s) {kind:<4} {clients:>3} clients  {system:<5} round {round_no + 1}: "
                        f"{result.rate:>9,.0f}/s  p50 {result.percentile_ms(0.5):7.2f} ms  p99 "
                        f"{result.percentile_ms(0.99):7.2f} ms  errors {result.errors}  client CPU {result.client_cpu:.2f}  "
                        f"server CPU leader {cpu['leader']:.2f} all {cpu['all']:.2f}  others {cpu['others']:.2f}")
            row = {"members": size, "kind": kind, "clients": clients}
            for system in ("ours", "etcd"):
                row[system] = merge(per_system[system])
                row[system]["server_cpu_leader"] = round(statistics.mean(c["leader"] for c in cpus[system]), 3)
                row[system]["server_cpu_all"] = round(statistics.mean(c["all"] for c in cpus[system]), 3)
                row[system]["others_cpu"] = round(statistics.mean(c["others"] for c in cpus[system]), 3)
            row["ratio"] = round(row["ours"]["rate"] / row["etcd"]["rate"], 3) if row["etcd"]["rate"] else None
            results["load"].append(row)
    finally:
        for cluster in clusters.values():
            cluster.stop()


# -- catch-up ------------------------------------------------------------------------------------


SNAPSHOT_LOG_MARKERS = {
    "ours": ("installed a snapshot",),
    "etcd": ("applied snapshot", "applied incoming Raft snapshot", "restored snapshot"),
}


async def catch_up(system: str, base: Path, keys: int, snapshot_count: int, tree: Path) -> dict:
    cluster = Cluster(system, base / f"catchup-{system}", snapshot_count=snapshot_count, tree=tree)
    try:
        await cluster.start(1)
        leader = await cluster.leader()
        say(f"  {system}: loading {keys:,} keys into one member (64 clients, one put each) ...")
        load_seconds, done = await run_jobs(
            leader.client_port, 64, keys, lambda i: put_request(b"catchup/%07d" % i, VALUE_B64),
        )
        assert done == keys, done
        new, added = await cluster.add_member("n2")
        status = await leader.status(5.0)
        target = int(status["raftIndex"])
        leader_revision = int(status["header"]["revision"])
        started = time.perf_counter()
        new.start(cluster.initial_cluster(), "existing")
        answering_after = None
        applied = 0
        deadline = started + 600
        while True:
            if not new.alive:
                raise RuntimeError(f"{system} new member exited with {new.process.returncode}:\n{new.log_tail()}")
            if time.perf_counter() > deadline:
                raise RuntimeError(f"{system} new member did not catch up in 600 s (applied {applied} of {target})")
            s = await new.status(1.0)
            if s is not None:
                if answering_after is None:
                    answering_after = time.perf_counter() - started
                applied = int(s.get("raftAppliedIndex", 0))
                if applied >= target:
                    break
            await asyncio.sleep(0.02)
        caught_up = time.perf_counter() - started
        count = await call_once(new.client_port, "/v3/kv/range", {
            "key": base64.b64encode(b"catchup/").decode(), "range_end": base64.b64encode(b"catchup0").decode(),
            "count_only": True, "serializable": True,
        }, timeout=30)
        found = int(count.get("count", 0))
        log = new.log_text()
        by_snapshot = any(marker in log for marker in SNAPSHOT_LOG_MARKERS[system])
        out = {
            "keys": keys, "snapshot_count": snapshot_count, "load_seconds": round(load_seconds, 2),
            "load_rate": round(keys / load_seconds, 1), "leader_commit_index": target,
            "leader_revision": leader_revision, "answering_s": round(answering_after or 0.0, 3),
            "caught_up_s": round(caught_up, 3), "keys_found_on_new_member": found, "by_snapshot": by_snapshot,
        }
        say(f"  {system}: loaded at {out['load_rate']:,.0f} puts/s; new member answering after "
            f"{out['answering_s']:.2f} s, caught up (applied index {target:,}) after {caught_up:.2f} s; "
            f"{found:,} keys there; snapshot installed: {by_snapshot}")
        if found != keys:
            raise RuntimeError(f"{system}: the new member holds {found} of {keys} keys")
        return out
    finally:
        cluster.stop()


async def section_catchup(base: Path, args, results: dict) -> None:
    say(f"\ncatch-up of a new member: {args.catchup_keys:,} keys, --snapshot-count {args.catchup_snapshot_count:,}")
    results["catchup"] = {}
    for system in ("ours", "etcd"):
        results["catchup"][system] = await catch_up(system, base, args.catchup_keys, args.catchup_snapshot_count, args.tree)
    ours, etcd = results["catchup"]["ours"]["caught_up_s"], results["catchup"]["etcd"]["caught_up_s"]
    results["catchup"]["ratio"] = round(ours / etcd, 3) if etcd else None


# -- restart -------------------------------------------------------------------------------------


def child_build_history(data_dir: str, revisions: int, keys: int, snapshot_count: int) -> dict:
    """In a child process: open a data dir ``runnode`` created (one member,
    stopped) with the project's own member and write ``revisions`` puts
    over ``keys`` keys through it, each proposed, fsynced and applied as
    the node does for a client; then stop it cleanly."""
    import logging

    from consensus import member
    from consensus.member_identity import MemberIdentity
    from consensus.mvcc.api import PutRequest
    from consensus.node import member_dir, open_member_storage

    logging.basicConfig(level=logging.WARNING)
    identity = MemberIdentity.load(member_dir(data_dir))
    assert identity is not None, f"{data_dir} has no member identity; runnode creates it"

    async def build() -> dict:
        task = asyncio.create_task(member.serve_member(
            open_member_storage(data_dir), data_dir=data_dir, node_id=identity.member_id, peers=(),
            heartbeat_ms=100, election_ms=1000, snapshot_count=snapshot_count, store_auth=False,
        ))
        for _ in range(3000):
            store = member.local_store()
            if store is not None and store.node.is_leader:
                break
            if task.done():
                task.result()
            await asyncio.sleep(0.01)
        else:
            raise RuntimeError("the member did not become leader")
        started = time.perf_counter()
        next_index = 0

        async def writer() -> None:
            nonlocal next_index
            while next_index < revisions:
                i = next_index
                next_index += 1
                await store.put(PutRequest(key=b"hist/%07d" % (i % keys), value=VALUE))

        await asyncio.gather(*(writer() for _ in range(256)))
        elapsed = time.perf_counter() - started
        revision = store.machine.revision
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        return {"seconds": elapsed, "revision": revision}

    return asyncio.run(build())


async def timed_restart(member: Member, initial_cluster: str) -> dict:
    """SIGTERM ``member``, start it again, time until a linearizable range
    answers 200."""
    stop_started = time.perf_counter()
    code = member.terminate(timeout=60)
    stopped = time.perf_counter() - stop_started
    started = time.perf_counter()
    member.start(initial_cluster, "new")
    while not await serves_linearizable_read(member.client_port, timeout=1.0):
        if not member.alive:
            raise RuntimeError(f"{member.system} exited with {member.process.returncode} on restart:\n{member.log_tail()}")
        if time.perf_counter() - started > 300:
            raise RuntimeError(f"{member.system} not serving 300 s after restart")
        await asyncio.sleep(0.01)
    serving = time.perf_counter() - started
    status = await member.status(5.0)
    return {
        "serving_s": round(serving, 3), "stop_s": round(stopped, 3), "stop_exit_status": code,
        "revision": int(status["header"]["revision"]), "rss_mb": round(member.rss_mb(), 1),
    }


async def restart_one(system: str, base: Path, args) -> dict:
    cluster = Cluster(system, base / f"restart-{system}", snapshot_count=args.snapshot_count, tree=args.tree)
    try:
        await cluster.start(1)
        member = cluster.members[0]
        initial = cluster.initial_cluster()
        say(f"  {system}: writing {args.restart_revisions:,} revisions over {args.restart_keys:,} keys ...")
        if system == "ours":
            member.terminate(timeout=60)
            out = subprocess.run(
                [sys.executable, __file__, "--tree", str(args.tree), "--child-build-history", str(member.data_dir), str(args.restart_revisions),
                 str(args.restart_keys), str(args.snapshot_count)],
                capture_output=True, text=True, cwd=ROOT,
            )
            if out.returncode != 0:
                raise RuntimeError(f"building our history failed:\n{out.stderr[-3000:]}")
            built = json.loads(out.stdout.strip().splitlines()[-1])
            fill = {"how": "in-process member (consensus.member.serve_member), 256 concurrent proposals",
                    "seconds": round(built["seconds"], 1)}
            member.start(initial, "new")
            await cluster.wait_ready(300)
        else:
            leader = await cluster.leader()
            last = [time.perf_counter()]

            def progress(done: int) -> None:
                if done % 100_000 == 0:
                    now = time.perf_counter()
                    say(f"    {done:,} ({100_000 / (now - last[0]):,.0f}/s)")
                    last[0] = now

            seconds, done = await run_jobs(
                leader.client_port, 128, args.restart_revisions,
                lambda i: put_request(b"hist/%07d" % (i % args.restart_keys), VALUE_B64), progress=progress,
            )
            fill = {"how": "puts over HTTP, 128 clients", "seconds": round(seconds, 1)}
        say(f"  {system}: written in {fill['seconds']:.0f} s ({fill['how']})")
        runs = []
        for attempt in range(args.restart_runs):
            run = await timed_restart(member, initial)
            runs.append(run)
            say(f"  {system}: restart {attempt + 1}: serving after {run['serving_s']:.2f} s "
                f"(stop took {run['stop_s']:.2f} s), revision {run['revision']:,}, RSS {run['rss_mb']:.0f} MB")
        disk = sum(f.stat().st_size for f in member.data_dir.rglob("*") if f.is_file())
        return {
            "revisions_written": args.restart_revisions, "keys": args.restart_keys, "fill": fill, "runs": runs,
            "serving_s_median": round(statistics.median(r["serving_s"] for r in runs), 3),
            "data_dir_mb": round(disk / 1e6, 1),
        }
    finally:
        cluster.stop()


async def section_restart(base: Path, args, results: dict) -> None:
    say(f"\nrestart to serving with {args.restart_revisions:,} revisions (median of {args.restart_runs})")
    results["restart"] = {"ours": await restart_one("ours", base, args)}
    if not args.skip_etcd_restart:
        results["restart"]["etcd"] = await restart_one("etcd", base, args)
        results["restart"]["ratio"] = round(
            results["restart"]["ours"]["serving_s_median"] / results["restart"]["etcd"]["serving_s_median"], 3)


def export_tree(revision: str, target: Path) -> Path:
    """``git archive`` of ``revision`` of this repository into ``target``."""
    commit = subprocess.run(["git", "rev-parse", "--verify", f"{revision}^{{commit}}"], capture_output=True, text=True,
                            cwd=ROOT, check=True).stdout.strip()
    target.mkdir(parents=True)
    archive = subprocess.Popen(["git", "archive", commit], stdout=subprocess.PIPE, cwd=ROOT)
    subprocess.run(["tar", "-x", "-C", str(target)], stdin=archive.stdout, check=True)
    if archive.wait() != 0:
        raise RuntimeError(f"git archive {commit} failed")
    (target / ".exported-commit").write_text(commit + "\n")
    say(f"measuring our code at commit {commit[:10]} (exported to {target})")
    return target


# -- report --------------------------------------------------------------------------------------


def machine_info(base: Path, tree: Path) -> dict:
    cpu = ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    fs = ""
    try:
        best = ""
        for line in open("/proc/mounts"):
            device, mount, kind = line.split()[:3]
            if str(base).startswith(mount) and len(mount) > len(best):
                best, fs = mount, f"{kind} ({device} on {mount})"
    except OSError:
        pass
    try:
        etcd_version = subprocess.run([ETCD, "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    except (OSError, IndexError):
        etcd_version = "?"
    if (tree / ".exported-commit").exists():
        commit = (tree / ".exported-commit").read_text().strip() + " (exported with git archive)"
    else:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=tree)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True, text=True, cwd=tree)
        commit = git.stdout.strip() + (" + uncommitted changes in the working tree" if dirty.stdout.strip() else "")
    return {
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "cpu": cpu, "cores": os.cpu_count(),
        "kernel": platform.release(), "python": platform.python_version(), "etcd": etcd_version,
        "data_dirs": str(base), "filesystem": fs, "tree": str(tree), "commit": commit, "load_average_start": os.getloadavg(),
    }


def print_report(results: dict) -> None:
    load = results["load"]
    if load:
        say("\nthroughput and latency (ours / etcd; CPU in cores: this client; servers' leader / all members; "
            "others = the rest of the machine's busy time during our window / during etcd's)")
        say(f"{'members':>7} {'op':<4}{'clients':>8}{'ours/s':>10}{'etcd/s':>10}{'ratio':>7}"
            f"{'ours p50/p99 ms':>18}{'etcd p50/p99 ms':>18}{'client CPU':>12}{'server CPU ours':>17}{'etcd':>11}"
            f"{'others':>13}")
        for row in load:
            o, e = row["ours"], row["etcd"]
            say(f"{row['members']:>7} {row['kind']:<4}{row['clients']:>8}{o['rate']:>10,.0f}{e['rate']:>10,.0f}"
                f"{row['ratio']:>7.2f}{o['p50_ms']:>9.2f}/{o['p99_ms']:<8.2f}{e['p50_ms']:>9.2f}/{e['p99_ms']:<8.2f}"
                f"{o['client_cpu']:>6.2f}/{e['client_cpu']:<5.2f}"
                f"{o['server_cpu_leader']:>11.2f}/{o['server_cpu_all']:<5.2f}{e['server_cpu_leader']:>5.2f}/{e['server_cpu_all']:<5.2f}"
                f"{o['others_cpu']:>7.2f}/{e['others_cpu']:<5.2f}")
            if o["errors"] or e["errors"]:
                say(f"        errors: ours {o['errors']} {o.get('first_error', '')}  etcd {e['errors']} {e.get('first_error', '')}")
    catchup = results.get("catchup")
    if catchup:
        o, e = catchup["ours"], catchup["etcd"]
        say(f"\nnew member catch-up, {o['keys']:,} keys, --snapshot-count {o['snapshot_count']:,}")
        say(f"{'':<40}{'ours':>10}{'etcd':>10}{'ratio':>8}")
        say(f"{'caught up after start (s)':<40}{o['caught_up_s']:>10.2f}{e['caught_up_s']:>10.2f}{catchup['ratio']:>8.2f}")
        say(f"{'  answering status after (s)':<40}{o['answering_s']:>10.2f}{e['answering_s']:>10.2f}")
        say(f"{'  by snapshot':<40}{str(o['by_snapshot']):>10}{str(e['by_snapshot']):>10}")
        say(f"{'loading the keys, puts/s (64 clients)':<40}{o['load_rate']:>10,.0f}{e['load_rate']:>10,.0f}"
            f"{o['load_rate'] / e['load_rate']:>8.2f}")
    restart = results.get("restart")
    if restart:
        o = restart["ours"]
        e = restart.get("etcd")
        say(f"\nrestart to serving (SIGTERM, start, first linearizable range answered 200), "
            f"{o['revisions_written']:,} revisions, median of {len(o['runs'])}")
        say(f"{'':<40}{'ours':>10}{'etcd':>10}{'ratio':>8}")
        say(f"{'serving after start (s)':<40}{o['serving_s_median']:>10.2f}"
            + (f"{e['serving_s_median']:>10.2f}{restart['ratio']:>8.2f}" if e else f"{'-':>10}"))
        say(f"{'data dir (MB)':<40}{o['data_dir_mb']:>10.1f}" + (f"{e['data_dir_mb']:>10.1f}" if e else ""))
        say(f"{'RSS after restart (MB)':<40}{o['runs'][-1]['rss_mb']:>10.1f}" + (f"{e['runs'][-1]['rss_mb']:>10.1f}" if e else ""))
        say(f"{'filling the history took (s)':<40}{o['fill']['seconds']:>10.1f}" + (f"{e['fill']['seconds']:>10.1f}" if e else ""))
    targets = results.get("targets")
    if targets:
        say("\ntargets")
        for t in targets:
            say(f"  {'met   ' if t['met'] else 'MISSED'} {t['what']}: {t['value']} (target {t['target']})")


def evaluate_targets(results: dict) -> list[dict]:
    out = []

    def row(members, kind, clients):
        return next((r for r in results["load"] if (r["members"], r["kind"], r["clients"]) == (members, kind, clients)), None)

    for r in results["load"]:
        if r["members"] == 1 and r["kind"] == "put":
            out.append({"what": f"1-member put, {r['clients']} clients, ratio", "value": r["ratio"], "target": ">= 1.0",
                        "met": r["ratio"] >= 1.0})
    r = row(3, "put", 64)
    if r:
        out.append({"what": "3-member put, 64 clients, ratio", "value": r["ratio"], "target": ">= 0.5 (goal 1.0)",
                    "met": r["ratio"] >= 0.5})
    for members in (1, 3):
        r = next((x for x in results["load"] if x["members"] == members and x["kind"] == "get"), None)
        if r:
            out.append({"what": f"{members}-member linearizable get, {r['clients']} clients, ratio", "value": r["ratio"],
                        "target": ">= 1.0", "met": r["ratio"] >= 1.0})
    restart = results.get("restart")
    if restart:
        value = restart["ours"]["serving_s_median"]
        out.append({"what": f"our restart to serving with {restart['ours']['revisions_written']:,} revisions, s",
                    "value": value, "target": "<= 5 s", "met": value <= 5.0})
    return out


# -- main ----------------------------------------------------------------------------------------


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short windows, 10k keys catch-up, 100k revisions restart")
    parser.add_argument("--duration", type=float, help="measured seconds per cell and round (default 10; quick 2)")
    parser.add_argument("--warmup", type=float, help="seconds before each window (default 2; quick 0.5)")
    parser.add_argument("--rounds", type=int, help="rounds per cell, systems alternating (default 3; quick 1)")
    parser.add_argument("--clients", default="1,16,64", help="put concurrency levels (default 1,16,64)")
    parser.add_argument("--get-clients", type=int, default=16)
    parser.add_argument("--sizes", default="1,3", help="cluster sizes for puts and gets (default 1,3)")
    parser.add_argument("--snapshot-count", type=int, default=10_000, help="for both systems (default 10000)")
    parser.add_argument("--catchup-keys", type=int)
    parser.add_argument("--catchup-snapshot-count", type=int)
    parser.add_argument("--restart-revisions", type=int)
    parser.add_argument("--restart-keys", type=int)
    parser.add_argument("--restart-runs", type=int, default=3)
    parser.add_argument("--skip-etcd-restart", action="store_true", help="do not fill etcd with the restart history")
    parser.add_argument("--only", default=",".join(SECTIONS), help=f"sections to run, of {','.join(SECTIONS)}")
    parser.add_argument("--dir", help="parent of the data dirs (default: a new directory in /tmp; never tmpfs)")
    parser.add_argument("--keep", action="store_true", help="keep the data dirs and logs")
    parser.add_argument("--json", help="where to write the results")
    parser.add_argument("--tree", help="what runnode runs from: a directory holding a checkout (default: this "
                        "one), or a git revision such as HEAD, exported with `git archive` into the run's directory "
                        "(to measure committed code while others edit the working tree)")
    parser.add_argument("--child-build-history", nargs=4, metavar=("DIR", "REVISIONS", "KEYS", "SNAPSHOT_COUNT"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    quick = args.quick
    args.duration = args.duration or (2.0 if quick else 10.0)
    args.warmup = args.warmup if args.warmup is not None else (0.5 if quick else 2.0)
    args.rounds = args.rounds or (1 if quick else 3)
    args.clients = [int(x) for x in args.clients.split(",")]
    args.sizes = [int(x) for x in args.sizes.split(",")]
    args.catchup_keys = args.catchup_keys or (10_000 if quick else 100_000)
    args.catchup_snapshot_count = args.catchup_snapshot_count or max(1000, args.catchup_keys // 10)
    args.restart_revisions = args.restart_revisions or (100_000 if quick else 1_000_000)
    args.restart_keys = args.restart_keys or max(1, args.restart_revisions // 10)
    args.tree_revision = None
    if args.tree and not Path(args.tree).is_dir():
        args.tree_revision = args.tree
        args.tree = None
    args.tree = Path(args.tree).resolve() if args.tree else ROOT
    args.only = set(args.only.split(","))
    unknown = args.only - set(SECTIONS)
    if unknown:
        parser.error(f"--only: unknown sections {sorted(unknown)}")
    args.json = Path(args.json) if args.json else BENCH / "results" / (
        "cluster_vs_etcd-quick.json" if quick else "cluster_vs_etcd.json")
    return args


async def run(args, base: Path) -> dict:
    results: dict = {"machine": machine_info(base, args.tree), "settings": {
        "duration_s": args.duration, "warmup_s": args.warmup, "rounds": args.rounds, "value_bytes": len(VALUE),
        "snapshot_count": args.snapshot_count, "heartbeat_ms": 100, "election_ms": 1000, "quick": args.quick,
    }, "load": []}
    if args.only & {"puts", "gets"}:
        for size in args.sizes:
            await section_load(size, base, args, results)
    if "catchup" in args.only:
        await section_catchup(base, args, results)
    if "restart" in args.only:
        await section_restart(base, args, results)
    results["machine"]["load_average_end"] = os.getloadavg()
    results["targets"] = evaluate_targets(results)
    return results


def main() -> None:
    args = parse_args()
    if args.child_build_history:
        data_dir, revisions, keys, snapshot_count = args.child_build_history
        sys.path.insert(0, str(args.tree))
        print(json.dumps(child_build_history(data_dir, int(revisions), int(keys), int(snapshot_count))))
        return
    if not os.access(ETCD, os.X_OK):
        sys.exit(f"{ETCD} not found: run ./scripts/setup.sh (it installs etcd-server and etcd-client)")
    base = Path(tempfile.mkdtemp(prefix="cluster-vs-etcd-", dir=args.dir or "/tmp"))
    if args.tree_revision:
        args.tree = export_tree(args.tree_revision, base / "tree")

    def on_sigterm(signum, frame):
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_sigterm)
    say(f"ours (manage.py runnode) vs {ETCD}, data dirs in {base}; "
        f"{args.duration:g} s windows after {args.warmup:g} s warm-up, {args.rounds} round(s)")
    try:
        results = asyncio.run(run(args, base))
    except KeyboardInterrupt:
        say("\ninterrupted; stopping every server this run started")
        sys.exit(130)
    finally:
        kill_all()
        if not args.keep:
            shutil.rmtree(base, ignore_errors=True)
        else:
            say(f"data dirs and logs kept in {base}")
    print_report(results)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=1) + "\n")
    say(f"\nresults written to {args.json.relative_to(ROOT) if args.json.is_relative_to(ROOT) else args.json}")


if __name__ == "__main__":
    main()
