"""The node's gRPC server: etcd 3.4's six v3 services on ``--listen-grpc``.

``serve_grpc`` runs a ``grpc.aio`` server on the node's own event loop
(created inside the running loop, so it is that loop's, uvloop included)
until it is cancelled, then stops it, giving calls in flight a moment to
finish. Every service calls the same etcd API layer (``EtcdApi``) as the
JSON gateway.

Options, as etcd sets them, so etcd's clients behave as they do against
etcd:

- messages up to ``max_request_bytes`` + 512 KiB are received (etcd's
  ``--max-request-bytes`` plus its gRPC overhead allowance); a larger one is
  refused by gRPC with RESOURCE_EXHAUSTED, as etcd's is. Responses are not
  bounded (etcd: ``math.MaxInt32``).
- Keep-alive: etcdctl and clientv3 ping every 10 s, also on a connection
  with no call in flight (an idle watch). gRPC's defaults would count those
  pings as abuse and close the connection with GOAWAY ``too_many_pings``
  after a few, and clientv3 would silently re-dial and re-create its
  watches. etcd allows pings every ``--grpc-keepalive-min-time`` (5 s)
  with or without calls; so does this server. The server pings an idle
  client every 2 h and waits 20 s for the answer (etcd's
  ``--grpc-keepalive-interval`` and ``-timeout``).
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

import grpc

from consensus.etcd_api.calls import EtcdApi
from consensus.grpc.etcdpb.etcdserverpb import rpc_pb2_grpc
from consensus.mvcc.api import Limits

from .auth import AuthServicer
from .cluster import ClusterServicer
from .kv import KVServicer
from .lease import LeaseServicer
from .maintenance import MaintenanceServicer
from .watch import WatchServicer

logger = logging.getLogger(__name__)

# etcd's grpcOverheadBytes.
GRPC_OVERHEAD_BYTES = 512 * 1024
KEEPALIVE_MIN_TIME_MS = 5_000
KEEPALIVE_INTERVAL_MS = 2 * 60 * 60 * 1000
KEEPALIVE_TIMEOUT_MS = 20_000
# How long calls in flight may finish once the node stops.
STOP_GRACE_S = 1.0


class GrpcListenError(Exception):
    """The gRPC port cannot be bound; the message names the flag."""


def server_options(limits: Limits) -> list[tuple[str, int]]:
    """The channel arguments of the server (module docstring)."""
    return [
        ("grpc.max_receive_message_length", limits.max_request_bytes + GRPC_OVERHEAD_BYTES),
        ("grpc.max_send_message_length", 2**31 - 1),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.min_recv_ping_interval_without_data_ms", KEEPALIVE_MIN_TIME_MS),
        ("grpc.http2.min_ping_interval_without_data_ms", KEEPALIVE_MIN_TIME_MS),
        ("grpc.http2.max_ping_strikes", 0),  # never GOAWAY a client for pinging within the policy
        ("grpc.keepalive_time_ms", KEEPALIVE_INTERVAL_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.so_reuseport", 0),
    ]


def build_server(etcd_api: EtcdApi, services: Callable[[], object | None], *, limits: Limits) -> grpc.aio.Server:
    """A server with the six services added; not started. Must be called
    in the loop it will run on."""
    server = grpc.aio.server(options=server_options(limits))
    rpc_pb2_grpc.add_KVServicer_to_server(KVServicer(etcd_api), server)
    rpc_pb2_grpc.add_WatchServicer_to_server(WatchServicer(etcd_api), server)
    rpc_pb2_grpc.add_LeaseServicer_to_server(LeaseServicer(etcd_api), server)
    rpc_pb2_grpc.add_ClusterServicer_to_server(ClusterServicer(etcd_api, services), server)
    rpc_pb2_grpc.add_MaintenanceServicer_to_server(MaintenanceServicer(etcd_api, services), server)
    rpc_pb2_grpc.add_AuthServicer_to_server(AuthServicer(etcd_api, services), server)
    return server


def bind(server: grpc.aio.Server, host: str, port: int) -> int:
    """Bind ``host:port`` (IPv6 without brackets); the port bound, or
    ``GrpcListenError`` naming ``--listen-grpc``."""
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as error:
        raise GrpcListenError(f"--listen-grpc {address}: cannot listen there ({error}; is another process using it?)") from None
    if bound == 0:
        raise GrpcListenError(f"--listen-grpc {address}: cannot listen there (is another process using it?)")
    return bound


async def serve_grpc(etcd_api: EtcdApi, services: Callable[[], object | None], *, host: str, port: int,
                     limits: Limits | None = None, ready: Callable[[int], None] | None = None) -> None:
    """Serve until cancelled (module docstring); ``ready(port)`` is called
    once the server listens."""
    server = build_server(etcd_api, services, limits=limits or Limits())
    bound = bind(server, host, port)
    await server.start()
    logger.info("serving etcd's v3 gRPC API on %s:%s", host, bound)
    if ready is not None:
        ready(bound)
    try:
        await server.wait_for_termination()
    finally:
        await asyncio.shield(server.stop(STOP_GRACE_S))
