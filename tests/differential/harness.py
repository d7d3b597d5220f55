"""Drive our state machine and a real etcd with the same requests, compare.

Isolation per seed
------------------
One etcd serves a whole test module; a seed does not get a fresh one (that
costs ~0.3 s, too much for hundreds of seeds). Instead each seed starts with
``reset_etcd``: revoke every lease, put a marker key, delete every key. After
that etcd holds no keys and no leases, exactly like a fresh store, and two
things differ from a fresh etcd, both accounted for exactly:

- **its revision** ``R0`` is not 1. Revisions are global and only grow, so
  the harness maps ours to etcd's by a fixed offset: our revision ``r``
  (``r >= 1``) is etcd's ``r + offset`` with ``offset = R0 - ours``. Every
  positive revision in a request (range ``revision`` and the four filters,
  compaction, CREATE/MOD compare operands, watch ``start_revision``) is
  shifted up before it goes to etcd, and every positive revision in etcd's
  answer (header, ``create_revision``, ``mod_revision``, ``compact_revision``)
  is shifted down. Zero and negative values mean "now" / "unset" / "no key"
  on both sides and are never shifted. The offset preserves order, so
  ``<``/``>`` compares and revision filters mean the same on both sides.
- **its compact revision** may be set by an earlier seed. It is always below
  ``R0`` (the marker put comes after any compaction), so it compacts nothing
  that maps to one of our revisions: like our fresh store, etcd can read and
  compact at ``R0`` (our revision 1) and above.
- **the events of revision R0**: it is the reset's delete, so a watch from
  etcd's ``R0`` replays those deletes, while our revision 1 (the empty
  store) has no events. Watches are therefore never started at revision 1;
  reads at revision 1 are fine (both sides are empty there).

Differences allowed, each named (``DIFFERENCES``), nothing else is
------------------------------------------------------------------
Everything else is compared field by field, errors included (message, gRPC
code, HTTP status).
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from typing import Any

from consensus.mvcc import json_codec
from consensus.mvcc.api import (
    Compare,
    CompactionRequest,
    CompareTarget,
    DeleteRangeRequest,
    LeaseGrantRequest,
    LeaseLeasesResponse,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    PutRequest,
    RangeRequest,
    ResponseHeader,
    StoreError,
    TxnRequest,
)
from consensus.mvcc.json_codec import LeaseLeasesRequest
from tests.differential.etcd import GatewayClient


@dataclass(frozen=True)
class Difference:
    """A way etcd 3.4 legitimately differs from our store, and why."""

    name: str
    reason: str


DIFFERENCES: dict[str, Difference] = {
    d.name: d
    for d in (
        Difference(
            "header-identity",
            "ResponseHeader.cluster_id, member_id and raft_term identify etcd's cluster and "
            "term; ours identify our node (the state machine leaves them 0). Zeroed on both "
            "sides before comparing; revision is compared.",
        ),
        Difference(
            "lease-remaining-ttl",
            "LeaseTimeToLive.TTL is the remaining time by etcd's wall clock; our state machine "
            "has no clock and reports what the runtime passes in (the test passes the granted "
            "TTL, as if no time had passed). etcd's must lie in [ours - 2, ours]: it rounds the "
            "remaining time and some time passes. grantedTTL, ID and keys are compared exactly.",
        ),
        Difference(
            "lease-order",
            "etcd lists leases (LeaseLeases) and a lease's keys (LeaseTimeToLive keys=true) in Go "
            "map order, which is random; both sides are sorted before comparing.",
        ),
        Difference(
            "watch-compact-boundary",
            "etcd 3.4.23 lets a watch start at the compact revision C and then silently drops "
            "that revision's deletes (etcd issue #18089, fixed in 3.4.34). Our watch hub, over a "
            "store that does not keep those deletes, counts C itself as compacted "
            "(WatchHub.oldest_revision() == C + 1): a watch from C is canceled, and every "
            "compacted response reports C + 1, a resume point that loses nothing. Applied only "
            "while the hub says so (test_watch_vs_etcd.allow_compact_boundary).",
        ),
        Difference(
            "lease-auth",
            "With auth on, etcd 3.4 lets anyone grant leases, renew them, list them, and revoke one "
            "that holds no key. Our store wants a user to grant; a user with WRITE on every key attached "
            "(root for a key under the system prefix) to renew or revoke, even a lease holding none; "
            "and root to list (consensus.auth.permissions). The comparisons here run with auth off, "
            "where both sides allow everything; tests/auth/test_auth_vs_etcd.py asserts what each side "
            "answers with auth on, tests/gateway/test_store_auth.py the keep-alive stream.",
        ),
    )
}

LEASE_TTL_TOLERANCE = 2

_SHIFTED_FIELDS = frozenset({
    "revision", "min_mod_revision", "max_mod_revision", "min_create_revision", "max_create_revision",
    "create_revision", "mod_revision", "compact_revision", "start_revision",
})


def shift_revisions(obj: Any, delta: int) -> Any:
    """``obj`` with ``delta`` added to every positive revision in it (see the
    module docstring); dataclasses and tuples are walked recursively."""
    if isinstance(obj, tuple):
        return tuple(shift_revisions(item, delta) for item in obj)
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    changes = {}
    for spec in dataclasses.fields(obj):
        value = getattr(obj, spec.name)
        if spec.name in _SHIFTED_FIELDS and isinstance(value, int) and not isinstance(value, bool):
            if value > 0:
                changes[spec.name] = value + delta
        elif dataclasses.is_dataclass(value) or isinstance(value, tuple):
            changes[spec.name] = shift_revisions(value, delta)
    if isinstance(obj, Compare) and obj.target in (CompareTarget.CREATE, CompareTarget.MOD):
        if isinstance(obj.operand, int) and obj.operand > 0:
            changes["operand"] = obj.operand + delta
    return dataclasses.replace(obj, **changes) if changes else obj


def zero_header_identity(obj: Any) -> Any:
    """``obj`` with cluster_id, member_id and raft_term zeroed in every header
    (difference ``header-identity``)."""
    if isinstance(obj, tuple):
        return tuple(zero_header_identity(item) for item in obj)
    if isinstance(obj, ResponseHeader):
        return ResponseHeader(revision=obj.revision)
    if not dataclasses.is_dataclass(obj) or isinstance(obj, type):
        return obj
    changes = {}
    for spec in dataclasses.fields(obj):
        value = getattr(obj, spec.name)
        if dataclasses.is_dataclass(value) or isinstance(value, tuple):
            new = zero_header_identity(value)
            if new is not value:
                changes[spec.name] = new
    return dataclasses.replace(obj, **changes) if changes else obj


WRITE_REQUESTS = (PutRequest, DeleteRangeRequest, TxnRequest, CompactionRequest, LeaseGrantRequest,
                  LeaseRevokeRequest)


@dataclass(frozen=True)
class Outcome:
    """A response, or an error as the gateway would report it."""

    response: Any = None
    error: tuple[str, int, int] | None = None  # (message, gRPC code, HTTP status)

    @classmethod
    def failed(cls, error: StoreError) -> "Outcome":
        status, _body = json_codec.error_to_json(error)
        return cls(error=(error.text, error.grpc_code, status))

    def to_json(self) -> Any:
        if self.error is not None:
            message, code, status = self.error
            return {"http_status": status, "error": message, "code": code}
        return json_codec.response_to_json(self.response)

    def describe(self) -> str:
        return json.dumps(self.to_json(), sort_keys=True)


class OurStore:
    """Our state machine, driven the way the runtime drives it: writes are
    applied at consecutive log indexes (a failed write still uses its index,
    as a committed entry would), reads go to ``range`` and the lease reads."""

    def __init__(self, sm: Any) -> None:
        self.sm = sm
        self.index = sm.applied_index

    @property
    def revision(self) -> int:
        return self.sm.revision

    @property
    def compact_revision(self) -> int:
        return self.sm.compact_revision

    def execute(self, request: Any) -> Outcome:
        try:
            if isinstance(request, WRITE_REQUESTS):
                self.index += 1
                return Outcome(self.sm.apply(self.index, request))
            if isinstance(request, RangeRequest):
                return Outcome(self.sm.range(request))
            if isinstance(request, LeaseTimeToLiveRequest):
                # remaining=None: the granted TTL, as if no time had passed
                # (difference "lease-remaining-ttl").
                return Outcome(self.sm.lease_time_to_live(request, None))
            if isinstance(request, LeaseLeasesRequest):
                return Outcome(self.sm.lease_leases())
        except StoreError as error:
            return Outcome.failed(error)
        raise TypeError(f"no way to execute {type(request).__name__} on our store")


class EtcdSide:
    """The real etcd behind its gateway, with revisions shifted to ours."""

    def __init__(self, client: GatewayClient) -> None:
        self.client = client
        self.offset = 0

    def reset(self, our_revision: int) -> int:
        """Empty etcd (no leases, no keys) and align its revision with
        ``our_revision``; returns the offset. See the module docstring."""
        leases = self.client.call(LeaseLeasesRequest())
        for status in leases.leases:
            try:
                self.client.call(LeaseRevokeRequest(ID=status.ID))
            except StoreError:
                pass  # expired meanwhile
        self.client.call(PutRequest(key=b"\x00differential-reset", value=b""))
        deleted = self.client.call(DeleteRangeRequest(key=b"\x00", range_end=b"\x00"))
        self.offset = deleted.header.revision - our_revision
        if self.offset < 0:
            raise AssertionError(f"etcd's revision {deleted.header.revision} is below ours {our_revision}")
        return self.offset

    def execute(self, request: Any) -> Outcome:
        try:
            response = self.client.call(shift_revisions(request, self.offset))
        except StoreError as error:
            return Outcome.failed(error)
        return Outcome(shift_revisions(response, -self.offset))


def normalize_pair(
    request: Any, ours: Outcome, theirs: Outcome, *, ttl_window: tuple[int, int] = (-LEASE_TTL_TOLERANCE, 0)
) -> tuple[Outcome, Outcome, list[str]]:
    """Apply the allowed differences; returns both outcomes ready for ``==``
    and the names of the differences that were used. ``ttl_window``: how far
    etcd's remaining TTL may lie from ours (``lease-remaining-ttl``)."""
    used = ["header-identity"]
    if ours.response is not None:
        ours = Outcome(zero_header_identity(ours.response))
    if theirs.response is not None:
        theirs = Outcome(zero_header_identity(theirs.response))
    if isinstance(ours.response, LeaseTimeToLiveResponse) and isinstance(theirs.response, LeaseTimeToLiveResponse):
        used += ["lease-order", "lease-remaining-ttl"]
        a, b = ours.response, theirs.response
        a = dataclasses.replace(a, keys=tuple(sorted(a.keys)))
        b = dataclasses.replace(b, keys=tuple(sorted(b.keys)))
        if a.TTL > 0 and a.TTL + ttl_window[0] <= b.TTL <= a.TTL + ttl_window[1]:
            b = dataclasses.replace(b, TTL=a.TTL)
        ours, theirs = Outcome(a), Outcome(b)
    if isinstance(ours.response, LeaseLeasesResponse) and isinstance(theirs.response, LeaseLeasesResponse):
        used.append("lease-order")
        ours = Outcome(dataclasses.replace(ours.response, leases=tuple(sorted(ours.response.leases, key=lambda s: s.ID))))
        theirs = Outcome(dataclasses.replace(theirs.response, leases=tuple(sorted(theirs.response.leases, key=lambda s: s.ID))))
    return ours, theirs, used


