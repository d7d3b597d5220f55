"""``POST /v3/watch``: a watch stream over HTTP, as etcd 3.4.23's gateway
serves it.

The body holds one or more watch requests (``request_stream``), each
``{"create_request": ...}``, ``{"cancel_request": {"watch_id": N}}`` or
``{"progress_request": {}}``; the response is a stream of
``{"result": WatchResponse}`` lines, each sent as its own HTTP chunk, until
the client closes the connection. What the responses mean is
``consensus.etcd_api.watch_session``'s; what is HTTP, checked with curl
against 3.4.23, is here:

- nothing at all — not even the status line — is sent until there is a
  first response: a body with no request, or only ``{}`` (a request naming
  none of the three, which etcd ignores), gets no answer until the client
  gives up;
- a first request that does not decode is etcd's error body;
- the stream ends only when the client goes away.

daphne's write buffer below the ASGI ``send`` has no bound of its own; the
session's bounded queue is what holds a client that does not read.
"""
from __future__ import annotations

import itertools
from typing import Any, Awaitable, Callable

from consensus.etcd_api.calls import EtcdApi
from consensus.etcd_api.errors import StoreNotRunningError
from consensus.etcd_api.watch_session import KIND
from consensus.mvcc.api import WatchResponse
from consensus.mvcc.json_codec import RequestDecodeError, request_from_json, stream_item
from consensus.mvcc.json_codec.messages import lookup
from consensus.mvcc.json_codec.streams import WATCH_REQUESTS

from .errors import dumps, error_response
from .request_stream import StreamRequests

_JSON: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
_JSON_OK = [*_JSON, (b"grpc-metadata-content-type", b"application/grpc")]


def decode_watch_request(obj: dict) -> Any:
    """The request a ``/v3/watch`` value holds; ``None`` for one naming
    none of create / cancel / progress (etcd ignores it)."""
    if not any(lookup(obj, name)[1] is not None for name, _ in WATCH_REQUESTS):
        return None
    return request_from_json(KIND, obj)


async def serve_watch(
    *, body: bytes, api: EtcdApi, token: str | None,
    receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]],
) -> None:
    """Answer one ``/v3/watch`` request whose body is ``body``; returns when
    the client has gone (or the first request was refused outright)."""
    requests = StreamRequests(body, decode_watch_request)
    try:
        _present, first = requests.first()  # None: no request, or one asking for nothing
        api.store()
    except RequestDecodeError as error:
        await _respond_error(send, error)
        return
    except StoreNotRunningError as error:
        await _respond_error(send, error)
        return
    started = False

    async def emit(response: WatchResponse) -> None:
        nonlocal started
        if not started:
            started = True
            await send({"type": "http.response.start", "status": 200, "headers": _JSON_OK})
        await send({"type": "http.response.body", "body": dumps(stream_item(response)) + b"\n", "more_body": True})

    session = api.watch_session(token, emit)
    await session.run(_each(itertools.chain((first,) if first is not None else (), requests)),
                      _until_disconnect(receive))


async def _each(requests):
    for request in requests:
        yield request


async def _respond_error(send, error) -> None:
    status, payload = error_response(error)
    await send({"type": "http.response.start", "status": status,
                "headers": [*_JSON, (b"content-length", str(len(payload)).encode())]})
    await send({"type": "http.response.body", "body": payload})


async def _until_disconnect(receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass
