"""etcd 3.4's v3 JSON gateway over the replicated store, served over HTTP.

A node answers ``POST /v3/...`` exactly as a real etcd 3.4's gRPC gateway
does, so etcd's JSON clients (etcd3gw, curl scripts) work against it
unchanged. ``config_center.asgi`` routes every HTTP request under ``/v3/``
here, ahead of Django. One concept per module:

- ``app``: ``GatewayApp``, the ASGI application: routes, body reading,
  the unary request path, time bounds, the extra-route seam;
- ``handlers``: which store call serves each unary kind; the maintenance
  answers (status, hash, our hashkv extension); member identity in headers;
- ``watch_stream``: ``/v3/watch``;
- ``keepalive_stream``: ``/v3/lease/keepalive``;
- ``snapshot_route``: ``/v3/maintenance/snapshot`` (the store's database,
  streamed in chunks and followed by its SHA-256, as etcd sends it);
- ``request_stream``: the sequence of requests a streaming body holds;
- ``authorization``: the ``Authorizer`` seam, ``AllowEveryone``, and the
  auth errors etcd answers with;
- ``errors``: how failures become etcd's error bodies and stream errors.

The JSON itself (field names, int64 as strings, base64 bytes, error bodies)
is ``consensus.mvcc.json_codec``'s, verified against a real etcd 3.4.23.
"""
from .app import ExtraRoute, GatewayApp, Handler
from .authorization import AllowEveryone, Authorizer, InvalidAuthTokenError, PermissionDeniedError, UserEmptyError

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