def describe_request(request: Any) -> str:
    """A compact, exact description: the kind and its JSON (our revisions)."""
    kind = json_codec.kind_of(request)
    return f"{kind} {json.dumps(json_codec.request_to_json(request), sort_keys=True)}"


def first_difference(a: Any, b: Any, path: str = "") -> str:
    """Where two outcomes' JSON first differ, e.g. ``kvs[0].mod_revision: 5 != 6``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if a.get(key, "<absent>") != b.get(key, "<absent>"):
                return first_difference(a.get(key, "<absent>"), b.get(key, "<absent>"), f"{path}.{key}" if path else key)
        return path or "(equal)"
    if isinstance(a, list) and isinstance(b, list):
        for i, (x, y) in enumerate(zip(a, b)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
        return f"{path}: {len(a)} items != {len(b)} items"
    return f"{path}: ours {a!r} != etcd {b!r}"



# -- running a seed -------------------------------------------------------------------------


def seed_list(config: Any, default: int) -> list[int]:
    """Seeds to run: ``--seed S`` replays one; ``--seeds N`` given on the
    command line runs N; otherwise ``default`` (``--seeds``' own default is
    sized for the in-process simulations, not for a real etcd)."""
    single = config.getoption("--seed")
    if single is not None:
        return [single]
    args = config.invocation_params.args
    if any(str(arg) == "--seeds" or str(arg).startswith("--seeds=") for arg in args):
        return list(range(config.getoption("--seeds")))
    return list(range(default))


def seed_id(seed: int) -> str:
    return f"seed_{seed}"


class Mismatch(AssertionError):
    pass


class Differential:
    """One seed: the same requests to our store and to etcd, compared after
    every step. ``replay`` is the command line printed on failure."""

    def __init__(self, seed: int, ours: Any, theirs: EtcdSide, *, replay: str,
                 ttl_window: tuple[int, int] = (-LEASE_TTL_TOLERANCE, 0), fresh: bool = False) -> None:
        """``fresh``: etcd was just started, so it is not reset and its
        revisions must equal ours (offset 0)."""
        self.seed = seed
        self.ours = ours
        self.theirs = theirs
        self.replay = replay
        self.ttl_window = ttl_window
        self.steps: list[Any] = []
        if fresh:
            revision = theirs.client.call(RangeRequest(key=b"\x00", range_end=b"\x00")).header.revision
            if revision != ours.revision:
                raise AssertionError(f"a fresh etcd is at revision {revision}, our fresh store at {ours.revision}")
            self.offset = theirs.offset = 0
        else:
            self.offset = theirs.reset(ours.revision)

    def step(self, request: Any) -> Outcome:
        """Run ``request`` on both sides; raise ``Mismatch`` if they differ
        beyond the allowed differences. Returns our outcome."""
        ours = self.ours.execute(request)
        theirs = self.theirs.execute(request)
        self.steps.append(request)
        a, b, _used = normalize_pair(request, ours, theirs, ttl_window=self.ttl_window)
        if a != b:
            self.fail(request, a, b)
        return ours

    def fail(self, request: Any, ours: Outcome, theirs: Outcome, what: str = "") -> None:
        lines = [
            f"etcd and our store differ: seed {self.seed}, step {len(self.steps) - 1}{what}",
            f"request:  {describe_request(request)}",
            f"          (our revisions; etcd's are {self.offset} higher)",
            f"first difference: {first_difference(ours.to_json(), theirs.to_json())}",
            f"ours:     {ours.describe()}",
            f"etcd:     {theirs.describe()}",
            "steps so far:",
            *(f"  {i:3d} {describe_request(r)}" for i, r in enumerate(self.steps)),
            f"replay:   {self.replay}",
        ]
        raise Mismatch("\n".join(lines))

    def check_history(self) -> None:
        """Every key at every revision still in history, and the lease list,
        compared once more after the sequence."""
        first = max(1, self.ours.compact_revision)
        for revision in range(first, self.ours.revision + 1):
            self.step(RangeRequest(key=b"\x00", range_end=b"\x00", revision=revision))
        self.step(LeaseLeasesRequest())
