"""Which requests a user may send: etcd's key-range permission checks, the
rules per kind of request, and config_center's system-prefix rule.

Ranges
------
A permission and a request name keys the same way: ``key`` alone
(``range_end`` empty), ``[key, range_end)``, or every key from ``key`` on
(``range_end == b"\\0"``). As in etcd (``range_perm_cache.go``, with its
``adt`` interval tree and ``BytesAffineComparable``):

- a request for one key is allowed if one permission *intersects* it;
- a request for a range is allowed if the permissions that overlap it,
  taken in order of their first key, cover it without a gap from its first
  key to its end ("from key on" is an end above every key). An inverted
  range (``range_end`` below ``key``; the store returns nothing for it)
  thereby needs the permission of its ``key``.

READWRITE counts as both READ and WRITE; a user's permissions are the union
over its roles (a role that does not exist grants nothing). A user holding
the ``root`` role may do everything. While auth is off, everyone may do
everything.

The system prefix
-----------------
Keys under ``consensus.mvcc.system_keys.SYSTEM_PREFIX`` hold config_center's
own records (members, and with the config service users, releases, audit).
Only a root user reaches them through the raw store API, whatever a role
grants: any request whose range touches the prefix (a point inside it, or a
range overlapping it — ``get "" --from-key`` included) is denied to everyone
else, as are the revoke, the keep-alive and the time-to-live with keys of a
lease holding such a key.

Per kind (etcd 3.4's ``authApplierV3``, ``v3rpc``, with the fixes of
3.4.24-3.4.28 and of etcd main noted):

=================  ==========================================================
range              READ on the range
put                WRITE on the key; WRITE on every key already attached to
                   its lease (unless root); ``prev_kv``: READ on the key
deleterange        WRITE on the range; ``prev_kv``: READ on the range
txn                READ on every compare's range, then each op of both
                   branches as above, nested txns too (etcd main; 3.4 does
                   not look into nested txns nor at a txn put's lease and
                   ``prev_kv``)
watch (create)     READ on the range; an empty key is ``"\\0"`` (etcd checks
                   only the first key of a "from key on" watch; we check the
                   range)
lease_grant        a user (etcd 3.4 checks nothing)
lease_keepalive,   a user, and WRITE on every key attached to the lease
lease_revoke       (unless root; so only root renews or revokes a lease
                   holding a system key). etcd 3.4 checks nothing for a
                   keep-alive, and for a revoke only the keys, so anyone
                   may revoke a lease holding none
lease_timetolive   with ``keys``: a user, and READ on every attached key
                   (etcd 3.4.26, CVE-2023-32082); without: nothing
lease_leases       root (etcd 3.4 checks nothing; the list names every
                   lease, the config service's registry leases included)
compaction         root (etcd 3.4 checks nothing; compaction destroys the
                   history every client reads from)
hash, hashkv,      root, refusals worded as etcd's maintenance server (code 2)
snapshot
member_add/remove  root (etcd's ``checkMembershipOperationPermission``)
/promote/update,
move_leader        (etcd 3.4 checks nothing for a MoveLeader; it takes the
                   cluster's leadership away from where it is)
status,            allowed to anyone, even without a token (tools ask
member_list        before they log in)
(unknown)          root
=================  ==========================================================

Why the lease rules are stricter than etcd's: a lease is state every
member keeps until it expires, and renewing one keeps its keys alive. With
etcd's rules a stranger could grant leases without bound, list the config
service's registry leases and keep a dead service instance registered
forever by renewing its lease. A keep-alive is checked like the revoke it
postpones. A keep-alive another member forwards to the leader is not
checked again there (``authorizer``, "Forwarded keep-alives"): the
forwarding member checked the client that sent it, or it comes from the
config service in that member's own process.

"No user" (no token) is "user name is empty" wherever a check runs; a user
that no longer exists is "permission denied" (for root-only requests "user
name not found"). A request the store refuses anyway as malformed (no key,
too many txn ops, a duplicate key in a txn, ...) is refused here with the
store's own error, before any permission check — etcd validates those in
its gRPC layer, before auth.
"""
from __future__ import annotations

from typing import Callable, Iterable

