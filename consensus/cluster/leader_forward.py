"""Lease keep-alives sent to a follower, passed on to the leader.

Only the leader counts lease deadlines, so a keep-alive must reach it. etcd
forwards one that arrives at a follower; so do we, over the leader's own
client URL (``POST /v3/lease/keepalive``), one short connection per
keep-alive: a client renews a lease a few times per TTL, not thousands of
times a second. With store auth on the leader refuses a keep-alive without
credentials, so the caller passes ``authorization``: the forwarding
member's proof for this one lease (``consensus.auth.authorizer``,
"Forwarded keep-alives").
"""
from __future__ import annotations

import asyncio
import json
from urllib.parse import urlsplit

from consensus.mvcc.api import LeaseKeepAliveRequest, LeaseKeepAliveResponse, StoreError
from consensus.mvcc.json_codec import error_from_json, response_from_json

FORWARD_TIMEOUT = 3.0
_MAX_RESPONSE = 64 << 10


class ForwardError(Exception):
    """The leader could not be asked (unreachable, or an answer that does
    not parse); the keep-alive's outcome is unknown."""


async def forward_keepalive(client_url: str, request: LeaseKeepAliveRequest, *, authorization: str | None = None,
                            timeout: float = FORWARD_TIMEOUT) -> LeaseKeepAliveResponse:
    """The leader's answer to ``request``, sent with ``authorization`` as its
    ``Authorization`` header if given. Raises the leader's StoreError, or
    ForwardError."""
    parts = urlsplit(client_url)
    if parts.hostname is None or parts.port is None:
        raise ForwardError(f"the leader's client URL {client_url!r} has no host and port")
    body = json.dumps({"ID": str(request.ID)}).encode()
    head = (
        f"POST /v3/lease/keepalive HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        + (f"Authorization: {authorization}\r\n" if authorization is not None else "")
        + "\r\n"
    ).encode()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
            try:
                writer.write(head + body)
                await writer.drain()
                raw = await reader.read(_MAX_RESPONSE)
                while not reader.at_eof() and len(raw) < _MAX_RESPONSE:
                    more = await reader.read(_MAX_RESPONSE - len(raw))
                    if not more:
                        break
                    raw += more
            finally:
                writer.close()
    except (OSError, TimeoutError) as error:
        raise ForwardError(f"the leader at {client_url} did not answer: {error or type(error).__name__}") from None
    status, payload = _parse_response(raw)
    try:
        line = next(line for line in payload.splitlines() if line.strip())
        obj = json.loads(line)
    except (StopIteration, ValueError):
        raise ForwardError(f"the leader at {client_url} answered HTTP {status} with no result") from None
    if "result" in obj:
        return response_from_json("lease_keepalive", obj)
    if "code" in obj:  # a unary error body: the request was refused before the stream began
        raise error_from_json(status, obj)
    error = obj.get("error")
    if isinstance(error, dict) and "code" in error:
        raise error_from_json(status, error)
    if isinstance(error, dict) and "grpc_code" in error:  # the stream's error chunk (a refusal, say)
        raise error_from_json(error.get("http_code", status), {"message": error.get("message"),
                                                              "code": error["grpc_code"]})
    raise ForwardError(f"the leader at {client_url} answered {line[:200]!r}")


def _parse_response(raw: bytes) -> tuple[int, bytes]:
    """(status, body) of an HTTP/1.1 response read to the end; the body
    de-chunked if it was sent chunked."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    if not sep:
        raise ForwardError("the leader's answer ended inside its headers")
    lines = head.split(b"\r\n")
    try:
        status = int(lines[0].split()[1])
    except (IndexError, ValueError):
        raise ForwardError(f"not an HTTP status line: {lines[0][:100]!r}") from None
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(b":") for line in lines[1:])}
    if headers.get(b"transfer-encoding", b"").lower() == b"chunked":
        body = _dechunk(body)
    return status, body


def _dechunk(data: bytes) -> bytes:
    out = bytearray()
    while data:
        size_line, sep, rest = data.partition(b"\r\n")
        if not sep:
            break
        try:
            size = int(size_line.split(b";")[0], 16)
        except ValueError:
            raise ForwardError("a malformed chunk in the leader's answer") from None
        if size == 0:
            break
        out += rest[:size]
        data = rest[size + 2:]
    return bytes(out)


__all__ = ["ForwardError", "StoreError", "forward_keepalive"]
