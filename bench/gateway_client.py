"""A lean client of etcd 3.4's v3 JSON gateway, for benchmarks: raw HTTP/1.1
on asyncio streams, one keep-alive connection per simulated client.

The same code drives our node and a real etcd, so whatever the client costs
it costs both alike. It is kept cheap on purpose: request bytes are built
with ``%`` formatting from pre-encoded parts, and a response is read as its
head (up to the blank line) plus ``Content-Length`` bytes; bodies are not
parsed during a measurement, only the status code is checked. Both servers
answer unary requests with ``Content-Length`` (chunked bodies are still
read correctly, for robustness).

``run_load`` runs N clients in a closed loop (each sends its next request
as soon as the previous one is answered) for a warm-up and then a measured
window, and records the latency of every request answered inside the
window. It also reports this process's own CPU time over the window, to
show whether the client was the bottleneck.
"""
from __future__ import annotations

import asyncio
import base64
import json
import resource
import time
from dataclasses import dataclass, field
from typing import Callable

HOST = "127.0.0.1"

_REQUEST_HEAD = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def post_bytes(path: bytes, body: bytes) -> bytes:
    """One complete HTTP/1.1 request."""
    return _REQUEST_HEAD % (path, len(body)) + body


def put_request(key: bytes, value_b64: bytes) -> bytes:
    """``/v3/kv/put`` of ``key``; ``value_b64`` is already base64 (encode a
    benchmark's constant value once)."""
    return post_bytes(b"/v3/kv/put", b'{"key":"%s","value":"%s"}' % (b64(key), value_b64))


def range_request(key: bytes) -> bytes:
    """A linearizable ``/v3/kv/range`` of one key (etcd's default:
    ``serializable`` false)."""
    return post_bytes(b"/v3/kv/range", b'{"key":"%s"}' % b64(key))


def txn_put_request(keys: list[bytes], value_b64: bytes) -> bytes:
    """``/v3/kv/txn`` with no compares and one put per key (one revision)."""
    ops = b",".join(b'{"request_put":{"key":"%s","value":"%s"}}' % (b64(k), value_b64) for k in keys)
    return post_bytes(b"/v3/kv/txn", b'{"success":[%s]}' % ops)


class HTTPError(Exception):
    """The server answered something other than 200."""

    def __init__(self, status: int, body: bytes) -> None:
        super().__init__(f"HTTP {status}: {body[:300]!r}")
        self.status = status
        self.body = body


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self, timeout: float = 5.0) -> "Connection":
        self.reader, self.writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.port), timeout)
        return self

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        """Send one complete request and return (status, body). Raises
        ``OSError`` / ``asyncio.IncompleteReadError`` if the connection
        breaks; the caller then closes it."""
        if self.writer is None:
            await self.open()
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        lower = head.lower()
        at = lower.find(b"\r\ncontent-length:")
        if at >= 0:
            end = lower.index(b"\r\n", at + 2)
            body = await self.reader.readexactly(int(head[at + 17:end]))
        elif b"\r\ntransfer-encoding: chunked" in lower:
            body = await self._read_chunked()
        else:
            body = b""
        if b"\r\nconnection: close" in lower:
            self.close()
        return status, body

    async def _read_chunked(self) -> bytes:
        parts = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)

    async def call(self, path: str, body: dict | None = None, *, timeout: float = 10.0) -> dict:
        """POST a JSON body and return the parsed JSON answer; ``HTTPError``
        unless 200. For setup and polling, not for measured traffic."""
        request = post_bytes(path.encode(), json.dumps(body or {}).encode())
        try:
            status, raw = await asyncio.wait_for(self.send(request), timeout)
        except BaseException:
            self.close()
            raise
        if status != 200:
            raise HTTPError(status, raw)
        return json.loads(raw) if raw else {}


