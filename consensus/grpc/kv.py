"""etcd's ``KV`` service: Range, Put, DeleteRange, Txn, Compact, each one
call of the etcd API layer between the protobuf codec's decode and encode."""
from __future__ import annotations

from typing import Any

from consensus.etcd_api.calls import EtcdApi
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2_grpc
from consensus.mvcc import api

from .calls import abort, token_of
from .messages import from_pb, to_pb


def unary_method(kind: str, request_type: type, name: str):
    """A servicer method answering ``request_type`` with ``EtcdApi.unary``
    of ``kind``."""

    async def method(self, request: Any, context) -> Any:
        try:
            response = await self.api.unary(kind, from_pb(request_type, request), token_of(context))
        except Exception as exc:  # every outcome is answered; unknown ones are logged
            await abort(context, exc, f"gRPC {name}")
        return to_pb(response)

    method.__name__ = method.__qualname__ = name
    return method


class KVServicer(rpc_pb2_grpc.KVServicer):
    def __init__(self, etcd_api: EtcdApi) -> None:
        self.api = etcd_api

    Range = unary_method("range", api.RangeRequest, "KV.Range")
    Put = unary_method("put", api.PutRequest, "KV.Put")
    DeleteRange = unary_method("deleterange", api.DeleteRangeRequest, "KV.DeleteRange")
    Txn = unary_method("txn", api.TxnRequest, "KV.Txn")
    Compact = unary_method("compaction", api.CompactionRequest, "KV.Compact")
