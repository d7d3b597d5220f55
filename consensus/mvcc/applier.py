"""Applying one request to the store, with etcd 3.4's semantics (its
``applierV3backend`` in ``etcdserver/apply.go``, the request checks of
``v3rpc/key.go`` and the quota of ``etcdserver/quota.go``).

Every check that can refuse a request runs before its first write, so a
refused request changes nothing: the ``StoreError`` it raises leaves the
store as it was. (The state machine verifies this: a ``StoreError`` after a
row was written is treated as a bug, not as a refusal.)

Response headers carry only ``revision``; the runtime fills in cluster,
member and term. The revision is etcd's, request by request:

- range: the store's revision at the read (also for a historical read);
- put: the revision written; delete range: the new revision if it deleted
  something, else the current one;
- txn: the new revision if any op wrote, else the current one. Inside a
  txn, each op's header is what that op would report at that point of the
  txn (a range after a write reports the txn's new revision); a *nested*
  txn's response header is left at 0, as etcd leaves it;
- compaction, lease grant and revoke: the store's revision after the
  request.
"""
from __future__ import annotations

from dataclasses import replace

from .api import (
    AlarmAction,
    AlarmMember,
    AlarmRequest,
    AlarmResponse,
    AlarmType,
    CompactionRequest,
    CompactionResponse,
    CompactedError,
    DeleteRangeRequest,
    DeleteRangeResponse,
    FutureRevisionError,
    InvalidRequestError,
    KeyNotFoundError,
    LeaseExistsError,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTTLTooLargeError,
    Limits,
    NoSpaceError,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)
from .kv_store import KV_OVERHEAD, LEASE_OVERHEAD, KVStore, WriteTxn
from .lessor import Lessor
from .tree_index import range_end_of
from .txn import (
    check_delete_request,
    check_intervals,
    check_put_request,
    check_range_request,
    check_txn_request,
    compare_to_path,
    is_read_only,
    ops_on_path,
)

_INT63 = (1 << 63) - 1

_SORT_KEYS = {
    SortTarget.KEY: lambda kv: kv.key,
    SortTarget.VERSION: lambda kv: kv.version,
    SortTarget.CREATE: lambda kv: kv.create_revision,
    SortTarget.MOD: lambda kv: kv.mod_revision,
    SortTarget.VALUE: lambda kv: kv.value,
}


def quota_cost(request: object) -> int:
    """etcd's ``backendQuota.Cost``: a put costs its key, value and a fixed
    overhead; a txn the costlier of its branches' *top-level* puts (etcd
    does not count nested ones); a lease grant a fixed overhead; anything
    else nothing (deletes and compactions are always allowed)."""
    if isinstance(request, PutRequest):
        return KV_OVERHEAD + len(request.key) + len(request.value)
    if isinstance(request, TxnRequest):
        return max(
            sum(quota_cost(op) for op in request.success if isinstance(op, PutRequest)),
            sum(quota_cost(op) for op in request.failure if isinstance(op, PutRequest)),
        )
    if isinstance(request, LeaseGrantRequest):
        return LEASE_OVERHEAD
    return 0


