"""Many store watchers in one process, over etcd's JSON API (``POST
/v3/watch``, one HTTP stream each), for ``watch_fanout_bench.py``: the
same client against our node and against a real etcd 3.4.

    python bench/watch_swarm.py --port 2379 --prefix bench/ --count 2000

Opens ``--count`` streams watching ``--prefix``, prints ``ready <n>`` once
each has been answered ``created``, then notes when each event arrives
(``time.monotonic()``, system-wide on Linux) by its ``mod_revision``. On a
line ``stop`` on stdin it prints one JSON line, revision -> receipt times,
and exits. The HTTP client is a small one of its own on asyncio's protocol
API: it scans the chunked stream for revisions without decoding it, so a
watcher here costs a few microseconds per event.
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import re
import sys
import time

MOD_REVISION = re.compile(rb'"mod_revision":"(\d+)"')


def prefix_end(prefix: bytes) -> bytes:
    return prefix[:-1] + bytes([prefix[-1] + 1])


class Watcher(asyncio.Protocol):
    def __init__(self, body: bytes, receipts: dict, created: asyncio.Future) -> None:
        self.body = body
        self.receipts = receipts
        self.created = created
        self.tail = b""  # the end of the last read, which may hold half a match

    def connection_made(self, transport) -> None:
        transport.write(b"POST /v3/watch HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        b"Content-Length: %d\r\n\r\n" % len(self.body) + self.body)

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        # A match needs its closing quote, so one cut by a read boundary is
        # not taken until the rest arrives: keep what follows the last match
        # (at most a match's length of it).
        data = self.tail + data
        last_end = 0
        for match in MOD_REVISION.finditer(data):
            self.receipts.setdefault(int(match.group(1)), []).append(now)
            last_end = match.end()
        self.tail = data[max(last_end, len(data) - 40):]
        if not self.created.done() and b'"created":true' in data:
            self.created.set_result(None)

    def connection_lost(self, exc) -> None:
        if not self.created.done():
            self.created.set_exception(RuntimeError(f"stream closed before created: {exc}"))


async def main_async(args) -> None:
    loop = asyncio.get_running_loop()
    prefix = args.prefix.encode()
    body = json.dumps({"create_request": {"key": base64.b64encode(prefix).decode(),
                                          "range_end": base64.b64encode(prefix_end(prefix)).decode()}}).encode()
    receipts: dict[int, list[float]] = {}
    gate = asyncio.Semaphore(100)
    transports = []

    async def one() -> None:
        async with gate:
            created = loop.create_future()
            transport, _ = await loop.create_connection(lambda: Watcher(body, receipts, created), "127.0.0.1",
                                                        args.port)
            transports.append(transport)
            await asyncio.wait_for(created, 60)

    await asyncio.gather(*(one() for _ in range(args.count)))
    print(f"ready {len(transports)}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    print(json.dumps({str(k): v for k, v in receipts.items()}), flush=True)
    for transport in transports:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--count", type=int, required=True)
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
