"""The operator's tools, run from a shell against a running cluster (or, for
``snapshot restore``, against a data dir): what the ``member``,
``snapshot`` and ``status`` management commands do. The commands only parse
their arguments, call one function here and print its result.

One concept per module:

- ``client``: ``GatewayClient``, an HTTP client of a node's etcd v3 JSON
  gateway (and of ``/api/v1/...``): endpoints tried in order, failover on
  connection errors, store auth with a password that never has to be on the
  command line, re-authentication when a token expires;
- ``options``: the client flags every command shares (``--endpoints``,
  ``--user``, ``--password-file``, ...) and how they become a client;
- ``members``: member list / add / remove / promote, and the ``runnode``
  command line that starts a member just added;
- ``snapshots``: snapshot save / status / restore, and the snapshot file
  format;
- ``status``: the cluster at a glance;
- ``progress``: a tiny progress bar on stderr for large files;
- ``errors``: ``AdminError`` and its kinds (bad input, unreachable, refused).

Nothing here runs inside a node: these functions talk to nodes over HTTP,
or write a data dir no node is using.
"""