def splitmix64(x: int) -> int:
    """A 64-bit mixing step: distinct inputs give well-spread outputs."""
    x = (x + 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & 0xFFFFFFFFFFFFFFFF
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & 0xFFFFFFFFFFFFFFFF
    return x ^ (x >> 31)


class Applier:
    """Turns requests into store changes and responses. Deterministic: the
    same request on the same state gives the same changes everywhere (lease
    IDs it picks derive from the log index, never from a clock or RNG)."""

    def __init__(self, store: KVStore, lessor: Lessor, limits: Limits) -> None:
        self.store = store
        self.lessor = lessor
        self.limits = limits
        self.alarms: set[tuple[int, AlarmType]] = {
            (member, AlarmType(kind)) for member, kind in store.backend.alarms()}

    def apply(self, index: int, request: object) -> object:
        """The response to ``request`` applied as log entry ``index``, or a
        ``StoreError`` with nothing changed."""
        if self.space_exhausted and quota_cost(request) > 0:
            # etcd's capped applier: with NOSPACE raised, nothing that adds data
            raise NoSpaceError()
        if isinstance(request, PutRequest):
            self._check_quota(request)
            check_put_request(request, self.limits.max_key_bytes)
            return self.put(request)
        if isinstance(request, DeleteRangeRequest):
            check_delete_request(request, self.limits.max_key_bytes)
            return self.delete_range(request)
        if isinstance(request, TxnRequest):
            self._check_quota(request)
            check_txn_request(request, self.limits.max_txn_ops, self.limits.max_key_bytes)
            check_intervals(request.success)
            check_intervals(request.failure)
            return self.txn(request)
        if isinstance(request, RangeRequest):
            check_range_request(request, self.limits.max_key_bytes)
            return self.range(request)
        if isinstance(request, CompactionRequest):
            return self.compaction(request)
        if isinstance(request, LeaseGrantRequest):
            self._check_quota(request)
            return self.lease_grant(request, index)
        if isinstance(request, LeaseRevokeRequest):
            return self.lease_revoke(request)
        if isinstance(request, AlarmRequest):
            return self.alarm(request)
        raise InvalidRequestError(f"etcdserver: not a request the store applies: {type(request).__name__}")

    @property
    def space_exhausted(self) -> bool:
        """A NOSPACE alarm is raised (for any member)."""
        return any(kind is AlarmType.NOSPACE for _, kind in self.alarms)

    def alarm(self, r: AlarmRequest) -> AlarmResponse:
        """etcd's alarm store: GET lists the alarms of a type (NONE: all);
        ACTIVATE raises one (answered with it, also when it was raised
        already; NONE raises nothing); DEACTIVATE clears one (answered with
        it if it was raised). While a NOSPACE alarm is raised, requests that
        add data are refused (``apply``)."""
        header = ResponseHeader(revision=self.store.meta.revision)
        if r.action is AlarmAction.GET:
            listed = sorted(a for a in self.alarms if r.alarm is AlarmType.NONE or a[1] is r.alarm)
            return AlarmResponse(header=header, alarms=tuple(AlarmMember(m, k) for m, k in listed))
        if r.alarm is AlarmType.NONE:
            return AlarmResponse(header=header)
        alarm = (r.memberID, r.alarm)
        if r.action is AlarmAction.ACTIVATE:
            if alarm not in self.alarms:
                self.alarms.add(alarm)
                self.store.backend.put_alarm(*alarm)
            return AlarmResponse(header=header, alarms=(AlarmMember(*alarm),))
        if alarm not in self.alarms:
            return AlarmResponse(header=header)
        self.alarms.discard(alarm)
        self.store.backend.delete_alarm(*alarm)
        return AlarmResponse(header=header, alarms=(AlarmMember(*alarm),))

    def _check_quota(self, request: object) -> None:
        cost = quota_cost(request)
        if cost and self.store.meta.stored_bytes + cost >= self.limits.quota_backend_bytes:
            raise NoSpaceError()

    # -- key-value -------------------------------------------------------------------------

    def range(self, r: RangeRequest, txn: WriteTxn | None = None) -> RangeResponse:
        """etcd's ``Range``. Without a sort order or revision filters the
        store is asked for ``limit + 1`` keys (to learn ``more``); with them
        it is asked for all, which are filtered, sorted, then cut to the
        limit. A non-KEY sort target with sort order NONE sorts ascending
        — but, as in etcd 3.4, without lifting the limit first, so it sorts
        only the first ``limit + 1`` keys. ``count`` is every key in the
        range at the revision, before the revision filters.

        Sorted by key with no filters, the keys wanted are the first or
        last ``limit + 1`` in key order, so only those are read: a page of a
        long history, newest first, costs a page, not the history."""
        limit = r.limit
        filtered = bool(r.min_mod_revision or r.max_mod_revision or r.min_create_revision or r.max_create_revision)
        sorted_by_other = r.sort_order != SortOrder.NONE and r.sort_target != SortTarget.KEY
        if filtered or sorted_by_other:
            limit = 0
        if limit > 0:
            limit += 1
        from_end = r.sort_order == SortOrder.DESCEND and r.sort_target == SortTarget.KEY and not filtered
        end = range_end_of(r.range_end)
        if txn is None:
            rr = self.store.range_keys(r.key, end, cur_rev=self.store.meta.revision, rev=r.revision,
                                       limit=limit, count_only=r.count_only, from_end=from_end)
        else:
            rr = txn.range(r.key, end, rev=r.revision, limit=limit, count_only=r.count_only, from_end=from_end)
        kvs = rr.kvs
        if r.max_mod_revision:
            kvs = [kv for kv in kvs if kv.mod_revision <= r.max_mod_revision]
        if r.min_mod_revision:
            kvs = [kv for kv in kvs if kv.mod_revision >= r.min_mod_revision]
        if r.max_create_revision:
            kvs = [kv for kv in kvs if kv.create_revision <= r.max_create_revision]
        if r.min_create_revision:
            kvs = [kv for kv in kvs if kv.create_revision >= r.min_create_revision]
        order = r.sort_order
        if r.sort_target != SortTarget.KEY and order == SortOrder.NONE:
            order = SortOrder.ASCEND
        if order != SortOrder.NONE:
            # Stable, ties in key order (etcd's sort.Sort is stable for the
            # up-to-12-element runs it insertion-sorts; beyond that etcd's
            # order of ties is unspecified).
            kvs = sorted(kvs, key=_SORT_KEYS[SortTarget(r.sort_target)], reverse=order == SortOrder.DESCEND)
        more = False
        if r.limit > 0 and len(kvs) > r.limit:
            kvs = kvs[: r.limit]
            more = True
        if r.keys_only:
            kvs = [replace(kv, value=b"") for kv in kvs]
        return RangeResponse(header=ResponseHeader(revision=rr.rev), kvs=tuple(kvs), more=more, count=rr.count)

    def put(self, r: PutRequest, txn: WriteTxn | None = None) -> PutResponse:
        """etcd's ``Put``: ``ignore_value``/``ignore_lease`` take the value or
        lease of the existing key (which must exist); ``prev_kv`` returns the
        key as it was before."""
        own = txn is None
        if own:
            if r.lease and self.lessor.lookup(r.lease) is None:
                raise LeaseNotFoundError()
            txn = self.store.write()
        prev = None
        if r.ignore_value or r.ignore_lease or r.prev_kv:
            kvs = txn.range(r.key, None).kvs
            prev = kvs[0] if kvs else None
        if (r.ignore_value or r.ignore_lease) and prev is None:
            raise KeyNotFoundError()
        value = prev.value if r.ignore_value else r.value
        lease = prev.lease if r.ignore_lease else r.lease
        rev = txn.put(r.key, value, lease)
        if own:
            txn.end()
        return PutResponse(header=ResponseHeader(revision=rev), prev_kv=prev if r.prev_kv else None)

    def delete_range(self, r: DeleteRangeRequest, txn: WriteTxn | None = None) -> DeleteRangeResponse:
        own = txn is None
        if own:
            txn = self.store.write()
        end = range_end_of(r.range_end)
        prev = tuple(txn.range(r.key, end).kvs) if r.prev_kv else ()
        deleted, rev = txn.delete_range(r.key, end)
        if own:
            txn.end()
        return DeleteRangeResponse(header=ResponseHeader(revision=rev), deleted=deleted, prev_kvs=prev)

    # -- txn -----------------------------------------------------------------------------

    def txn(self, r: TxnRequest) -> TxnResponse:
        """etcd's ``Txn``: compares along the whole path first, then the
        checks of the requests on it (against the state before the txn),
        then the ops, all at one revision."""
        store = self.store
        cur = store.meta.revision

        def view(key: bytes, end: bytes | None) -> list:
            return store.range_keys(key, end, cur_rev=cur).kvs

        path = compare_to_path(view, r)
        ops = ops_on_path(r, path)
        if not is_read_only(r):
            for op in ops:
                if isinstance(op, PutRequest):
                    self._check_put(op)
        for op in ops:
            if isinstance(op, RangeRequest):
                self._check_range(op)
        txn = store.write()
        response, _ = self._execute(txn, r, path, 0)
        rev = txn.rev
        txn.end()
        return replace(response, header=ResponseHeader(revision=rev))

    def _check_put(self, op: PutRequest) -> None:
        if op.ignore_value or op.ignore_lease:
            if self.store.index.get(op.key, self.store.meta.revision) is None:
                raise KeyNotFoundError()
        if op.lease and self.lessor.lookup(op.lease) is None:
            raise LeaseNotFoundError()

    def _check_range(self, op: RangeRequest) -> None:
        meta = self.store.meta
        if op.revision == 0:
            return
        if op.revision > meta.revision:
            raise FutureRevisionError()
        if op.revision < meta.compact_revision:
            raise CompactedError(meta.compact_revision)

    def _execute(self, txn: WriteTxn, r: TxnRequest, path: list[bool], pos: int) -> tuple[TxnResponse, int]:
        succeeded = path[pos]
        pos += 1
        responses: list = []
        for op in r.success if succeeded else r.failure:
            if isinstance(op, RangeRequest):
                responses.append(self.range(op, txn))
            elif isinstance(op, PutRequest):
                responses.append(self.put(op, txn))
            elif isinstance(op, DeleteRangeRequest):
                responses.append(self.delete_range(op, txn))
            else:
                nested, pos = self._execute(txn, op, path, pos)
                responses.append(nested)
        return TxnResponse(header=ResponseHeader(), succeeded=succeeded, responses=tuple(responses)), pos

    # -- compaction --------------------------------------------------------------------------

    def compaction(self, r: CompactionRequest) -> CompactionResponse:
        """Compact at ``r.revision``. With ``physical`` the superseded rows
        are deleted within this apply (one transaction, however many);
        without, in batches over the following applies."""
        self.store.compact(r.revision)
        if r.physical:
            while self.store.meta.scheduled_compaction >= 0:
                self.store.compaction_step()
        return CompactionResponse(header=ResponseHeader(revision=self.store.meta.revision))

    # -- leases --------------------------------------------------------------------------------

    def lease_grant(self, r: LeaseGrantRequest, index: int) -> LeaseGrantResponse:
        """Grant ``r.ID`` (or, for 0, an ID derived from the log index, so
        every member picks the same one). A TTL below ``min_lease_ttl`` is
        raised to it, as etcd does."""
        lease_id = r.ID or self._new_lease_id(index)
        if r.TTL > self.limits.max_lease_ttl:
            raise LeaseTTLTooLargeError()
        if lease_id in self.lessor:
            raise LeaseExistsError()
        ttl = max(r.TTL, self.limits.min_lease_ttl)
        self.lessor.grant(lease_id, ttl)
        self.store.meta.stored_bytes += LEASE_OVERHEAD
        return LeaseGrantResponse(header=ResponseHeader(revision=self.store.meta.revision), ID=lease_id, TTL=ttl)

    def _new_lease_id(self, index: int) -> int:
        x = splitmix64(index)
        while True:
            lease_id = x & _INT63  # positive int64, as etcd's generated IDs
            if lease_id and lease_id not in self.lessor:
                return lease_id
            x = splitmix64(x)

    def lease_revoke(self, r: LeaseRevokeRequest) -> LeaseRevokeResponse:
        """Revoke ``r.ID``: its keys are deleted in key order, all at one new
        revision (none if it holds no key), and the lease is gone."""
        if r.ID not in self.lessor:
            raise LeaseNotFoundError()
        txn = self.store.write()
        for key in self.lessor.keys(r.ID):
            txn.delete_range(key, None)
        self.lessor.remove(r.ID)
        self.store.meta.stored_bytes -= LEASE_OVERHEAD
        txn.end()
        return LeaseRevokeResponse(header=ResponseHeader(revision=self.store.meta.revision))
