"""Many live-config subscribers in one process, for ``live_bench.py``.

    python bench/ws_swarm.py --ports 8000,8001 --token cct_... --namespace bench/live --count 2500

Opens ``--count`` websockets to ``/ws/v1/config`` (spread over ``--ports``),
subscribes each to ``--namespace``, prints ``ready <n>`` once every one has
its snapshot, and then records when each ``change`` message arrives
(``time.monotonic()``, which is system-wide on Linux, so the benchmark can
compare it with when it sent the publish). On a line ``stop`` on stdin it
prints one JSON line: revision -> list of receipt times, and exits.

The websocket client is a small one of its own on asyncio's protocol API
(handshake, unmasked server frames, masked client frames, pongs): a
subscriber here costs a few microseconds per message, so on a small
machine the figures measure the server's fan-out rather than the clients'
frame parsing. ``--deflate`` asks for permessage-deflate compression as
clients of the ``websockets`` library do by default, and inflates what the
server compressed (the node declines it: the flag shows that a client
asking changes nothing).
"""
from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import re
import sys
import time
import zlib

REVISION = re.compile(rb'"revision":(\d+)')


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client frame (RFC 6455 requires clients to mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        head = bytes([0x80 | opcode, 0x80 | length])
    elif length < 1 << 16:
        head = bytes([0x80 | opcode, 0x80 | 126]) + length.to_bytes(2, "big")
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + length.to_bytes(8, "big")
    key = int.from_bytes((mask * (length // 4 + 1))[:length], "big") if length else 0
    masked = (int.from_bytes(payload, "big") ^ key).to_bytes(length, "big") if length else b""
    return head + mask + masked


DEFLATE_OFFER = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"


class Subscriber(asyncio.Protocol):
    def __init__(self, path: str, token: str, namespace: str, receipts: dict, snapshot: asyncio.Future,
                 deflate: bool = False) -> None:
        self.path, self.token, self.namespace = path, token, namespace
        self.receipts = receipts
        self.snapshot = snapshot
        self.buffer = b""
        self.handshaken = False
        self.transport = None
        self.deflate = deflate
        # One context for the connection's life: the server keeps its own
        # (no context takeover was asked for), as with the SDK.
        self.inflater = zlib.decompressobj(-15) if deflate else None

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        transport.write((f"GET {self.path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                         f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                         f"Authorization: Bearer {self.token}\r\n{DEFLATE_OFFER if self.deflate else ''}"
                         "\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.monotonic()
        self.buffer += data
        if not self.handshaken:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not self.buffer.startswith(b"HTTP/1.1 101"):
                self._fail(f"handshake refused: {self.buffer[:80]!r}")
                return
            self.handshaken = True
            self.buffer = self.buffer[end + 4:]
            self.transport.write(client_frame(1, json.dumps({"type": "subscribe",
                                                              "namespace": self.namespace}).encode()))
        while len(self.buffer) >= 2:
            compressed = bool(self.buffer[0] & 0x40)
            opcode, length = self.buffer[0] & 0x0F, self.buffer[1] & 0x7F
            offset = 2
            if length == 126:
                if len(self.buffer) < 4:
                    return
                length, offset = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    return
                length, offset = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < offset + length:
                return
            payload = self.buffer[offset:offset + length]
            self.buffer = self.buffer[offset + length:]
            if compressed:
                payload = self.inflater.decompress(payload + b"\x00\x00\xff\xff")
            self._message(opcode, payload, now)

    def _message(self, opcode: int, payload: bytes, now: float) -> None:
        if opcode == 9:
            self.transport.write(client_frame(10, payload))
        elif opcode == 8:
            self._fail(f"closed by the server: {payload[2:]!r}")
        elif opcode == 1:
            head = payload[:40]
            if b'"type":"change"' in head:
                revision = int(REVISION.search(payload).group(1))
                self.receipts.setdefault(revision, []).append(now)
            elif b'"type":"snapshot"' in head and not self.snapshot.done():
                self.snapshot.set_result(None)
            elif b'"type":"error"' in head:
                self._fail(payload.decode(errors="replace"))

    def _fail(self, why: str) -> None:
        if not self.snapshot.done():
            self.snapshot.set_exception(RuntimeError(why))
        else:
            print(f"subscriber failed: {why}", file=sys.stderr)

    def connection_lost(self, exc) -> None:
        if not self.snapshot.done():
            self.snapshot.set_exception(RuntimeError(f"connection lost: {exc}"))


async def main_async(args) -> None:
    loop = asyncio.get_running_loop()
    receipts: dict[int, list[float]] = {}
    ports = [int(p) for p in args.ports.split(",")]
    gate = asyncio.Semaphore(100)  # handshakes in flight at once
    transports = []

    async def one(i: int) -> None:
        async with gate:
            snapshot = loop.create_future()
            transport, _ = await loop.create_connection(
                lambda: Subscriber("/ws/v1/config", args.token, args.namespace, receipts, snapshot, args.deflate),
                "127.0.0.1", ports[i % len(ports)])
            transports.append(transport)
            await asyncio.wait_for(snapshot, 120)

    await asyncio.gather(*(one(i) for i in range(args.count)))
    print(f"ready {len(transports)}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)
    print(json.dumps({str(k): v for k, v in receipts.items()}), flush=True)
    for transport in transports:
        transport.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ports", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--namespace", required=True)
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--deflate", action="store_true", help="ask for permessage-deflate, as the SDK does")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