from consensus.mvcc.api import (
    DeleteRangeRequest,
    Limits,
    PutRequest,
    RangeRequest,
    TxnRequest,
    WatchCreateRequest,
)
from consensus.mvcc.system_keys import overlaps_system_keys
from consensus.mvcc.txn import (
    check_delete_request,
    check_intervals,
    check_put_request,
    check_range_request,
    check_txn_request,
)

from .api import PermissionDeniedError, PermissionType, UserEmptyError, raw_error
from .auth_state import AuthState, User, admin_error

# The keys attached to a lease (empty if there is no such lease).
LeaseKeys = Callable[[int], Iterable[bytes]]

OPEN_KINDS = frozenset({"status", "member_list"})
ADMIN_KINDS = frozenset({
    "compaction", "lease_leases", "member_add", "member_remove", "member_promote", "member_update", "move_leader",
})
MAINTENANCE_KINDS = frozenset({"hash", "hashkv", "snapshot", "defragment"})

READ, WRITE = PermissionType.READ, PermissionType.WRITE

# An interval [begin, end); end None is "above every key".
Interval = tuple[bytes, "bytes | None"]


# -- intervals --------------------------------------------------------------------------


def permission_interval(key: bytes, range_end: bytes) -> Interval:
    """The keys a permission (or request) names. Permissions always have a
    key (``auth_state.is_valid_permission_range``)."""
    if not range_end:
        return key, key + b"\0"
    if range_end == b"\0":
        return key, None
    return key, range_end


def _below(a: bytes | None, b: bytes | None) -> bool:
    """``a < b`` for interval ends, ``None`` being above every key."""
    if a is None:
        return False
    return b is None or a < b


def _overlaps(query: Interval, perm: Interval) -> bool:
    """etcd's ``Interval.Compare == 0``: neither left of nor right of."""
    q_begin, q_end = query
    p_begin, p_end = perm
    left = q_begin < p_begin and not _below(p_begin, q_end)  # q_end <= p_begin
    right = not _below(q_begin, p_end)  # q_begin >= p_end
    return not left and not right


def covers(perms: list[Interval], key: bytes, range_end: bytes) -> bool:
    """Whether ``perms`` (sorted by first key) allow a request on ``key``
    / ``range_end`` (module docstring)."""
    query = permission_interval(key, range_end)
    if not range_end:
        return any(_overlaps(query, perm) for perm in perms)
    min_begin: bytes | None = None
    max_end: bytes | None = b""
    for perm in perms:
        if not _overlaps(query, perm):
            continue
        begin, end = perm
        if min_begin is None:
            min_begin, max_end = begin, end
            continue
        if _below(max_end, begin):
            return False  # a gap
        if _below(max_end, end):
            max_end = end
    if min_begin is None:
        return False
    return min_begin <= query[0] and not _below(max_end, query[1])


def merged_permissions(state: AuthState, user: str) -> tuple[list[Interval], list[Interval]]:
    """``(read, write)`` intervals of ``user`` over all its roles, each
    sorted by first key; cached on the (immutable) state."""
    cached = state.cache.get(("perms", user))
    if cached is not None:
        return cached
    read: list[Interval] = []
    write: list[Interval] = []
    found = state.users.get(user)
    for role_name in found.roles if found is not None else ():
        role = state.roles.get(role_name)
        for perm in role.permissions if role is not None else ():
            interval = permission_interval(perm.key, perm.range_end)
            if perm.perm_type != PermissionType.WRITE:
                read.append(interval)
            if perm.perm_type != PermissionType.READ:
                write.append(interval)
    read.sort(key=lambda interval: interval[0])
    write.sort(key=lambda interval: interval[0])
    state.cache[("perms", user)] = result = (read, write)
    return result


# -- checks -----------------------------------------------------------------------------


def check_user(state: AuthState, user: str | None) -> User:
    """The record of ``user``, who must be named and still exist (the first
    two steps of etcd's ``isOpPermitted``). Call only with auth on."""
    if not user:
        raise UserEmptyError()
    found = state.users.get(user)
    if found is None:
        raise PermissionDeniedError()
    return found


