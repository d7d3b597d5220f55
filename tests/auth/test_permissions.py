"""Who may send what: the permission matrix (ranges with and without
``"\\0"``, txns nested, leases, watches, root-only kinds, open kinds), the
system-prefix rule, and etcd's interval semantics checked against a
brute-force model with Hypothesis."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus.auth import commands as c
from consensus.auth.api import (
    PermissionDeniedError,
    PermissionType,
    RawPermissionDeniedError,
    RawUserEmptyError,
    RawUserNotFoundError,
    UserEmptyError,
    UserNotFoundError,
)
from consensus.auth.auth_state import AuthState, apply
from consensus.auth.permissions import check_request, covers, permission_interval
from consensus.mvcc.api import (
    Compare,
    CompactionRequest,
    DeleteRangeRequest,
    DuplicateKeyError,
    HashRequest,
    KeyNotProvidedError,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    StoreError,
    TxnRequest,
    WatchCancelRequest,
    WatchCreateRequest,
)
from consensus.mvcc.system_keys import SYSTEM_PREFIX

R, W, RW = PermissionType.READ, PermissionType.WRITE, PermissionType.READWRITE
SYS = SYSTEM_PREFIX + b"users/alice"

# Leases of the tests: 1 holds a key alice may write, 2 one she may not,
# 3 a system key, 4 nothing.
LEASES = {1: (b"w1",), 2: (b"zz",), 3: (SYS,), 4: ()}


def lease_keys(lease_id: int):
    return LEASES.get(lease_id, ())


def build(enabled: bool = True) -> AuthState:
    state = AuthState()
    for command in (
        c.AddUser(name="root", password_hash="h"),
        c.GrantRole(user="root", role="root"),
        c.AddUser(name="alice", password_hash="h"),
        c.AddUser(name="nobody-roles", password_hash="h"),
        c.AddRole(name="reader"),
        c.AddRole(name="writer"),
        c.AddRole(name="everything"),
        c.GrantPermission(role="reader", perm_type=R, key=b"r", range_end=b"s"),  # r...
        c.GrantPermission(role="reader", perm_type=R, key=b"rw1"),
        c.GrantPermission(role="writer", perm_type=W, key=b"w", range_end=b"x"),  # w...
        c.GrantPermission(role="writer", perm_type=RW, key=b"rw1"),
        c.GrantPermission(role="writer", perm_type=RW, key=b"b", range_end=b"c"),
        c.GrantPermission(role="writer", perm_type=RW, key=b"c", range_end=b"d"),  # contiguous with b..c
        c.GrantPermission(role="everything", perm_type=RW, key=b"\0", range_end=b"\0"),
        c.GrantRole(user="alice", role="reader"),
        c.GrantRole(user="alice", role="writer"),
        c.AddUser(name="omni", password_hash="h"),
        c.GrantRole(user="omni", role="everything"),
        c.AddRole(name="ghost"),
        c.GrantRole(user="alice", role="ghost"),
        c.DeleteRole(role="ghost"),
    ):
        state, _ = apply(state, command, 1)
    if enabled:
        state, _ = apply(state, c.EnableAuth(), 1)
    return state


STATE = build()


def outcome(user, kind, request, state=STATE):
    try:
        check_request(state, user, kind, request, lease_keys)
    except StoreError as error:
        return type(error)
    return "ok"


OK, DENIED = "ok", PermissionDeniedError

MATRIX = [
    # (user, kind, request, expected)
    ("alice", "range", RangeRequest(key=b"r1"), OK),
    ("alice", "range", RangeRequest(key=b"r", range_end=b"s"), OK),
    ("alice", "range", RangeRequest(key=b"r", range_end=b"t"), DENIED),
    ("alice", "range", RangeRequest(key=b"r", range_end=b"\0"), DENIED),  # from r on
    ("alice", "range", RangeRequest(key=b"b", range_end=b"d"), OK),  # two contiguous grants
    ("alice", "range", RangeRequest(key=b"w1"), DENIED),  # write only
    ("alice", "range", RangeRequest(key=b"s", range_end=b"r"), DENIED),  # inverted: needs "s"
    ("alice", "range", RangeRequest(key=b"r5", range_end=b"r1"), OK),  # inverted: needs "r5"
    ("alice", "put", PutRequest(key=b"w1"), OK),
    ("alice", "put", PutRequest(key=b"r1"), DENIED),
    ("alice", "put", PutRequest(key=b"w1", prev_kv=True), DENIED),  # needs read too
    ("alice", "put", PutRequest(key=b"rw1", prev_kv=True), OK),
    ("alice", "put", PutRequest(key=b"w1", lease=1), OK),
    ("alice", "put", PutRequest(key=b"w1", lease=2), DENIED),  # lease holds a key she cannot write
    ("alice", "put", PutRequest(key=b"w1", lease=99), OK),  # no such lease: the store refuses it
    ("alice", "deleterange", DeleteRangeRequest(key=b"w", range_end=b"x"), OK),
    ("alice", "deleterange", DeleteRangeRequest(key=b"w", range_end=b"x", prev_kv=True), DENIED),
    ("alice", "deleterange", DeleteRangeRequest(key=b"w", range_end=b"\0"), DENIED),
    ("alice", "lease_revoke", LeaseRevokeRequest(ID=1), OK),
    ("alice", "lease_revoke", LeaseRevokeRequest(ID=2), DENIED),
    ("alice", "lease_revoke", LeaseRevokeRequest(ID=3), DENIED),  # system key
    ("alice", "lease_revoke", LeaseRevokeRequest(ID=4), OK),
    (None, "lease_revoke", LeaseRevokeRequest(ID=4), UserEmptyError),  # no keys: etcd checks nothing
    (None, "lease_revoke", LeaseRevokeRequest(ID=99), UserEmptyError),  # nor for a lease that is not
    (None, "lease_revoke", LeaseRevokeRequest(ID=1), UserEmptyError),
    ("ghost", "lease_revoke", LeaseRevokeRequest(ID=4), DENIED),
    ("omni", "lease_revoke", LeaseRevokeRequest(ID=3), DENIED),  # write on every key, but a system one
    ("root", "lease_revoke", LeaseRevokeRequest(ID=3), OK),
    ("alice", "lease_timetolive", LeaseTimeToLiveRequest(ID=2), OK),
    ("alice", "lease_timetolive", LeaseTimeToLiveRequest(ID=2, keys=True), DENIED),
    ("alice", "lease_timetolive", LeaseTimeToLiveRequest(ID=4, keys=True), OK),
    (None, "lease_timetolive", LeaseTimeToLiveRequest(ID=4, keys=True), UserEmptyError),
    (None, "lease_timetolive", LeaseTimeToLiveRequest(ID=1), OK),  # without keys: as etcd, nothing
    # Leases are locked like everything else (etcd 3.4 lets anyone grant,
    # renew and list them).
    (None, "lease_grant", LeaseGrantRequest(TTL=5), UserEmptyError),
    ("nobody-roles", "lease_grant", LeaseGrantRequest(TTL=5), OK),  # any user
    ("ghost", "lease_grant", LeaseGrantRequest(TTL=5), DENIED),
    ("alice", "lease_keepalive", LeaseKeepAliveRequest(ID=1), OK),
    ("alice", "lease_keepalive", LeaseKeepAliveRequest(ID=2), DENIED),  # holds a key she cannot write
    ("alice", "lease_keepalive", LeaseKeepAliveRequest(ID=3), DENIED),  # system key
    ("omni", "lease_keepalive", LeaseKeepAliveRequest(ID=3), DENIED),
    ("root", "lease_keepalive", LeaseKeepAliveRequest(ID=3), OK),
    ("alice", "lease_keepalive", LeaseKeepAliveRequest(ID=4), OK),  # no keys: any user
    ("alice", "lease_keepalive", LeaseKeepAliveRequest(ID=99), OK),  # no such lease: the store says TTL 0
    (None, "lease_keepalive", LeaseKeepAliveRequest(ID=4), UserEmptyError),
    (None, "lease_keepalive", LeaseKeepAliveRequest(ID=1), UserEmptyError),
    ("ghost", "lease_keepalive", LeaseKeepAliveRequest(ID=4), DENIED),
    (None, "lease_leases", None, UserEmptyError),
    ("alice", "lease_leases", None, DENIED),
    ("omni", "lease_leases", None, DENIED),
    ("ghost", "lease_leases", None, UserNotFoundError),
    ("root", "lease_leases", None, OK),
    (None, "status", None, OK),
    (None, "member_list", None, OK),
    ("alice", "watch", WatchCreateRequest(key=b"r", range_end=b"s"), OK),
    ("alice", "watch", WatchCreateRequest(key=b"r", range_end=b"\0"), DENIED),  # etcd checks "r" only
    ("omni", "watch", WatchCreateRequest(key=b"", range_end=b"\0"), DENIED),  # all keys: system ones too
    ("omni", "watch", WatchCreateRequest(key=b"", range_end=b"/"), OK),
    (None, "watch", WatchCreateRequest(key=b"r"), UserEmptyError),
    (None, "watch", WatchCancelRequest(watch_id=1), OK),
    ("alice", "compaction", CompactionRequest(revision=1), DENIED),
    (None, "compaction", CompactionRequest(revision=1), UserEmptyError),
    ("ghost", "compaction", CompactionRequest(revision=1), UserNotFoundError),
    ("root", "compaction", CompactionRequest(revision=1), OK),
    ("alice", "hash", HashRequest(), RawPermissionDeniedError),
    (None, "hash", HashRequest(), RawUserEmptyError),
    ("ghost", "hashkv", None, RawUserNotFoundError),
    ("root", "hash", HashRequest(), OK),
    ("alice", "member_add", None, DENIED),
    (None, "member_remove", None, UserEmptyError),
    ("root", "member_promote", None, OK),
    ("alice", "something_new", None, DENIED),  # unknown kinds: root only
    ("nobody-roles", "range", RangeRequest(key=b"r1"), DENIED),
    ("ghost", "range", RangeRequest(key=b"r1"), DENIED),  # deleted user: denied, not "not found"
    (None, "range", RangeRequest(key=b"r1"), UserEmptyError),
    # Malformed requests get the store's own error first, as etcd's gRPC layer does.
    (None, "range", RangeRequest(key=b""), KeyNotProvidedError),
    (None, "put", PutRequest(key=b""), KeyNotProvidedError),
    ("alice", "txn", TxnRequest(success=(PutRequest(key=b"w1"), PutRequest(key=b"w1"))), DuplicateKeyError),
    (None, "txn", TxnRequest(), OK),  # nothing to check (etcd answers it too)
]


@pytest.mark.parametrize(("user", "kind", "request_", "expected"), MATRIX,
                         ids=[f"{u}-{k}-{i}" for i, (u, k, _, _) in enumerate(MATRIX)])
def test_permission_matrix(user, kind, request_, expected):
    assert outcome(user, kind, request_) == expected


def txn(*, compare=(), success=(), failure=()):
    return TxnRequest(compare=tuple(compare), success=tuple(success), failure=tuple(failure))


@pytest.mark.parametrize(("request_", "expected"), [
    (txn(compare=[Compare(key=b"r1")], success=[PutRequest(key=b"w1")]), OK),
    (txn(compare=[Compare(key=b"w1")], success=[PutRequest(key=b"w1")]), DENIED),  # compare needs read
    (txn(compare=[Compare(key=b"r", range_end=b"\0")]), DENIED),
    (txn(success=[RangeRequest(key=b"r1")], failure=[PutRequest(key=b"r1")]), DENIED),  # both branches
    (txn(success=[txn(success=[PutRequest(key=b"w1")])]), OK),
    (txn(success=[txn(success=[PutRequest(key=b"zz")])]), DENIED),  # nested (etcd 3.4 misses it)
    (txn(failure=[txn(failure=[txn(success=[DeleteRangeRequest(key=b"r1")])])]), DENIED),
    (txn(success=[txn(compare=[Compare(key=b"zz")])]), DENIED),  # a nested compare
    (txn(success=[PutRequest(key=b"w1", prev_kv=True)]), DENIED),  # as at top level (3.4 misses it)
    (txn(success=[PutRequest(key=b"w1", lease=2)]), DENIED),
    (txn(success=[DeleteRangeRequest(key=b"w", range_end=b"x", prev_kv=True)]), DENIED),
    (txn(success=[DeleteRangeRequest(key=b"rw1", prev_kv=True)]), OK),
    (txn(success=[PutRequest(key=SYS)]), DENIED),
])
def test_txn_checks_every_compare_and_op_recursively(request_, expected):
    assert outcome("alice", "txn", request_) == expected


@pytest.mark.parametrize("request_", [
    RangeRequest(key=SYS),
    RangeRequest(key=SYSTEM_PREFIX, range_end=SYSTEM_PREFIX[:-1] + b"0"),
    RangeRequest(key=b"\0", range_end=b"\0"),  # every key
    RangeRequest(key=b"/", range_end=b"0"),  # a range around the prefix
    RangeRequest(key=SYSTEM_PREFIX[:-1], range_end=SYSTEM_PREFIX + b"\0"),
])
def test_system_prefix_is_root_only_whatever_a_role_grants(request_):
    assert outcome("omni", "range", request_) == DENIED
    assert outcome("root", "range", request_) == OK
    assert outcome(None, "range", request_, state=build(enabled=False)) == OK  # auth off: everyone


def test_next_to_the_system_prefix_is_ordinary():
    assert outcome("omni", "range", RangeRequest(key=b"/_config_center", range_end=SYSTEM_PREFIX)) == OK
    assert outcome("omni", "put", PutRequest(key=SYSTEM_PREFIX[:-1] + b"0")) == OK
    assert outcome("omni", "put", PutRequest(key=SYS)) == DENIED
    assert outcome("omni", "put", PutRequest(key=b"w1", lease=3)) == DENIED  # its lease holds a system key


def test_auth_off_allows_everything():
    off = build(enabled=False)
    for user, kind, request, expected in MATRIX:
        if expected in (KeyNotProvidedError, DuplicateKeyError):
            continue  # the store refuses those, auth or not
        assert outcome(user, kind, request, state=off) == OK, (user, kind, request)


def test_revoking_a_role_takes_effect_on_the_next_check():
    state, _ = apply(STATE, c.RevokeRole(actor="root", name="alice", role="reader"), 1)
    assert outcome("alice", "range", RangeRequest(key=b"r1")) == OK
    assert outcome("alice", "range", RangeRequest(key=b"r1"), state=state) == DENIED


# -- the interval semantics, against a model -------------------------------------------------

ALPHABET = b"ab\0"
keys = st.binary(min_size=1, max_size=3).map(lambda b: bytes(ALPHABET[x % 3] for x in b))


def all_keys(max_len: int = 4):
    """Every key over ALPHABET up to ``max_len`` bytes, sorted."""
    out = [b""]
    frontier = [b""]
    for _ in range(max_len):
        frontier = [k + bytes([ch]) for k in frontier for ch in ALPHABET]
        out += frontier
    return sorted(set(out) - {b""})


UNIVERSE = all_keys()


def keys_in(key: bytes, range_end: bytes) -> list[bytes]:
    begin, end = permission_interval(key, range_end)
    return [k for k in UNIVERSE if k >= begin and (end is None or k < end)]


@st.composite
def perm_ranges(draw):
    key = draw(keys)
    kind = draw(st.sampled_from(["point", "range", "from"]))
    if kind == "point":
        return key, b""
    if kind == "from":
        return key, b"\0"
    end = draw(keys.filter(lambda e: e > key and e != b"\0"))
    return key, end


@settings(max_examples=400, deadline=None)
@given(perms=st.lists(perm_ranges(), max_size=4), request_key=keys, request=st.sampled_from(["point", "range", "from"]),
       request_end=keys)
def test_covers_matches_a_model_for_non_empty_ranges(perms, request_key, request, request_end):
    """Within a finite universe of keys: a non-empty request range is
    allowed exactly when every key of it is in some permission — except that
    "from key on" also needs a permission reaching past every key (the
    universe is finite, the keyspace is not)."""
    range_end = {"point": b"", "from": b"\0", "range": request_end}[request]
    if request == "range" and (request_end <= request_key or request_end == b"\0"):
        return  # empty or inverted: see the matrix
    intervals = sorted((permission_interval(k, e) for k, e in perms), key=lambda i: i[0])
    allowed = set()
    for k, e in perms:
        allowed.update(keys_in(k, e))
    wanted = keys_in(request_key, range_end)
    if request == "point":
        wanted = [request_key]
    expected = all(k in allowed for k in wanted)
    if request == "from":
        expected = expected and any(end is None for _, end in intervals)
    if request == "range":
        # A gap may fall between two keys of the universe (e.g. after b"a\0\0\0").
        # Compare only when the permissions' ends are all inside the universe.
        if any(end is not None and end not in UNIVERSE and end > request_key for _, end in intervals):
            return
    assert covers(intervals, request_key, range_end) == expected
