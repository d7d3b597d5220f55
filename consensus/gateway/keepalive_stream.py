"""``POST /v3/lease/keepalive``: one keep-alive per request in the body, one
``{"result": LeaseKeepAliveResponse}`` line per keep-alive, then the end.

What etcd 3.4.23's gateway does, and so this does (checked with curl):

- the body holds one or more ``{"ID": ...}`` requests (``request_stream``);
  each is answered in order on its own line, sent as its own HTTP chunk
  (etcd3gw reads one JSON document per chunk), and the response ends after
  the last one — the client closed its side of the stream, so the server
  ends it;
- a lease that does not exist is not an error: its line has the ID and no
  TTL (TTL 0);
- a first request that does not decode is an error body (code 2, HTTP 500);
  a later one ends the stream after the lines before it;
- an empty body is an empty ``200`` response;
- a failure of the keep-alive itself (this member is not the leader, the
  store is not running) ends the stream with grpc-gateway's error chunk
  (``errors.stream_error_chunk``), with that error's HTTP status if nothing
  was sent before it.

Each keep-alive is ``EtcdApi.keepalive``: authenticated with the token
the stream was opened with (so one that expires mid-stream stops it),
authorized (kind ``lease_keepalive``: a user, and write on every key the
lease holds; etcd 3.4 checks nothing there), bounded in time. A refusal is
a failure like the others: the stream ends with its error chunk, after the
lines of the keep-alives allowed before it.
"""
from __future__ import annotations

import itertools
from typing import Any, Awaitable, Callable

from consensus.etcd_api.calls import KEEPALIVE_KIND as KIND
from consensus.etcd_api.calls import EtcdApi
from consensus.etcd_api.errors import client_error
from consensus.mvcc.json_codec import RequestDecodeError, request_from_json, stream_item

from .errors import dumps, error_response, stream_error_chunk
from .request_stream import StreamRequests

_JSON: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
_JSON_OK = [*_JSON, (b"grpc-metadata-content-type", b"application/grpc")]


def _decode(obj: dict) -> Any:
    return request_from_json(KIND, obj)


async def serve_keepalive(
    *, body: bytes, api: EtcdApi, token: str | None,
    receive: Callable[[], Awaitable[dict]], send: Callable[[dict], Awaitable[None]],
) -> None:
    """Answer one ``/v3/lease/keepalive`` request whose body is ``body``."""
    requests = StreamRequests(body, _decode)
    try:
        present, first = requests.first()
    except RequestDecodeError as error:
        status, payload = error_response(error)
        await send({"type": "http.response.start", "status": status,
                    "headers": [*_JSON, (b"content-length", str(len(payload)).encode())]})
        await send({"type": "http.response.body", "body": payload})
        return
    if not present:
        await send({"type": "http.response.start", "status": 200, "headers": _JSON})
        await send({"type": "http.response.body", "body": b""})
        return

    started = False
    for request in itertools.chain((first,), requests):
        try:
            response = await api.keepalive(request, token)
        except Exception as exc:
            error = client_error(exc, "POST /v3/lease/keepalive")
            status, chunk = stream_error_chunk(error)
            if not started:
                await send({"type": "http.response.start", "status": status, "headers": _JSON})
            await send({"type": "http.response.body", "body": chunk})
            return
        if not started:
            await send({"type": "http.response.start", "status": 200, "headers": _JSON_OK})
            started = True
        await send({"type": "http.response.body", "body": dumps(stream_item(response)) + b"\n", "more_body": True})
    await send({"type": "http.response.body", "body": b""})