def check_key(state: AuthState, user: str | None, perm: PermissionType, key: bytes, range_end: bytes) -> None:
    """etcd's ``isOpPermitted`` plus the system-prefix rule. Call only with
    auth on."""
    if check_user(state, user).is_root:
        return
    if overlaps_system_keys(key, range_end):
        raise PermissionDeniedError()
    read, write = merged_permissions(state, user)
    if not covers(read if perm == READ else write, key, range_end):
        raise PermissionDeniedError()


def check_request(
    state: AuthState, user: str | None, kind: str, request: object, lease_keys: LeaseKeys,
    limits: Limits = Limits(),
) -> None:
    """Raise the ``StoreError`` etcd would answer if ``user`` sent
    ``request`` (of json_codec ``kind``); return if it may (module
    docstring). ``lease_keys`` gives the keys attached to a lease now."""
    if not state.enabled or kind in OPEN_KINDS:
        return
    if kind == "range":
        check_range_request(request, limits.max_key_bytes)
        check_key(state, user, READ, request.key, request.range_end)
    elif kind == "put":
        check_put_request(request, limits.max_key_bytes)
        _check_put(state, user, request, lease_keys)
    elif kind == "deleterange":
        check_delete_request(request, limits.max_key_bytes)
        _check_delete(state, user, request)
    elif kind == "txn":
        check_txn_request(request, limits.max_txn_ops, limits.max_key_bytes)
        check_intervals(request.success)
        check_intervals(request.failure)
        _check_txn(state, user, request, lease_keys)
    elif kind == "watch":
        if isinstance(request, WatchCreateRequest):
            # etcd's watch server: an empty key is the smallest key.
            check_key(state, user, READ, request.key or b"\0", request.range_end)
    elif kind == "lease_grant":
        check_user(state, user)
    elif kind in ("lease_keepalive", "lease_revoke"):
        # A user even for a lease that holds no key (etcd checks only the
        # keys): a stranger may not keep an empty lease alive either, nor
        # probe which lease IDs exist.
        check_user(state, user)
        _check_lease_writes(state, user, request.ID, lease_keys)
    elif kind == "lease_timetolive":
        if request.keys:
            if not user:
                raise UserEmptyError()
            for key in lease_keys(request.ID):
                check_key(state, user, READ, key, b"")
    elif kind in MAINTENANCE_KINDS:
        error = admin_error(state, user)
        if error is not None:
            raise raw_error(error)
    else:  # ADMIN_KINDS, and whatever kind comes next
        error = admin_error(state, user)
        if error is not None:
            raise error


def _check_put(state: AuthState, user: str | None, r: PutRequest, lease_keys: LeaseKeys) -> None:
    check_key(state, user, WRITE, r.key, b"")
    if r.lease:
        # A lease already holding a key this user may not write is one it
        # could not revoke: it may not attach more keys to it either.
        _check_lease_writes(state, user, r.lease, lease_keys)
    if r.prev_kv:
        check_key(state, user, READ, r.key, b"")


def _check_delete(state: AuthState, user: str | None, r: DeleteRangeRequest) -> None:
    check_key(state, user, WRITE, r.key, r.range_end)
    if r.prev_kv:
        check_key(state, user, READ, r.key, r.range_end)


def _check_txn(state: AuthState, user: str | None, r: TxnRequest, lease_keys: LeaseKeys) -> None:
    for compare in r.compare:
        check_key(state, user, READ, compare.key, compare.range_end)
    for op in (*r.success, *r.failure):
        if isinstance(op, RangeRequest):
            check_key(state, user, READ, op.key, op.range_end)
        elif isinstance(op, PutRequest):
            _check_put(state, user, op, lease_keys)
        elif isinstance(op, DeleteRangeRequest):
            _check_delete(state, user, op)
        elif isinstance(op, TxnRequest):
            _check_txn(state, user, op, lease_keys)


def _check_lease_writes(state: AuthState, user: str | None, lease_id: int, lease_keys: LeaseKeys) -> None:
    keys = list(lease_keys(lease_id))
    if not keys or admin_error(state, user) is None:
        return
    for key in keys:
        check_key(state, user, WRITE, key, b"")

