"""``POST /v3/maintenance/snapshot``: the member's whole store, streamed.

What etcd 3.4.23's gateway sends, checked with curl against it, and so
this sends:

- a ``200`` response of ``{"result": SnapshotResponse}`` lines, each line
  its own HTTP chunk. The database goes in chunks of ``CHUNK_BYTES`` (32
  KiB, etcd's ``snapshotSendBufferSize``), each line
  ``{"result":{"remaining_bytes":"N","blob":"<base64>"}}``, where ``N`` is
  what is left to send *after* this chunk (proto3 JSON leaves it out when it
  is 0, so the last chunk of the database carries only ``blob``);
- then one more line, ``{"result":{"blob":"<base64>"}}``, whose blob is
  the 32-byte SHA-256 of everything sent before it. A client tells it from
  the database because the countdown already reached 0 (the sum of the
  database chunks equals the first line's ``remaining_bytes`` plus its blob);
  ``etcdctl snapshot save`` writes it after the database, and restoring
  verifies the file against it;
- no response header in any line (etcd 3.4 fills none for Snapshot).

The database is ``StoreStateMachine.snapshot()``: a consistent copy of the
member's SQLite file (KV history, leases, auth tables, the applied index),
taken in a worker thread, as of the moment the request is served — the
member's applied state, not a linearizable read (etcd's neither). The copy
is held in memory while it is sent; daphne's write buffer has no bound of
its own, so a slow client costs memory up to the database's size.

Refusals, as etcd's maintenance server words them (Go's unconverted
``auth:`` errors, code 2, HTTP 500), sent as grpc-gateway's stream error
chunk: no token with auth on, "auth: user name is empty"; a user that is not
root, "auth: permission denied"; a token that does not authenticate, "auth:
invalid auth token". The authorizer is asked ``authorize(user, "snapshot",
None)``, which is root-only. A body that is not JSON is etcd's error body
(code 3, HTTP 400); the request has no fields, so any JSON object (or
``null``, or nothing) asks for the same.
"""
from __future__ import annotations

import asyncio
import base64
from typing import Awaitable, Callable, Iterator

from consensus.etcd_api.calls import SNAPSHOT_CHUNK_BYTES, EtcdApi, snapshot_chunks
from consensus.etcd_api.errors import client_error
from consensus.mvcc.json_codec import RequestDecodeError, parse_body

from .errors import error_response, stream_error_chunk

SNAPSHOT_PATH = "/v3/maintenance/snapshot"
CHUNK_BYTES = SNAPSHOT_CHUNK_BYTES

_JSON: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
_JSON_OK = [*_JSON, (b"grpc-metadata-content-type", b"application/grpc")]


def snapshot_lines(data: bytes, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
    """The body lines (each ending in ``\\n``) that stream ``data``: the
    chunks with their countdown, then the SHA-256 line (module docstring)."""
    for remaining, blob in snapshot_chunks(data, chunk_bytes):
        encoded = base64.b64encode(blob)
        if remaining:
            yield b'{"result":{"remaining_bytes":"%d","blob":"%s"}}\n' % (remaining, encoded)
        else:
            yield b'{"result":{"blob":"%s"}}\n' % encoded


async def serve_snapshot(
    *, body: bytes, api: EtcdApi, token: str | None,
    receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]],
) -> None:
    """Answer one ``/v3/maintenance/snapshot`` request whose body is
    ``body`` (``EtcdApi.snapshot`` says who may and what is bounded).
    Stops sending early if the client goes away."""
    try:
        parse_body(body, "hash")  # no fields, but it must be JSON
    except RequestDecodeError as error:
        status, payload = error_response(error)
        await send({"type": "http.response.start", "status": status,
                    "headers": [*_JSON, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        return
    try:
        data = await api.snapshot(token)
    except Exception as exc:
        error = client_error(exc, f"POST {SNAPSHOT_PATH}")
        status, chunk = stream_error_chunk(error)
        await send({"type": "http.response.start", "status": status, "headers": _JSON})
        await send({"type": "http.response.body", "body": chunk})
        return

    gone = asyncio.Event()

    async def watch_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass
        gone.set()

    watcher = asyncio.create_task(watch_disconnect())
    try:
        await send({"type": "http.response.start", "status": 200, "headers": _JSON_OK})
        for line in snapshot_lines(data):
            if gone.is_set():
                return
            await send({"type": "http.response.body", "body": line, "more_body": True})
            await asyncio.sleep(0)  # let the server write, and notice a client that left
        await send({"type": "http.response.body", "body": b""})
    finally:
        watcher.cancel()
