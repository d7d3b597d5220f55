"""The server's keep-alive policy as etcd's clients meet it: they ping every
10 s, also with no call in flight, and gRPC's Python defaults would answer
that with GOAWAY ``too_many_pings`` within about 30 s, after which clientv3
silently re-dials and re-creates its watches. Here a client pinging as
clientv3 does (every 10 s, without calls allowed) keeps one idle watch
stream for 70 s — over twice that — and the stream is still the one that
delivers the next event. ``--soak`` makes it 5 minutes. (Checked when it
was written: the same client against a ``grpc.aio`` server with gRPC's
default options has its stream ended with UNAVAILABLE "Too many pings"
after about 30 s.)"""
from __future__ import annotations

import asyncio

import grpc
import pytest

from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.grpc.conftest import etcdctl

CLIENTV3_PINGS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 3_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
]


def test_an_idle_watch_stream_outlives_many_client_pings(open_node, request):
    idle_s = 300 if request.config.getoption("--soak") else 70

    async def scenario() -> rpc_pb2.WatchResponse:
        async with grpc.aio.insecure_channel(open_node.endpoint, options=CLIENTV3_PINGS) as channel:
            stream = rpc_pb2_grpc.WatchStub(channel).Watch()
            await stream.write(rpc_pb2.WatchRequest(create_request=rpc_pb2.WatchCreateRequest(key=b"/idle/k")))
            created = await asyncio.wait_for(stream.read(), 10)
            assert created.created
            await asyncio.sleep(idle_s)  # nothing on the stream but pings
            assert channel.get_state() is grpc.ChannelConnectivity.READY
            put = await asyncio.to_thread(etcdctl, open_node.endpoint, "put", "/idle/k", "after the wait")
            assert put.returncode == 0, put.stderr
            return await asyncio.wait_for(stream.read(), 10)

    event = asyncio.run(scenario())
    assert [e.kv.value for e in event.events] == [b"after the wait"]
