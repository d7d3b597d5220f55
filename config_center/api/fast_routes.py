"""The calls applications and pipelines make all day, served on the node's
loop without Django when they carry an API token:

    GET  /api/v1/namespaces/<ns>/-/config         the live config (ETag / 304)
    PUT  /api/v1/namespaces/<ns>/-/items/<name>   save a draft
    POST /api/v1/namespaces/<ns>/-/publish        publish the drafts
    PUT  /api/v1/services/<service>/-/instances/<id>              register an instance
    POST /api/v1/services/<service>/-/instances/<id>/keepalive    renew its lease

Through Django and DRF each request cost the node several milliseconds of
CPU (request objects, a worker thread per request, a hop back to the loop
for every service call); the service's own work for a save plus a publish
is under 2 ms (``bench/README.md``). These routes parse the same JSON,
call the same ``ConfigService`` methods and answer the same bodies and
errors as the DRF views (``items.ItemDetail``, ``releases.Publish``,
``items.LiveConfig``, ``registry.InstanceDetail``, ``registry.Keepalive``;
tests hold them to it). Live config answers come
from ``service.live_reads`` (one ReadIndex, a cached answer per namespace
revision) with an ``ETag``; ``If-None-Match`` with it answers 304.

Anything else — another path or method, no bearer token (a browser
session) — goes to Django as before.
"""
from __future__ import annotations

import json
import re

from config_center import service_host
from config_center.service.errors import InvalidError, LimitError, ServiceError, UnavailableError
from config_center.url_converters import NamespaceConverter

from .calls import revision_from

_NS = NamespaceConverter.regex
CONFIG = re.compile(rf"/api/v1/namespaces/({_NS})/-/config")
ITEM = re.compile(rf"/api/v1/namespaces/({_NS})/-/items/([^/]+)")
PUBLISH = re.compile(rf"/api/v1/namespaces/({_NS})/-/publish")
INSTANCE = re.compile(rf"/api/v1/services/({_NS})/-/instances/([^/]+)")
KEEPALIVE = re.compile(rf"/api/v1/services/({_NS})/-/instances/([^/]+)/keepalive")
# An item of the largest size, as a JSON string, with room for the rest.
MAX_BODY = 4 * 1024 * 1024
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


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


class _ParseError(Exception):
    """A body that is not JSON: answered as DRF answers it."""


async def _read_json(receive) -> dict:
    parts, size = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise ConnectionError("client went away")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise LimitError(f"request body larger than {MAX_BODY} bytes")
        parts.append(chunk)
        if not message.get("more_body", False):
            break
    raw = b"".join(parts)
    try:
        data = json.loads(raw) if raw.strip() else {}
    except ValueError as error:
        raise _ParseError(f"JSON parse error - {error}") from None
    if not isinstance(data, dict):
        raise InvalidError("the request body must be a JSON object")
    return data


def _base_revision(scope: dict, data: dict):
    header = _header(scope, b"if-match")
    return revision_from(header.decode("latin-1") if header else None, data)


class FastRoutes:
    def __init__(self, fallback) -> None:
        self.fallback = fallback

    async def __call__(self, scope, receive, send) -> None:
        route = self._route(scope) if scope["type"] == "http" else None
        authorization = _header(scope, b"authorization") if route else None
        if route is None or authorization is None or not authorization.startswith(b"Bearer "):
            return await self.fallback(scope, receive, send)
        token = authorization[7:].strip().decode("latin-1")
        address = (scope.get("client") or ("", 0))[0]
        try:
            await route[0](scope, receive, send, token, address, *route[1])
        except ServiceError as error:
            await self._error(send, error)
        except _ParseError as error:
            await _respond(send, 400, _dumps({"code": "parse_error", "message": str(error)}), _JSON)
        except ConnectionError:
            return
        except Exception as error:  # the store cannot answer now: retryable
            body = UnavailableError(f"the store cannot serve this request now ({error}); retry").as_dict()
            await _respond(send, 503, _dumps(body), [*_JSON, (b"retry-after", b"1")])

    def _route(self, scope: dict):
        method, path = scope["method"], scope["path"]
        if method in ("GET", "HEAD"):
            match = CONFIG.fullmatch(path)
            return (self._config, match.groups()) if match else None
        if method == "PUT":
            for pattern, handler in ((ITEM, self._save_draft), (INSTANCE, self._register)):
                match = pattern.fullmatch(path)
                if match:
                    return handler, match.groups()
            return None
        if method == "POST":
            for pattern, handler in ((PUBLISH, self._publish), (KEEPALIVE, self._keepalive)):
                match = pattern.fullmatch(path)
                if match:
                    return handler, match.groups()
        return None

    @staticmethod
    def _service():
        bound = service_host.bound_service()
        if bound is None:
            raise UnavailableError("the config service is not running on this node")
        return bound

    @staticmethod
    async def _error(send, error: ServiceError) -> None:
        headers = list(_JSON)
        if error.status == 401:
            headers.append((b"www-authenticate", b'Bearer realm="config_center"'))
        await _respond(send, error.status, _dumps(error.as_dict()), headers)

    async def _config(self, scope, receive, send, token: str, address: str, ns: str) -> None:
        reader = service_host.live_reader()
        if reader is None:
            raise UnavailableError("the config service is not running on this node")
        answer = await reader.read(token, ns, address)
        etag = f'"{answer.revision}"'.encode()
        if _header(scope, b"if-none-match") == etag:
            await _respond(send, 304, b"", [(b"etag", etag), (b"vary", b"Authorization")])
            return
        # For HEAD the server sends the head alone.
        await _respond(send, 200, answer.body, [*_JSON, (b"etag", etag)])

    async def _caller(self, receive, token: str, address: str):
        """The service, who is calling (the token), and the request's JSON
        body: what every write route starts with."""
        service = self._service()
        principal = await service.token_principal(token, address)
        return service, principal, await _read_json(receive)

    async def _save_draft(self, scope, receive, send, token: str, address: str, ns: str, name: str) -> None:
        service, principal, data = await self._caller(receive, token, address)
        saved = await service.save_draft(
            principal, ns, name, data.get("content"), format=data.get("format"), comment=data.get("comment", ""),
            revision=_base_revision(scope, data), secret=data.get("secret"))
        await _respond(send, 200, _dumps(saved), [*_JSON, (b"etag", f'"{saved["revision"]}"'.encode())])

    async def _publish(self, scope, receive, send, token: str, address: str, ns: str) -> None:
        service, principal, data = await self._caller(receive, token, address)
        release = await service.publish(principal, ns, comment=data.get("comment", ""),
                                        revision=_base_revision(scope, data))
        await _respond(send, 201, _dumps(release), _JSON)

    async def _register(self, scope, receive, send, token: str, address: str, service: str, instance: str) -> None:
        bound, principal, data = await self._caller(receive, token, address)
        registered = await bound.register_instance(principal, service, instance, data)
        await _respond(send, 201, _dumps(registered), _JSON)

    async def _keepalive(self, scope, receive, send, token: str, address: str, service: str, instance: str) -> None:
        bound, principal, data = await self._caller(receive, token, address)
        renewed = await bound.keepalive_instance(principal, service, instance, data.get("lease"))
        await _respond(send, 200, _dumps(renewed), _JSON)
