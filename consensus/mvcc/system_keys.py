"""The part of the keyspace that belongs to config_center itself.

Cluster membership records, and (with the config service) namespaces,
drafts, releases, users, tokens and audit records live under
``SYSTEM_PREFIX`` in the same replicated store as everything else, so they
share its durability, revisions and watches. Through the raw store API
(the etcd JSON gateway) only ``root`` may read or write them: nobody can
rewrite a password hash or an audit record with ``/v3/kv/put``.
"""
from __future__ import annotations

SYSTEM_PREFIX = b"/_config_center/"
# The first key after every key that starts with SYSTEM_PREFIX (etcd's
# prefix range end: the last byte incremented).
SYSTEM_PREFIX_END = SYSTEM_PREFIX[:-1] + bytes([SYSTEM_PREFIX[-1] + 1])

MEMBERS_PREFIX = SYSTEM_PREFIX + b"cluster/members/"


def is_system_key(key: bytes) -> bool:
    return key.startswith(SYSTEM_PREFIX)


def overlaps_system_keys(key: bytes, range_end: bytes) -> bool:
    """Whether etcd's range [key, range_end) touches a system key. An empty
    ``range_end`` means the single ``key``; ``b"\\0"`` means every key from
    ``key`` on, as in etcd."""
    if not range_end:
        return is_system_key(key)
    if range_end == b"\0":
        return SYSTEM_PREFIX_END > key
    return key < SYSTEM_PREFIX_END and range_end > SYSTEM_PREFIX
