"""etcd 3.4's v3 JSON gateway over the replicated store, served over HTTP.

A node answers ``POST /v3/...`` exactly as a real etcd 3.4's gRPC gateway
does, so etcd's JSON clients (etcd3gw, curl scripts) work against it
unchanged. ``config_center.asgi`` routes every HTTP request under ``/v3/``
here, ahead of Django. One concept per module:

- ``app``: ``GatewayApp``, the ASGI application: routes, body reading,
  the unary request path, the extra-route seam;
- ``status_json``: ``/v3/maintenance/status``'s JSON;
- ``watch_stream``: ``/v3/watch``;
- ``keepalive_stream``: ``/v3/lease/keepalive``;
- ``snapshot_route``: ``/v3/maintenance/snapshot`` (the store's database,
  streamed in chunks and followed by its SHA-256, as etcd sends it);
- ``request_stream``: the sequence of requests a streaming body holds;
- ``errors``: how failures become etcd's error bodies and stream errors.

What a request means (authentication, authorization, the store call, its
time bound, the errors) is the etcd API layer's, ``consensus.etcd_api``,
which the gRPC API shares; this package only speaks JSON over HTTP. The
JSON itself (field names, int64 as strings, base64 bytes, error bodies)
is ``consensus.mvcc.json_codec``'s, verified against a real etcd 3.4.23.
"""
from .app import ExtraRoute, GatewayApp, Handler
from consensus.etcd_api.authorization import AllowEveryone, Authorizer, InvalidAuthTokenError, PermissionDeniedError, UserEmptyError

__all__ = [
    "AllowEveryone",
    "Authorizer",
    "ExtraRoute",
    "GatewayApp",
    "Handler",
    "InvalidAuthTokenError",
    "PermissionDeniedError",
    "UserEmptyError",
]
