"""Server time of the console's pages on a big namespace: 500 items and a
history of 1,000 releases (issue 7's goal: every page in <= 100 ms).

    python bench/console_bench.py            # 30 timed loads per page
    python bench/console_bench.py --quick    # 100 items, 200 releases, 10 loads

One member (``manage.py runnode`` on loopback, ``loopback_cluster``). The
data is made through the REST API with an API token: the items are drafted
and published once, then single items are changed and published until the
history holds 1,000 releases; five more drafts wait unpublished, so the
publish dialog has something to show. The pages are then loaded one at a
time, as a logged-in administrator (the session cookie the REST login
sets), over one keep-alive connection: the time from sending the request
to the last byte of the answer, on loopback, is the server's time plus a
fraction of a millisecond. Three untimed loads of each page come first.
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

from config_bench import DOC, call  # noqa: E402
from gateway_client import Connection  # noqa: E402
from loopback_cluster import Cluster, kill_all  # noqa: E402

NS = "bench/console"
GOAL_MS = 100.0


def login(port: int, data_dir: Path) -> tuple[str, str]:
    """An administrator's session cookie and a write token for everything."""
    deadline = time.monotonic() + 60
    password_file = data_dir / "admin-password"
    while not password_file.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    base = f"http://127.0.0.1:{port}/api/v1"

    def post(path, body, csrf=None):
        request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json", "Referer": base,
                                                  **({"X-CSRFToken": csrf} if csrf else {})})
        with opener.open(request, timeout=30) as response:
            return json.loads(response.read())

    me = post("/auth/login", {"username": "admin", "password": password_file.read_text().strip()})
    post("/namespaces", {"name": NS, "retention": {"max_releases": 0, "max_age_days": 0, "min_releases": 10}},
         me["csrf_token"])
    token = post("/tokens", {"name": "bench", "namespaces": "*", "access": "write"}, me["csrf_token"])["token"]
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token


async def fill(port: int, token: str, items: int, releases: int) -> None:
    conn = Connection(port)
    base = f"/api/v1/namespaces/{NS}/-"
    revisions: dict[str, int] = {}
    try:
        for i in range(items):
            name = f"item-{i:03d}.yaml"
            saved = await call(conn, "PUT", f"{base}/items/{name}", token, {"content": DOC.format(name=name, n=0)})
            revisions[name] = saved["revision"]
        ns = await call(conn, "GET", f"/api/v1/namespaces/{NS}", token)
        release = await call(conn, "POST", f"{base}/publish", token, {"revision": ns["revision"], "comment": "all"})
        # An edit is based on the item's own revision: the release that last changed it.
        live_revision = {name: release["revision"] for name in revisions}
        for seq in range(2, releases + 1):
            name = f"item-{seq % items:03d}.yaml"
            saved = await call(conn, "PUT", f"{base}/items/{name}", token,
                               {"content": DOC.format(name=name, n=seq), "revision": live_revision[name]})
            release = await call(conn, "POST", f"{base}/publish", token,
                                 {"revision": saved["revision"], "comment": f"change {seq}"})
            live_revision[name] = release["revision"]
        for i in range(5):
            name = f"item-{i:03d}.yaml"
            await call(conn, "PUT", f"{base}/items/{name}", token,
                       {"content": DOC.format(name=name, n=-1), "revision": live_revision[name]})
    finally:
        conn.close()


def pages(releases: int) -> list[tuple[str, str]]:
    ns = f"/console/ns/{NS}"
    return [
        ("dashboard", "/console/"),
        ("namespaces", "/console/namespaces"),
        ("namespace (items)", ns),
        ("item editor", f"{ns}/-/items/item-007.yaml"),
        ("publish dialog (5 drafts)", f"{ns}/-/publish"),
        ("history", f"{ns}/-/releases"),
        ("compare two releases", f"{ns}/-/compare?old=1&new={releases}"),
        ("rollback confirmation", f"{ns}/-/rollback/{releases // 2}"),
        ("namespace audit", f"{ns}/-/audit"),
        ("global audit", "/console/audit"),
        ("delivery", f"{ns}/-/delivery"),
        ("services", "/console/services"),
        ("users", "/console/admin/users"),
        ("tokens", "/console/tokens"),
    ]


def get(path: str, cookie: str) -> bytes:
    return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: {cookie}\r\n\r\n").encode()


async def time_pages(port: int, cookie: str, releases: int, loads: int, only: list[str]) -> dict:
    conn = Connection(port)
    results = {}
    try:
        for name, path in pages(releases):
            if only and not any(word in name for word in only):
                continue
            samples = []
            for i in range(3 + loads):
                t0 = time.perf_counter()
                status, body = await conn.send(get(path, cookie))
                elapsed = time.perf_counter() - t0
                if status != 200:
                    raise RuntimeError(f"{name} {path}: HTTP {status} {body[:300]!r}")
                if i >= 3:
                    samples.append(elapsed * 1000)
            samples.sort()
            results[name] = {"path": path, "p50_ms": samples[len(samples) // 2],
                             "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))],
                             "max_ms": samples[-1], "bytes": len(body)}
            r = results[name]
            print(f"  {name:28} p50 {r['p50_ms']:6.1f} ms  p99 {r['p99_ms']:6.1f} ms  max {r['max_ms']:6.1f} ms  "
                  f"{r['bytes'] / 1024:6.1f} KiB", flush=True)
    finally:
        conn.close()
    return results


async def main_async(args) -> dict:
    base = Path(tempfile.mkdtemp(prefix="console-bench-", dir=args.dir))
    try:
        cluster = Cluster("ours", base / "one", snapshot_count=10_000)
        await cluster.start(1)
        member = cluster.members[0]
        try:
            cookie, token = login(member.client_port, member.data_dir)
            t0 = time.perf_counter()
            await fill(member.client_port, token, args.items, args.releases)
            print(f"{args.items} items, {args.releases} releases made in {time.perf_counter() - t0:.1f} s", flush=True)
            return {"items": args.items, "releases": args.releases, "loads": args.loads,
                    "pages": await time_pages(member.client_port, cookie, args.releases, args.loads, args.only)}
        finally:
            member.terminate()
    finally:
        kill_all()
        shutil.rmtree(base, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--items", type=int)
    parser.add_argument("--releases", type=int)
    parser.add_argument("--loads", type=int)
    parser.add_argument("--only", type=lambda s: s.split(","), default=[],
                        help="time only the pages whose names contain one of these words (comma separated)")
    parser.add_argument("--dir", help="parent of the data dir (default /tmp)")
    parser.add_argument("--json", help="where to write the results")
    args = parser.parse_args()
    args.items = args.items or (100 if args.quick else 500)
    args.releases = args.releases or (200 if args.quick else 1000)
    args.loads = args.loads or (10 if args.quick else 30)
    results = asyncio.run(main_async(args))
    slow = {name: r["p99_ms"] for name, r in results["pages"].items() if r["p99_ms"] > GOAL_MS}
    print(f"goal: every page p99 <= {GOAL_MS:.0f} ms: " + ("met" if not slow else f"MISSED by {slow}"))
    path = Path(args.json or Path(__file__).parent / "results" / ("console_bench-quick.json" if args.quick
                                                                  else "console_bench.json"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
