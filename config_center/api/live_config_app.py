"""``GET /api/v1/namespaces/<ns>/-/config`` with an API token, served on the
node's loop without Django: the request applications make all day.

Through Django and DRF this request cost about 3 ms of the loop's CPU
(request objects, middleware, a worker thread per request, a loop hop per
store call); here it is one ReadIndex and a cached answer
(``service.live_reads``). The answer is the same JSON the DRF view gives,
with an ``ETag`` (the namespace's revision): a client that sends it back in
``If-None-Match`` gets ``304 Not Modified`` while nothing changed. Any other
request, or this one without a bearer token (a browser session), goes to
Django as before.
"""
from __future__ import annotations

import json
import re

from config_center import service_host
from config_center.service.errors import ServiceError, UnavailableError

from .urls import NamespaceConverter

PATH = re.compile(rf"/api/v1/namespaces/({NamespaceConverter.regex})/-/config")
_JSON = [(b"content-type", b"application/json"), (b"vary", b"Authorization")]


def _header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


async def _respond(send, status: int, body: bytes, headers: list) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [*headers, (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class LiveConfigApp:
    def __init__(self, fallback) -> None:
        self.fallback = fallback

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http" or scope["method"] not in ("GET", "HEAD"):
            return await self.fallback(scope, receive, send)
        match = PATH.fullmatch(scope["path"])
        authorization = _header(scope, b"authorization") if match else None
        if match is None or authorization is None or not authorization.startswith(b"Bearer "):
            return await self.fallback(scope, receive, send)
        await self._serve(scope, send, match.group(1), authorization[7:].strip().decode("latin-1"))

    async def _serve(self, scope, send, ns: str, token: str) -> None:
        reader = service_host.live_reader()
        address = (scope.get("client") or ("", 0))[0]
        try:
            if reader is None:
                raise UnavailableError("the config service is not running on this node")
            answer = await reader.read(token, ns, address)
        except ServiceError as error:
            headers = list(_JSON)
            if error.status == 401:
                headers.append((b"www-authenticate", b'Bearer realm="config_center"'))
            await _respond(send, error.status, json.dumps(error.as_dict()).encode(), headers)
            return
        except Exception as error:  # the store cannot answer now: retryable
            body = UnavailableError(f"the store cannot serve this request now ({error}); retry").as_dict()
            await _respond(send, 503, json.dumps(body).encode(), [*_JSON, (b"retry-after", b"1")])
            return
        etag = f'"{answer.revision}"'.encode()
        if _header(scope, b"if-none-match") == etag:
            await _respond(send, 304, b"", [(b"etag", etag), (b"vary", b"Authorization")])
            return
        # For HEAD the server sends the head alone.
        await _respond(send, 200, answer.body, [*_JSON, (b"etag", etag)])
