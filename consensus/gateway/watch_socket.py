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

The token is also checked once at the handshake, since nothing sent later
can change who the connection is: a connection whose token is refused, or
that has none while the store asks for one (auth on), could never watch
anything, so it is closed at once with 4001 and the store's reason
instead of being held open; 1013 if this member cannot check tokens now.
So this socket never waits for its client to authenticate and needs no
deadline for it; of the server's bounds on websockets
(``consensus.websocket_protocol``) it counts towards the node's total,
together with ``/ws/v1/config``'s, and never among an address's sockets
waiting to authenticate. Nothing a browser adds by itself (cookies)
authenticates it; it is behind the node's origin check anyway
(``config_center.ws.origin`` says why).
"""
from __future__ import annotations

import asyncio
import json


from consensus.etcd_api.authorization import Authorizer
from consensus.etcd_api.calls import EtcdApi
from consensus.mvcc.api import StoreError, WatchCreateRequest, WatchResponse
from consensus.mvcc.json_codec import RequestDecodeError, stream_item

from .errors import dumps, error_response
from .watch_stream import decode_watch_request

PATH = "/ws/v1/watch"
TRY_AGAIN_LATER = 1013
UNAUTHENTICATED = 4001
# Asked of a handshake without a user: may nobody watch? Yes only with auth off.
_ANYONE_WATCHING = WatchCreateRequest(key=b"\0")
# The gRPC codes of a refused token (etcd's): unauthenticated (a bad token),
# invalid argument (none: "user name is empty"), permission denied. Any other
# error is this member's, not the token's.
_REFUSED_CODES = frozenset({16, 3, 7})


async def serve_watch_socket(scope: dict, receive, send, *, api: EtcdApi, token: str | None) -> None:
    """Serve one websocket connection of ``/ws/v1/watch`` until it closes;
    ``token`` is the handshake's ``Authorization`` header."""
    if (await receive())["type"] != "websocket.connect":
        return
    if api.store_provider() is None:
        await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": "the store is not running"})
        return
    refused = await _check_token(api.authorizer, token, api.request_timeout)
    await send({"type": "websocket.accept"})
    if refused is not None:
        await send({"type": "websocket.close", "code": refused[0], "reason": refused[1]})
        return
    requests: asyncio.Queue = asyncio.Queue()
    gone = asyncio.Event()

    async def emit(response: WatchResponse) -> None:
        await send({"type": "websocket.send", "text": dumps(stream_item(response)).decode()})

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
    try:
        session = api.watch_session(token, emit)
    except StoreError as error:  # the member stopped meanwhile
        await send({"type": "websocket.close", "code": TRY_AGAIN_LATER, "reason": error.text[:123]})
        return
    try:
        await session.run(each_request(), gone.wait())
    finally:
        reader.cancel()
        await asyncio.gather(reader, return_exceptions=True)


async def _check_token(authorizer: Authorizer, token: str | None, timeout: float) -> tuple[int, str] | None:
    """Why the handshake's ``token`` cannot watch anything (a close code
    and reason), or None if it may go on."""
    try:
        async with asyncio.timeout(timeout):
            user = await authorizer.authenticate(token)
        if not user:  # anonymous (or no user at all): fine only where the store asks for no token
            authorizer.authorize(user, "watch", _ANYONE_WATCHING)
    except (TimeoutError, StoreError) as error:
        if isinstance(error, StoreError) and error.grpc_code in _REFUSED_CODES:
            # A close frame's reason holds 123 bytes; the store's messages are short.
            reason = f"{error}; send a token of /v3/auth/authenticate as Authorization"
            return UNAUTHENTICATED, reason.encode()[:123].decode(errors="ignore")
        return TRY_AGAIN_LATER, "this member cannot check tokens now; try another member"
    return None


def _object(text: str) -> dict:
    try:
        value = json.loads(text)
    except ValueError:
        raise RequestDecodeError("a frame holds one watch request as a JSON object") from None
    if not isinstance(value, dict):
        raise RequestDecodeError("a frame holds one watch request as a JSON object")
    return value
