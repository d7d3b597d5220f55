"""``/ws/v1/watch``: the store's watch API over a websocket, for clients
that want raw keys and revisions rather than config.

It speaks exactly what ``POST /v3/watch`` speaks (``watch_stream``), one
message per frame: each text frame from the client is one watch request
(``{"create_request": {...}}`` with base64 keys, ``{"cancel_request":
{"watch_id": N}}`` or ``{"progress_request": {}}``), each frame to it is one
``{"result": WatchResponse}``. The same ``WatchSession`` serves both, so the
watch's guarantees are the same: ordered, unique, reliable, atomic per
revision, resumable from ``start_revision``, and bookmarks only once
caught up; a compacted start is answered ``canceled`` with
``compact_revision``. A client that reads slowly holds the session's
queue full and its watchers' buffers fill; the hub then re-reads their
history as the client catches up, so nothing is buffered without bound
and nothing is skipped.

Access is the store's own: the token of ``POST /v3/auth/authenticate``
in the handshake's ``Authorization`` header, checked against the user's
key-range permissions for every watch, exactly as on ``/v3/watch``. A
frame that is not a watch request is answered ``{"error": {...}}`` (the
gateway's error body) and changes nothing.
"""
from __future__ import annotations

import asyncio
import json
from typing import Any, Callable

from consensus.mvcc.json_codec import RequestDecodeError

from .authorization import Authorizer
from .errors import dumps, error_response
from .watch_stream import WatchSession, decode_watch_request

PATH = "/ws/v1/watch"
TRY_AGAIN_LATER = 1013


async def serve_watch_socket(scope: dict, receive, send, *, store_provider: Callable[[], Any],
                             authorizer: Authorizer, token: str | None, timeout: float) -> None:
    """Serve one websocket connection of ``/ws/v1/watch`` until it closes;
    ``token`` is the handshake's ``Authorization`` header."""
    if (await receive())["type"] != "websocket.connect":
        return
    store = store_provider()
    if store is None:
        await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": "the store is not running"})
        return
    await send({"type": "websocket.accept"})
    requests: asyncio.Queue = asyncio.Queue()
    gone = asyncio.Event()

    async def emit(item: dict) -> None:
        await send({"type": "websocket.send", "text": dumps(item).decode()})

    async def read_frames() -> None:
        try:
            while True:
                message = await receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None:
                    text = (message.get("bytes") or b"").decode("utf-8", "replace")
                try:
                    request = decode_watch_request(_object(text))
                except RequestDecodeError as error:
                    _, body = error_response(error)
                    await send({"type": "websocket.send", "text": '{"error":' + body.decode() + "}"})
                    continue
                if request is not None:
                    await requests.put(request)
        finally:
            gone.set()

    async def each_request():
        while True:
            yield await requests.get()

    reader = asyncio.create_task(read_frames(), name="watch-socket-reader")
    session = WatchSession(store, authorizer, token, emit, timeout)
    try:
        await session.run(each_request(), gone.wait())
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


def _object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise RequestDecodeError("a frame holds one watch request as a JSON object") from None
    if not isinstance(value, dict):
        raise RequestDecodeError("a frame holds one watch request as a JSON object")
    return value
