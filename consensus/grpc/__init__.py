"""etcd 3.4's v3 API over gRPC: what etcdctl, clientv3 and the other gRPC
clients speak. A codec over the etcd API layer (``consensus.etcd_api``),
as the JSON gateway is; nothing here decides what a request means.

- ``messages``: etcd's protobuf messages to and from the ``api``
  dataclasses;
- ``calls``: the token and ``hasleader`` metadata, errors as gRPC statuses;
- ``kv``, ``lease``, ``watch``, ``maintenance``, ``auth``, ``cluster``: one
  servicer per etcd service;
- ``server``: the ``grpc.aio`` server on the node's loop and its options
  (message sizes, etcd's keep-alive policy);
- ``etcdpb/``: generated at setup from etcd's ``.proto`` files
  (``scripts/generate_etcd_api.py``), not committed.
"""
