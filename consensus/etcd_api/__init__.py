"""etcd's API, once: the request semantics every client front end shares.

A node speaks etcd's v3 API two ways, as etcd does: protobuf over gRPC
(``consensus.grpc``, for etcdctl and clientv3) and JSON over HTTP
(``consensus.gateway``, etcd's grpc-gateway). Both decode a request into a
``consensus.mvcc.api`` dataclass and pass it here, and encode whatever comes
back; authentication, permission checks, limits, time bounds and the exact
errors clients match on are this package's alone, so the two cannot drift.

- ``calls``: ``EtcdApi``, the unary calls, keep-alives, snapshots, status
  and watch sessions, each checked in the same order;
- ``unary``: which store call serves each kind of request; member identity
  in response headers; the member status;
- ``watch_session``: ``WatchSession``, the watches of one stream;
- ``authorization``: the ``Authorizer`` seam (who is asking, and may
  they), ``AllowEveryone``, and the auth errors etcd answers with;
- ``errors``: the layer's own failures, and how any failure is named.
"""
