"""etcd's ``Watch`` service: one ``WatchSession`` per stream.

The session (``consensus.etcd_api.watch_session``) is what a watch stream
means, shared with the JSON gateway; this module only turns each
``WatchRequest`` into the create, cancel or progress request it holds and
writes each ``WatchResponse`` as protobuf. Writing waits for HTTP/2 flow
control, so a client that does not read holds the session's bounded queue,
and the hub's slow-watcher handling takes over, as on the gateway.

As in etcd, the stream lives until the client cancels it (a client that
only closes its sending side keeps receiving). A ``hasleader`` stream
(etcdctl's watch sends it) is refused on a member that knows no leader.
"""
from __future__ import annotations

import asyncio

from consensus.etcd_api.calls import EtcdApi
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2_grpc
from consensus.mvcc import api

from .calls import abort, check_leader, token_of
from .messages import from_pb, to_pb


class WatchServicer(rpc_pb2_grpc.WatchServicer):
    def __init__(self, etcd_api: EtcdApi) -> None:
        self.api = etcd_api

    async def Watch(self, request_iterator, context) -> None:
        async def emit(response: api.WatchResponse) -> None:
            await context.write(to_pb(response))

        try:
            session = self.api.watch_session(token_of(context), emit)
        except Exception as exc:
            await abort(context, exc, "gRPC Watch.Watch")
        await check_leader(context, session.store.leader_known)
        gone = asyncio.get_running_loop().create_future()
        context.add_done_callback(lambda _: gone.done() or gone.set_result(None))
        await session.run(_requests(request_iterator), gone)


async def _requests(request_iterator):
    async for request in request_iterator:
        member = request.WhichOneof("request_union")
        if member == "create_request":
            yield from_pb(api.WatchCreateRequest, request.create_request)
        elif member == "cancel_request":
            yield api.WatchCancelRequest(watch_id=request.cancel_request.watch_id)
        elif member == "progress_request":
            yield api.WatchProgressRequest()
        # a request naming none of the three is ignored, as etcd does
