"""etcd's ``Maintenance`` service.

- ``Status``: this member's status (``EtcdApi.status``; no token asked, as
  in etcd).
- ``Hash`` and ``HashKV``: the store's KV hash (``consensus.etcd_api.unary``
  says why it is not etcd's whole-file hash).
- ``Snapshot``: the store's database streamed in 32 KiB chunks with their
  countdown, then its SHA-256 (``etcd_api.calls.snapshot_chunks``), which
  ``etcdctl snapshot save`` checks; root only.
- ``MoveLeader``: hand leadership to another voter; sent to the leader.
- ``Defragment``: this member's database rewritten without its free space
  (root only, as etcd's; nothing is applied meanwhile).
- ``Alarm``: list, raise and clear alarms (``etcdctl alarm list|disarm``),
  through the log; root only (etcd 3.4 asks for nothing).
"""
from __future__ import annotations

from typing import Callable


from consensus.etcd_api.calls import EtcdApi, snapshot_chunks
from consensus.etcd_api.errors import StoreNotRunningError
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from consensus.mvcc import api

from .calls import abort, token_of
from .kv import unary_method
from .messages import to_pb


class MaintenanceServicer(rpc_pb2_grpc.MaintenanceServicer):
    def __init__(self, etcd_api: EtcdApi, services: Callable[[], object | None]) -> None:
        self.api = etcd_api
        self.services = services

    Hash = unary_method("hash", api.HashRequest, "Maintenance.Hash")
    HashKV = unary_method("hashkv", api.HashKVRequest, "Maintenance.HashKV")
    Defragment = unary_method("defragment", api.DefragmentRequest, "Maintenance.Defragment")
    Alarm = unary_method("alarm", api.AlarmRequest, "Maintenance.Alarm")

    async def Status(self, request, context):
        try:
            status = self.api.status()
        except Exception as exc:
            await abort(context, exc, "gRPC Maintenance.Status")
        return rpc_pb2.StatusResponse(
            header=to_pb(status.header), version=status.version, dbSize=status.db_size, leader=status.leader,
            raftIndex=status.raft_index, raftTerm=status.raft_term, raftAppliedIndex=status.raft_applied_index,
            dbSizeInUse=status.db_size_in_use, isLearner=status.is_learner, errors=list(status.errors),
        )

    async def Snapshot(self, request, context) -> None:
        try:
            data = await self.api.snapshot(token_of(context))
        except Exception as exc:
            await abort(context, exc, "gRPC Maintenance.Snapshot")
        for remaining, blob in snapshot_chunks(data):
            await context.write(rpc_pb2.SnapshotResponse(remaining_bytes=remaining, blob=blob))

    async def MoveLeader(self, request, context):
        try:
            services = self.services()
            members = getattr(services, "members", None)
            if members is None:
                raise StoreNotRunningError()
            user = await self.api.user(token_of(context))
            self.api.authorizer.authorize(user, "move_leader", None)
            await members.move_leader(request.targetID)
            header = self.api.store().header()
        except Exception as exc:
            await abort(context, exc, "gRPC Maintenance.MoveLeader")
        return rpc_pb2.MoveLeaderResponse(header=to_pb(header))


