"""Forwarding a keep-alive to the leader's client URL: the leader's answer,
its unary error body and its stream error chunk each come back as what
they say (a refusal is the leader's refusal, not "no leader"), over a real
loopback socket."""
from __future__ import annotations

import asyncio
import json

import pytest

from consensus.cluster.leader_forward import ForwardError, forward_keepalive
from consensus.mvcc.api import LeaseKeepAliveRequest, StoreError


async def answering(status: str, chunks: list[bytes]):
    """A one-shot HTTP server answering ``chunks`` chunked; its URL."""
    seen = []

    async def handle(reader, writer):
        seen.append(await reader.read(65536))
        body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
        writer.write(f"HTTP/1.1 {status}\r\nTransfer-Encoding: chunked\r\n\r\n".encode() + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}", seen


def test_the_leaders_answer_and_refusals_come_back_as_such():
    async def scenario():
        server, url, seen = await answering("200 OK", [json.dumps(
            {"result": {"header": {"revision": "5"}, "ID": "7", "TTL": "30"}}).encode() + b"\n"])
        async with server:
            renewed = await forward_keepalive(url, LeaseKeepAliveRequest(ID=7), authorization="ccfwd1:proof")
        assert renewed.ID == 7 and renewed.TTL == 30
        assert b"Authorization: ccfwd1:proof\r\n" in seen[0]

        server, url, _ = await answering("200 OK", [json.dumps({"error": {
            "grpc_code": 7, "http_code": 403, "message": "etcdserver: permission denied",
            "http_status": "Forbidden"}}).encode() + b"\n"])
        async with server:
            with pytest.raises(StoreError) as refused:
                await forward_keepalive(url, LeaseKeepAliveRequest(ID=7))
        assert refused.value.grpc_code == 7 and "permission denied" in str(refused.value)

        server, url, _ = await answering("404 Not Found", [json.dumps({
            "error": "etcdserver: requested lease not found", "message": "etcdserver: requested lease not found",
            "code": 5}).encode()])
        async with server:
            with pytest.raises(StoreError) as missing:
                await forward_keepalive(url, LeaseKeepAliveRequest(ID=7))
        assert missing.value.grpc_code == 5

        server, url, _ = await answering("200 OK", [b"not json\n"])
        async with server:
            with pytest.raises(ForwardError):
                await forward_keepalive(url, LeaseKeepAliveRequest(ID=7))

    asyncio.run(asyncio.wait_for(scenario(), 20))