async def call_once(port: int, path: str, body: dict | None = None, *, timeout: float = 5.0) -> dict:
    """One request on a fresh connection (status polls while processes
    come and go)."""
    connection = Connection(port)
    try:
        await connection.open(timeout)
        return await connection.call(path, body, timeout=timeout)
    finally:
        connection.close()


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@dataclass
class LoadResult:
    """What one load run measured. Latencies are in seconds, sorted."""

    clients: int
    seconds: float
    requests: int
    errors: int
    latencies: list[float] = field(repr=False)
    client_cpu: float  # this process's CPU time over the window / window (1.0 = one core)
    first_error: str = ""

    @property
    def rate(self) -> float:
        return self.requests / self.seconds

    def percentile_ms(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        return self.latencies[min(len(self.latencies) - 1, int(len(self.latencies) * fraction))] * 1e3

    def summary(self) -> dict:
        return {
            "clients": self.clients, "seconds": round(self.seconds, 3), "requests": self.requests,
            "errors": self.errors, "rate": round(self.rate, 1), "p50_ms": round(self.percentile_ms(0.50), 3),
            "p99_ms": round(self.percentile_ms(0.99), 3), "client_cpu": round(self.client_cpu, 3),
            **({"first_error": self.first_error} if self.first_error else {}),
        }


async def run_load(
    port: int, clients: int, make_request: Callable[[int, int], bytes], *, warmup: float, duration: float,
    on_window: Callable[[bool], None] | None = None,
) -> LoadResult:
    """``clients`` closed-loop clients against ``port`` for ``warmup`` +
    ``duration`` seconds. ``make_request(client, seq)`` gives the bytes of
    client ``client``'s ``seq``-th request. A request counts, with its
    latency, if it was both sent and answered 200 inside the measured
    window; a non-200 answer or a broken connection counts as an error (the
    client reconnects and goes on). ``on_window(True/False)`` is called as
    the window opens and closes (e.g. to sample server CPU)."""
    connections = [Connection(port) for _ in range(clients)]
    await asyncio.gather(*(c.open() for c in connections))
    latencies: list[float] = []
    errors = 0
    first_error = ""
    clock = time.perf_counter
    start = clock()
    window_open = start + warmup
    window_close = window_open + duration

    async def client(index: int, connection: Connection) -> None:
        nonlocal errors, first_error
        seq = 0
        record = latencies.append
        while True:
            request = make_request(index, seq)
            seq += 1
            sent = clock()
            if sent >= window_close:
                return
            try:
                status, body = await connection.send(request)
            except (OSError, asyncio.IncompleteReadError, ValueError) as error:
                connection.close()
                status, body = -1, repr(error).encode()
            done = clock()
            if sent >= window_open and done <= window_close:
                if status == 200:
                    record(done - sent)
                else:
                    errors += 1
                    first_error = first_error or f"HTTP {status}: {body[:200]!r}"

    async def window() -> tuple[float, float]:
        await asyncio.sleep(max(0.0, window_open - clock()))
        if on_window:
            on_window(True)
        cpu_before, opened = _cpu_seconds(), clock()
        await asyncio.sleep(max(0.0, window_close - clock()))
        cpu, closed = _cpu_seconds() - cpu_before, clock()
        if on_window:
            on_window(False)
        return cpu, closed - opened

    try:
        watcher = asyncio.create_task(window())
        await asyncio.gather(*(client(i, c) for i, c in enumerate(connections)))
        cpu, elapsed = await watcher
    finally:
        for c in connections:
            c.close()
    latencies.sort()
    return LoadResult(
        clients=clients, seconds=duration, requests=len(latencies), errors=errors, latencies=latencies,
        client_cpu=cpu / elapsed if elapsed > 0 else 0.0, first_error=first_error,
    )


async def run_jobs(
    port: int, clients: int, count: int, make_request: Callable[[int], bytes], *, retries: int = 20,
    progress: Callable[[int], None] | None = None,
) -> tuple[float, int]:
    """Send requests ``make_request(0) .. make_request(count - 1)`` once
    each, over ``clients`` connections (for loading data as fast as the
    server takes it). A failed request is retried after a pause (loading
    puts distinct keys, so a retried put that had been applied only adds a
    revision); raises ``HTTPError`` after ``retries`` failures of one
    request. ``progress(done)`` is called every 10,000 answers. Returns
    (seconds, requests answered 200)."""
    next_job = 0
    done = 0

    async def client() -> None:
        nonlocal next_job, done
        connection = Connection(port)
        try:
            while next_job < count:
                request = make_request(next_job)
                next_job += 1
                for attempt in range(retries):
                    try:
                        status, body = await connection.send(request)
                    except (OSError, asyncio.IncompleteReadError) as error:
                        connection.close()
                        status, body = -1, repr(error).encode()
                    if status == 200:
                        done += 1
                        if progress is not None and done % 10_000 == 0:
                            progress(done)
                        break
                    await asyncio.sleep(0.05 * (attempt + 1))
                else:
                    raise HTTPError(status, body)
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(client() for _ in range(clients)))
    return time.perf_counter() - started, done
