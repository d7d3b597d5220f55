"""Records as the store holds them, and the store calls the service makes.

A record is a JSON object, written compactly with sorted keys so the same
record is always the same bytes (audit hashes depend on it). Reads are
linearizable (the store's default), so a read after an acknowledged write
sees it on every member.

Transactions: etcd refuses a txn with more than ``max_txn_ops`` operations
on one level (128 by default) but counts a nested txn's operations against
the nested txn, so ``txn`` spreads a long list of operations over nested
transactions without compares. The whole stays one transaction: one
revision, all or nothing.
"""
from __future__ import annotations

import contextlib
import contextvars
import json
from typing import Iterable, Iterator, Sequence

from consensus.mvcc.api import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    KeyValue,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    TxnRequest,
    TxnResponse,
)

from .client import StoreClient
from .keys import prefix_end

# Below etcd's default max-txn-ops (128), leaving room for the caller's own.
OPS_PER_LEVEL = 100

# Set by ``read_at``: reads in this context are of that revision, served
# locally (serializable) instead of each through a ReadIndex.
_read_point: contextvars.ContextVar[int] = contextvars.ContextVar("read_point", default=0)


@contextlib.contextmanager
def read_at(revision: int) -> Iterator[None]:
    """Within the block, every read of this module is of ``revision`` and
    local. For code that has just made a linearizable read answered at
    ``revision``: what it reads next is consistent with it, and costs no
    round through the leader. (A change planned this way commits only if
    nothing it read has changed since, see ``service.changes``.)"""
    token = _read_point.set(revision)
    try:
        yield
    finally:
        _read_point.reset(token)


def _point(revision: int, serializable: bool) -> tuple[int, bool]:
    fixed = _read_point.get()
    if fixed and not revision:
        return fixed, True
    return revision, serializable


def encode(record: dict) -> bytes:
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def decode(value: bytes) -> dict:
    return json.loads(value)


async def get(client: StoreClient, key: bytes, *, revision: int = 0, serializable: bool = False) -> KeyValue | None:
    revision, serializable = _point(revision, serializable)
    response = await client.range(RangeRequest(key=key, revision=revision, serializable=serializable))
    return response.kvs[0] if response.kvs else None


async def get_many(client: StoreClient, keys: Sequence[bytes]) -> list[KeyValue | None]:
    """Several keys as of one revision: the first read linearizably, the
    others at the revision it answered, locally (a read-only txn would do it
    in one call, but a txn goes through the log: a write and an fsync per
    read)."""
    if not keys:
        return []
    revision, serializable = _point(0, False)
    first = await client.range(RangeRequest(key=keys[0], revision=revision, serializable=serializable))
    found = [first.kvs[0] if first.kvs else None]
    for key in keys[1:]:
        found.append(await get(client, key, revision=first.header.revision, serializable=True))
    return found


async def scan(
    client: StoreClient, prefix: bytes, *, start_after: bytes = b"", limit: int = 0, descending: bool = False,
    revision: int = 0, keys_only: bool = False,
) -> tuple[list[KeyValue], bool]:
    """Keys under ``prefix`` in key order (or reversed), from just after
    ``start_after`` (ascending) / just before it (descending); at most
    ``limit`` (0: all); ``keys_only`` leaves the values out (blobs can be
    large). Returns ``(kvs, more)``.

    A scan never leaves ``prefix``: ``start_after`` must lie under it, or
    the call raises ``ValueError`` before reading anything. (Descending,
    the scan reads ``[prefix, start_after)``; a start below the prefix
    would read every key between the two.)"""
    if start_after and not start_after.startswith(prefix):
        raise ValueError(f"scan of {prefix!r} asked to start at {start_after!r}, outside it")
    revision, serializable = _point(revision, False)
    key, end = prefix, prefix_end(prefix)
    if start_after:
        if descending:
            end = start_after
        else:
            key = start_after + b"\0"
    response = await client.range(RangeRequest(
        key=key, range_end=end, limit=limit, revision=revision, serializable=serializable, keys_only=keys_only,
        sort_order=SortOrder.DESCEND if descending else SortOrder.ASCEND, sort_target=SortTarget.KEY,
    ))
    return list(response.kvs), response.more


async def scan_all(client: StoreClient, prefix: bytes) -> tuple[list[KeyValue], int]:
    """Every key under ``prefix`` and the store revision they were read at."""
    revision, serializable = _point(0, False)
    response = await client.range(RangeRequest(key=prefix, range_end=prefix_end(prefix), revision=revision,
                                               serializable=serializable))
    return list(response.kvs), response.header.revision


def put(key: bytes, record: dict | bytes) -> PutRequest:
    return PutRequest(key=key, value=record if isinstance(record, bytes) else encode(record))


def delete(key: bytes) -> DeleteRangeRequest:
    return DeleteRangeRequest(key=key)


def delete_prefix(prefix: bytes) -> DeleteRangeRequest:
    return DeleteRangeRequest(key=prefix, range_end=prefix_end(prefix))


def mod_revision_is(key: bytes, revision: int) -> Compare:
    """``key`` was last written at ``revision`` (0: ``key`` does not exist)."""
    if revision == 0:
        return absent(key)
    return Compare(result=CompareResult.EQUAL, target=CompareTarget.MOD, key=key, operand=revision)


def absent(key: bytes) -> Compare:
    return Compare(result=CompareResult.EQUAL, target=CompareTarget.VERSION, key=key, operand=0)


async def txn(client: StoreClient, compares: Iterable[Compare], ops: Sequence) -> TxnResponse:
    """One transaction: ``ops`` if every compare holds, else nothing
    (``succeeded`` False). Long op lists are nested (module docstring)."""
    return await client.txn(TxnRequest(compare=tuple(compares), success=_levels(list(ops))))


def _levels(ops: list) -> tuple:
    if len(ops) <= OPS_PER_LEVEL:
        return tuple(ops)
    chunks = [TxnRequest(success=tuple(ops[i:i + OPS_PER_LEVEL])) for i in range(0, len(ops), OPS_PER_LEVEL)]
    return _levels(chunks)


