"""etcd's ``Cluster`` service over the member's ``ClusterMembers``, the
same calls the gateway's ``/v3/cluster/member/*`` routes make, authorized
the same way (``authorize(user, "member_<call>", None)``: root, with auth
on). ``MemberUpdate`` changes a member's peer URLs (``ClusterMembers.update``).
"""
from __future__ import annotations

from typing import Callable

import grpc

from consensus.cluster.members import MemberInfo, NotLeaderForMembershipError
from consensus.etcd_api.calls import EtcdApi
from consensus.etcd_api.errors import StoreNotRunningError
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2, rpc_pb2_grpc

from .calls import abort, token_of
from .messages import to_pb


PROMOTE_FORWARD_TIMEOUT_S = 5.0


def member_pb(member: MemberInfo) -> rpc_pb2.Member:
    """etcd's Member; its clientURLs are where the member serves gRPC, which
    is what etcd's clients dial (``endpoint status --cluster``, clientv3's
    endpoint sync)."""
    return rpc_pb2.Member(ID=member.id, name=member.name, peerURLs=list(member.peer_urls),
                          clientURLs=list(member.grpc_urls), isLearner=member.is_learner)


class ClusterServicer(rpc_pb2_grpc.ClusterServicer):
    def __init__(self, etcd_api: EtcdApi, services: Callable[[], object | None]) -> None:
        self.api = etcd_api
        self.services = services

    async def _members(self, context, kind: str):
        members = getattr(self.services(), "members", None)
        if members is None:
            raise StoreNotRunningError()
        user = await self.api.user(token_of(context))
        self.api.authorizer.authorize(user, kind, None)
        return members

    def _header(self):
        return to_pb(self.api.store().header())

    async def MemberList(self, request, context):
        try:
            members = await self._members(context, "member_list")
            listed = await members.list()
            return rpc_pb2.MemberListResponse(header=self._header(), members=[member_pb(m) for m in listed])
        except Exception as exc:
            await abort(context, exc, "gRPC Cluster.MemberList")

    async def MemberAdd(self, request, context):
        try:
            members = await self._members(context, "member_add")
            added = await members.add(list(request.peerURLs), is_learner=request.isLearner)
            return rpc_pb2.MemberAddResponse(header=self._header(), member=member_pb(added),
                                             members=[member_pb(m) for m in members.members()])
        except Exception as exc:
            await abort(context, exc, "gRPC Cluster.MemberAdd")

    async def MemberRemove(self, request, context):
        try:
            members = await self._members(context, "member_remove")
            await members.remove(request.ID)
            return rpc_pb2.MemberRemoveResponse(header=self._header(),
                                                members=[member_pb(m) for m in members.members()])
        except Exception as exc:
            await abort(context, exc, "gRPC Cluster.MemberRemove")

    async def MemberPromote(self, request, context):
        try:
            members = await self._members(context, "member_promote")
            try:
                await members.promote(request.ID)
            except NotLeaderForMembershipError:
                # Only the leader knows whether the learner caught up; etcd's
                # followers pass a promotion on to it, and so does this one.
                return await self._promote_on_leader(members, request, context)
            return rpc_pb2.MemberPromoteResponse(header=self._header(),
                                                 members=[member_pb(m) for m in members.members()])
        except grpc.aio.AioRpcError as error:  # the leader's refusal, passed on as it is
            await context.abort(error.code(), error.details())
        except Exception as exc:
            await abort(context, exc, "gRPC Cluster.MemberPromote")

    async def _promote_on_leader(self, members, request, context):
        leader = members.node.status().leader
        urls = next((m.grpc_urls for m in members.members() if m.id == leader), ())
        if not leader or not urls:
            raise NotLeaderForMembershipError()
        token = token_of(context)
        async with grpc.aio.insecure_channel(urls[0].removeprefix("http://")) as channel:
            return await rpc_pb2_grpc.ClusterStub(channel).MemberPromote(
                request, metadata=(("token", token),) if token else (), timeout=PROMOTE_FORWARD_TIMEOUT_S)

    async def MemberUpdate(self, request, context):
        try:
            members = await self._members(context, "member_update")
            await members.update(request.ID, list(request.peerURLs))
            return rpc_pb2.MemberUpdateResponse(header=self._header(),
                                                members=[member_pb(m) for m in members.members()])
        except Exception as exc:
            await abort(context, exc, "gRPC Cluster.MemberUpdate")
