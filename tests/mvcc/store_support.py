"""Helpers for the MVCC store's tests: a ``Log`` that applies requests to a
real ``StoreStateMachine`` (SQLite in a temporary directory) at increasing
indexes, with short spellings of the common requests."""
from __future__ import annotations

from pathlib import Path

from consensus.mvcc.api import (
    Compare,
    CompareResult,
    CompareTarget,
    CompactionRequest,
    DeleteRangeRequest,
    KeyValue,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    Limits,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from consensus.mvcc.state_machine import StoreStateMachine


class Log:
    """Applies each request as the next log entry."""

    def __init__(self, path: Path, *, limits: Limits = Limits(), compaction_batch: int | None = None) -> None:
        self.path = path
        self.limits = limits
        self.compaction_batch = compaction_batch
        self.sm = self._open()
        self.index = self.sm.applied_index
        self.entries: list[tuple[int, object]] = []  # everything applied, for replay

    def _open(self) -> StoreStateMachine:
        kw = {} if self.compaction_batch is None else {"compaction_batch": self.compaction_batch}
        return StoreStateMachine.open(self.path, limits=self.limits, **kw)

    def reopen(self) -> StoreStateMachine:
        self.sm.close()
        self.sm = self._open()
        return self.sm

    def close(self) -> None:
        self.sm.close()

    def __call__(self, request: object) -> object:
        self.index += 1
        self.entries.append((self.index, request))
        return self.sm.apply(self.index, request)

    # -- short spellings -----------------------------------------------------------------

    def put(self, key: bytes, value: bytes = b"v", **kw) -> object:
        return self(PutRequest(key=key, value=value, **kw))

    def delete(self, key: bytes, range_end: bytes = b"", **kw) -> object:
        return self(DeleteRangeRequest(key=key, range_end=range_end, **kw))

    def txn(self, compare=(), success=(), failure=()) -> object:
        return self(TxnRequest(compare=tuple(compare), success=tuple(success), failure=tuple(failure)))

    def compact(self, revision: int, physical: bool = False) -> object:
        return self(CompactionRequest(revision=revision, physical=physical))

    def grant(self, ttl: int = 60, lease_id: int = 0) -> int:
        return self(LeaseGrantRequest(TTL=ttl, ID=lease_id)).ID

    def revoke(self, lease_id: int) -> object:
        return self(LeaseRevokeRequest(ID=lease_id))

    def range(self, key: bytes, range_end: bytes = b"", **kw):
        return self.sm.range(RangeRequest(key=key, range_end=range_end, **kw))

    def get(self, key: bytes, revision: int = 0) -> KeyValue | None:
        kvs = self.range(key, revision=revision).kvs
        return kvs[0] if kvs else None

    def all(self, revision: int = 0) -> dict[bytes, KeyValue]:
        return {kv.key: kv for kv in self.range(b"\0", b"\0", revision=revision).kvs}


def cmp(key: bytes, target: CompareTarget, result: CompareResult, operand, range_end: bytes = b"") -> Compare:
    return Compare(result=result, target=target, key=key, operand=operand, range_end=range_end)
