"""Transactions: validating a request before anything is applied, and
deciding which branch each (nested) txn takes — etcd 3.4's
``checkTxnRequest``/``checkIntervals`` (``v3rpc/key.go``) and
``compareToPath``/``applyCompare``/``compareKV`` (``etcdserver/apply.go``).

Order of evaluation, as in etcd: the compares of the txn *and of every
nested txn on the chosen path* are evaluated first, all against the store as
it was before the txn (a nested txn's compares do not see the outer txn's
writes). The result is the *path*: one bool per txn visited, in pre-order.
Then the requests on the path are checked (a put's lease must exist; an
``ignore_value``/``ignore_lease`` put needs an existing key; a range's
revision must be neither compacted nor in the future), still against the
state before the txn; only then is anything written.
"""
from __future__ import annotations

from typing import Callable

from .api import (
    Compare,
    CompareResult,
    CompareTarget,
    DeleteRangeRequest,
    DuplicateKeyError,
    InvalidRequestError,
    KeyNotProvidedError,
    KeyTooLargeError,
    KeyValue,
    LeaseProvidedError,
    PutRequest,
    RangeRequest,
    SortOrder,
    SortTarget,
    TooManyOpsError,
    TxnRequest,
    ValueProvidedError,
)
from .tree_index import range_end_of

# A view of the store before the txn: the kvs in [key, end) as the tree index
# reads ranges (end None: the single key).
RangeView = Callable[[bytes, "bytes | None"], list[KeyValue]]

# -- request checks (before anything is applied) -----------------------------------------


def check_range_request(r: RangeRequest, max_key_bytes: int) -> None:
    if not r.key:
        raise KeyNotProvidedError()
    if len(r.key) > max_key_bytes:
        raise KeyTooLargeError()
    if r.sort_order not in SortOrder.__members__.values():
        raise InvalidRequestError(f"etcdserver: invalid sort_order {r.sort_order!r}")
    if r.sort_target not in SortTarget.__members__.values():
        raise InvalidRequestError(f"etcdserver: invalid sort_target {r.sort_target!r}")


def check_put_request(r: PutRequest, max_key_bytes: int) -> None:
    if not r.key:
        raise KeyNotProvidedError()
    if len(r.key) > max_key_bytes:
        raise KeyTooLargeError()
    if r.ignore_value and r.value:
        raise ValueProvidedError()
    if r.ignore_lease and r.lease:
        raise LeaseProvidedError()


def check_delete_request(r: DeleteRangeRequest, max_key_bytes: int) -> None:
    if not r.key:
        raise KeyNotProvidedError()
    if len(r.key) > max_key_bytes:
        raise KeyTooLargeError()


def check_txn_request(r: TxnRequest, max_txn_ops: int, max_key_bytes: int) -> None:
    """etcd's ``checkTxnRequest``: the widest of compares, success and
    failure counts against ``max_txn_ops``; a nested txn gets what is left
    (``max_txn_ops`` minus this level's width). Every compare and op needs a
    key."""
    width = max(len(r.compare), len(r.success), len(r.failure))
    if width > max_txn_ops:
        raise TooManyOpsError()
    for c in r.compare:
        if not c.key:
            raise KeyNotProvidedError()
        if c.result not in CompareResult.__members__.values() or c.target not in CompareTarget.__members__.values():
            raise InvalidRequestError(f"etcdserver: invalid compare {c.result!r}/{c.target!r}")
    for op in (*r.success, *r.failure):
        check_request_op(op, max_txn_ops - width, max_key_bytes)


def check_request_op(op: object, max_txn_ops: int, max_key_bytes: int) -> None:
    if isinstance(op, RangeRequest):
        check_range_request(op, max_key_bytes)
    elif isinstance(op, PutRequest):
        check_put_request(op, max_key_bytes)
    elif isinstance(op, DeleteRangeRequest):
        check_delete_request(op, max_key_bytes)
    elif isinstance(op, TxnRequest):
        check_txn_request(op, max_txn_ops, max_key_bytes)
    else:
        raise InvalidRequestError(f"etcdserver: not a txn operation: {type(op).__name__}")


# -- duplicate keys ------------------------------------------------------------------------

Interval = tuple[bytes, bytes]  # [begin, end)


def _covers(dels: list[Interval], key: bytes) -> bool:
    return any(begin <= key < end for begin, end in dels)


