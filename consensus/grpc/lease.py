"""etcd's ``Lease`` service: LeaseGrant, LeaseRevoke, LeaseTimeToLive,
LeaseLeases (unary, through the etcd API layer) and the LeaseKeepAlive
stream.

A keep-alive stream answers each request in order with one response
(``EtcdApi.keepalive``: authenticated with the token the stream was opened
with, authorized, an unknown lease answered with TTL 0 as etcd does). A
failure ends the stream with its status (no leader: UNAVAILABLE, which
clientv3 answers by re-opening the stream, on another member if need be).
A ``hasleader`` stream is refused at once on a member with no leader.
"""
from __future__ import annotations

from consensus.etcd_api.calls import EtcdApi
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2_grpc
from consensus.mvcc import api

from .calls import abort, check_leader, token_of
from .kv import unary_method
from .messages import from_pb, to_pb


class LeaseServicer(rpc_pb2_grpc.LeaseServicer):
    def __init__(self, etcd_api: EtcdApi) -> None:
        self.api = etcd_api

    LeaseGrant = unary_method("lease_grant", api.LeaseGrantRequest, "Lease.LeaseGrant")
    LeaseRevoke = unary_method("lease_revoke", api.LeaseRevokeRequest, "Lease.LeaseRevoke")
    LeaseTimeToLive = unary_method("lease_timetolive", api.LeaseTimeToLiveRequest, "Lease.LeaseTimeToLive")
    LeaseLeases = unary_method("lease_leases", api.LeaseLeasesRequest, "Lease.LeaseLeases")

    async def LeaseKeepAlive(self, request_iterator, context) -> None:
        token = token_of(context)
        try:
            store = self.api.store()
        except Exception as exc:
            await abort(context, exc, "gRPC Lease.LeaseKeepAlive")
        await check_leader(context, store.leader_known)
        async for request in request_iterator:
            try:
                response = await self.api.keepalive(from_pb(api.LeaseKeepAliveRequest, request), token)
            except Exception as exc:
                await abort(context, exc, "gRPC Lease.LeaseKeepAlive")
            await context.write(to_pb(response))