def check_intervals(ops: tuple) -> tuple[set[bytes], list[Interval]]:
    """etcd's ``checkIntervals``: within one branch, a key may be written
    (put) once and not both put and deleted — across nesting too — or the txn
    is refused with ``DuplicateKeyError`` before anything applies. Returns
    the branch's puts and delete intervals for the level above.

    Reproduced exactly, quirks included: a nested txn's then- and
    else-branch may put the same key (only one runs); deletes are compared
    only with puts (overlapping deletes are fine); a delete's ``range_end``
    is taken literally, so ``b"\\0"`` (to the end of the keyspace) forms an
    empty interval and conflicts with nothing; a nested txn's deletes are
    compared with this level's puts and later siblings' puts, not with
    earlier siblings' puts.
    """
    dels: list[Interval] = []
    for op in ops:
        if isinstance(op, DeleteRangeRequest):
            dels.append((op.key, op.range_end) if op.range_end else (op.key, op.key + b"\0"))
    puts: set[bytes] = set()
    for op in ops:
        if not isinstance(op, TxnRequest):
            continue
        puts_then, dels_then = check_intervals(op.success)
        puts_else, dels_else = check_intervals(op.failure)
        for k in puts_then:
            if k in puts or _covers(dels, k):
                raise DuplicateKeyError()
            puts.add(k)
        for k in puts_else:
            if k in puts and k not in puts_then:
                raise DuplicateKeyError()
            if _covers(dels, k):
                raise DuplicateKeyError()
            puts.add(k)
        dels.extend(dels_then)
        dels.extend(dels_else)
    for op in ops:
        if not isinstance(op, PutRequest):
            continue
        if op.key in puts or _covers(dels, op.key):
            raise DuplicateKeyError()
        puts.add(op.key)
    return puts, dels


# -- compares -------------------------------------------------------------------------------


def is_read_only(r: TxnRequest) -> bool:
    """No put or delete in any branch, at any depth (etcd's
    ``isTxnReadonly``)."""
    for op in (*r.success, *r.failure):
        if isinstance(op, (PutRequest, DeleteRangeRequest)):
            return False
        if isinstance(op, TxnRequest) and not is_read_only(op):
            return False
    return True


def compare_to_path(view: RangeView, r: TxnRequest) -> list[bool]:
    """The branch taken by ``r`` and by each nested txn on the way, in
    pre-order, all evaluated against ``view``."""
    taken = all(apply_compare(view, c) for c in r.compare)
    path = [taken]
    for op in r.success if taken else r.failure:
        if isinstance(op, TxnRequest):
            path.extend(compare_to_path(view, op))
    return path


def apply_compare(view: RangeView, c: Compare) -> bool:
    """Every key in the compare's range must satisfy it. With no key in the
    range, a VALUE compare fails (a missing value cannot be told from an
    empty one); any other target compares the zero KeyValue (version,
    create and mod revision, lease all 0)."""
    kvs = view(c.key, range_end_of(c.range_end))
    if not kvs:
        if c.target == CompareTarget.VALUE:
            return False
        return compare_kv(c, KeyValue(b""))
    return all(compare_kv(c, kv) for kv in kvs)


def compare_kv(c: Compare, kv: KeyValue) -> bool:
    """One key against one compare. An operand of the wrong kind for the
    target counts as the zero value (etcd reads the operand through a oneof
    that is simply unset then)."""
    if c.target == CompareTarget.VALUE:
        operand = c.operand if isinstance(c.operand, bytes) else b""
        ours: bytes | int = kv.value
    else:
        operand = c.operand if isinstance(c.operand, int) else 0
        if c.target == CompareTarget.VERSION:
            ours = kv.version
        elif c.target == CompareTarget.CREATE:
            ours = kv.create_revision
        elif c.target == CompareTarget.MOD:
            ours = kv.mod_revision
        else:
            ours = kv.lease
    result = (ours > operand) - (ours < operand)  # type: ignore[operator]
    if c.result == CompareResult.EQUAL:
        return result == 0
    if c.result == CompareResult.NOT_EQUAL:
        return result != 0
    if c.result == CompareResult.GREATER:
        return result > 0
    if c.result == CompareResult.LESS:
        return result < 0
    return True


def ops_on_path(r: TxnRequest, path: list[bool]) -> list[object]:
    """The non-txn requests the txn will execute, in order, following
    ``path`` (as ``compare_to_path`` built it) into nested txns."""
    out: list[object] = []

    def walk(txn: TxnRequest, pos: int) -> int:
        ops = txn.success if path[pos] else txn.failure
        pos += 1
        for op in ops:
            if isinstance(op, TxnRequest):
                pos = walk(op, pos)
            else:
                out.append(op)
        return pos

    walk(r, 0)
    return out
