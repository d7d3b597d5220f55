"""Linearizability checking for the key-value histories the fault tests record.

A fault test drives a cluster with concurrent clients doing ``put``, ``get``,
``delete`` and compare-and-set (``cas``) on a few keys while nodes are killed,
paused and partitioned, and records every operation as an ``Operation``: who
called it, when it was invoked, when (and whether) it completed, and what it
returned. ``check_history`` then decides whether some total order of the
operations exists that (1) respects real time -- an operation that completed
before another was invoked comes first -- and (2) is a legal sequential run of
a map of registers. If one exists the history is *linearizable*.

The model, per key
------------------
Each key is a register that is absent (``None``) at first. ``put(v)`` sets it,
``delete`` makes it absent, ``get`` returns what it holds, and
``cas(expected, v)`` sets it to ``v`` and returns True if it holds ``expected``
(``None`` meaning absent), else returns False and changes nothing.

How outcomes are read
---------------------
- ``Status.OK``: the operation completed inside ``[call, ret]`` and its output
  is exact (a ``get`` must have read precisely ``output``).
- ``Status.FAIL``: the operation definitely did not take effect; it is dropped.
  A FAIL put whose value is later read makes the history non-linearizable.
- ``Status.UNKNOWN`` (a timeout, a lost connection): it may have taken effect at
  any moment after ``call``, even long after the client gave up, or never. Its
  completion time is taken as +infinity whatever ``ret`` says, its output is
  ignored, and an UNKNOWN ``get`` constrains nothing, so it is dropped.

The algorithm
-------------
Linearizability is *compositional* (Herlihy & Wing 1990): a history is
linearizable iff each key's sub-history is. So each key is checked alone,
which keeps every search small.

Per key this is Wing & Gong's search (1993) with Lowe's memoisation (2017), as
porcupine implements it: the call and return events sit in a doubly linked list
in time order. The operations that may come next are those whose call precedes
the first return still in the list (the operation returning first must be
placed before anything invoked after that return). The search places one of
them if the register allows it, unlinks its two events and starts again from
the head; at a return event with nothing placeable it backtracks, relinking the
last placed operation (dancing links: relinking in reverse unlinking order is
exact). A set of (operations placed, register value) already seen is never
explored twice: from equal configurations the futures are equal. The search is
an explicit stack, so thousands of operations per key cost no recursion depth.

Operations with an unknown outcome are what make such searches explode: each
one may be placed at any point after its call, or never. Six refinements keep
that in hand without losing any linearization:

1. They are not in the linked list (their return never comes); at each step
   they are tried only after every operation with a known outcome, so the
   search places them where an observation needs them, not greedily.
2. Placing one that leaves the register unchanged is skipped: that branch can
   do nothing the branch without it cannot.
3. Placing an unknown put or delete straight after another unknown operation is
   skipped: it overwrites whatever that one did, so placing only the second is
   the same branch with one more optional operation left over.
4. A configuration is pruned if one with the same known operations placed, the
   same register value, and a *subset* of the unknown operations placed has
   already been explored to exhaustion: having more optional operations left
   can only help, so the new one fails too.
5. One is placed only where an operation that may come next needs the value
   it writes: a candidate get that read it, a candidate cas that swapped
   expecting it (directly, or through a chain of unknown cas operations), or
   a candidate cas that *failed* its compare while the register holds exactly
   what that cas expected. Any other placement can be moved later, past
   operations that neither change the register nor care about the new value,
   until it is overwritten (then it was pointless) or reaches an operation
   that needs it. So an unknown write that never took effect costs almost
   nothing however long the history goes on.
6. Of several unknown operations that would do the same thing -- deletes;
   writes of the same value; puts of values nothing reads, expects or writes
   again (all they can do is unblock a failed cas); likewise for cas -- only
   one is tried at a time: all are available from then on, so the futures
   after each are the same up to renaming.

The search stops with success once every operation with a known outcome is
placed: unknown ones left over simply never took effect.

The refinements are checked against a brute-force search over every order on
random small histories (``test_linearizability_checker.py``).

Two things sit around the search. A get (or swapping cas) observing a value
that no operation invoked before it returned could have written is reported
at once, without a search. And the keys' searches take turns, so one key too
hard to decide in time does not stop a violation on another from being found.

Worst cases are still exponential (the problem is NP-complete); ``timeout``
bounds the time, and a timed-out check is "unknown", never a pass. Proving a
violation is the expensive direction: the search must exhaust every
alternative before the bad operation, which on one busy key with many unknown
outcomes can take far longer than accepting a correct history.

Equal timestamps: when a call and a return carry the same time, the call is
ordered first, so the two operations count as concurrent. That can only make
the checker more lenient, never report a false violation.
"""
from __future__ import annotations

import enum
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "CheckResult",
    "Operation",
    "Recorder",
    "Status",
    "check_history",
    "check_key",
    "describe_operation",
]

KINDS = frozenset({"put", "get", "delete", "cas"})


class Status(enum.Enum):
    """How an operation ended, as far as its client could tell."""

    OK = "ok"  # completed and acknowledged; its output is exact
    FAIL = "fail"  # definitely did not take effect
    UNKNOWN = "unknown"  # may or may not have taken effect (timeout, connection lost)


@dataclass(frozen=True)
class Operation:
    """One client operation on one key, as recorded by a fault test.

    ``value`` is the value written by ``put`` and the new value of ``cas``
    (``None`` for ``get``/``delete``); ``expected`` is what ``cas`` compares
    against (``None`` = the key must be absent). ``call`` and ``ret`` are
    ``time.monotonic()`` readings taken just before the request was sent and
    just after the reply arrived; ``ret`` is ``None`` when the outcome is
    unknown. ``output`` is what ``get`` read (``None`` = absent) or whether
    ``cas`` swapped; ``None`` for put and delete.

    Construction raises ``ValueError`` for a record that cannot describe a real
    operation (unknown kind, an OK operation without ``ret``, ``ret < call``, a
    put without a value, a cas output that is not a bool...), so a recording
    bug shows up where it happens rather than as a bogus verdict.
    """

    client: int
    key: str
    kind: str
    value: str | None
    expected: str | None
    call: float
    ret: float | None
    status: Status
    output: object = None

    def __post_init__(self) -> None:
        problem = _record_problem(self)
        if problem is not None:
            raise ValueError(f"invalid operation record ({problem}): {self!r}")


def _record_problem(op: Operation) -> str | None:
    """Why ``op`` cannot be a real operation, or None if it can."""
    if op.kind not in KINDS:
        return f"kind must be one of {sorted(KINDS)}"
    if not isinstance(op.status, Status):
        return "status must be a Status"
    if not (isinstance(op.call, (int, float)) and math.isfinite(op.call)):
        return "call must be a finite time"
    if op.ret is not None and not (isinstance(op.ret, (int, float)) and op.ret >= op.call):
        return "ret must be a time no earlier than call"
    if op.kind in ("put", "cas") and op.value is None:
        return f"a {op.kind} must write a value (use delete to make a key absent)"
    if op.kind in ("get", "delete") and op.value is not None:
        return f"a {op.kind} writes no value"
    if op.kind != "cas" and op.expected is not None:
        return "only cas has an expected value"
    if op.status is Status.OK:
        if op.ret is None:
            return "an OK operation must have a completion time"
        if op.kind == "cas" and not isinstance(op.output, bool):
            return "an OK cas must output True (swapped) or False (compare failed)"
        if op.kind in ("put", "delete") and op.output is not None:
            return f"a {op.kind} has no output"
    return None


@dataclass(frozen=True)
class CheckResult:
    """The verdict on a history.

    ``ok`` is True only when every key's sub-history was proven linearizable.
    ``timed_out`` means the search gave up on some key before deciding; then
    ``ok`` is False and the caller must treat the verdict as unknown, not as a
    pass (nor as a proven violation). ``failing_key`` names the key that was
    proven non-linearizable, or the first one that timed out. ``explanation``
    is a human-readable account: for a violation, the key, the longest
    linearizable prefix the search found, the register value after it, and the
    operations that could not be placed next, each with its client, kind,
    times and values.
    """

    ok: bool
    timed_out: bool
    failing_key: str | None
    explanation: str


def describe_operation(op: Operation) -> str:
    """One line naming an operation's client, call, outcome and times."""
    if op.kind == "put":
        call = f"put({op.value!r})"
    elif op.kind == "cas":
        call = f"cas(expected={op.expected!r}, value={op.value!r})"
    else:
        call = f"{op.kind}()"
    if op.status is Status.OK:
        outcome = f" -> {op.output!r}" if op.kind in ("get", "cas") else " -> ok"
    else:
        outcome = f" -> {op.status.name}"
    ret = "never (outcome unknown)" if op.status is Status.UNKNOWN or op.ret is None else f"{op.ret:.6f}"
    return f"client {op.client}: {call}{outcome}  [call {op.call:.6f}, ret {ret}]"


def check_history(operations: Iterable[Operation], *, timeout: float | None = 60.0) -> CheckResult:
    """Decide whether a recorded multi-key history is linearizable.

    The history is split by key and each key is checked alone, all sharing one
    deadline ``timeout`` seconds from now (``None``: no limit). The keys' searches
    take turns, a few thousand steps each, so one hard key cannot use up the
    time another needs to show a violation. The first key proven
    non-linearizable decides the result. If no key is proven bad but some search
    ran out of time, the result has ``timed_out=True`` and ``ok=False``.
    Raises ``ValueError`` if an element is not an ``Operation``.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    by_key: dict[str, list[Operation]] = {}
    for op in operations:
        if not isinstance(op, Operation):
            raise ValueError(f"check_history takes Operation records, got {op!r}")
        by_key.setdefault(op.key, []).append(op)

    searches = [_KeySearch(key, by_key[key]) for key in sorted(by_key)]
    for search in searches:
        # A read of a value nothing could have written needs no search, which
        # on a busy key could run out of time before proving the same thing.
        impossible = search.impossible_observation()
        if impossible is not None:
            return CheckResult(ok=False, timed_out=False, failing_key=search.key, explanation=impossible)

    running = [(search, search.search()) for search in searches]
    while running:
        still_running = []
        for search, steps in running:
            try:
                next(steps)
            except StopIteration as finished:
                if finished.value is not None:  # a violation; None means linearizable
                    return CheckResult(
                        ok=False, timed_out=False, failing_key=search.key, explanation=finished.value
                    )
            else:
                still_running.append((search, steps))
        running = still_running
        if running and deadline is not None and time.monotonic() > deadline:
            first, *others = (search for search, _ in running)
            explanation = first.explain_abandoned()
            if others:
                explanation += "\nAlso undecided: " + ", ".join(repr(search.key) for search in others) + "."
            return CheckResult(ok=False, timed_out=True, failing_key=first.key, explanation=explanation)

    total = sum(len(ops) for ops in by_key.values())
    return CheckResult(
        ok=True,
        timed_out=False,
        failing_key=None,
        explanation=f"linearizable: {total} operations on {len(by_key)} keys",
    )


def check_key(operations: Sequence[Operation], *, timeout: float | None = 60.0) -> CheckResult:
    """``check_history`` for the operations of one key.

    Raises ``ValueError`` if they touch more than one key; an empty sequence is
    trivially linearizable.
    """
    keys = {op.key for op in operations}
    if len(keys) > 1:
        raise ValueError(f"check_key takes operations on one key, got keys {sorted(keys)}")
    return check_history(operations, timeout=timeout)


# --------------------------------------------------------------------------
# The per-key search.

# Step codes: what placing an operation does to the register.
_PUT, _DELETE, _GET, _CAS_SWAPPED, _CAS_FAILED, _CAS_UNKNOWN = range(6)
_ILLEGAL = object()  # the register forbids the operation here
_HEAD = 0  # sentinel node at the head of the known list
# How many search steps a key's search takes before letting others run.
_STEPS_PER_TURN = 2048
# How many pending operations an explanation lists before summarising.
_LISTED_AT_MOST = 30


def _next_value(step: int, a: object, b: object, value: object) -> object:
    """The register's value after an operation, or ``_ILLEGAL``.

    ``a``/``b`` per step code: put/cas-unknown: (written value, cas expected);
    get: (value read, -); cas: (expected, new value).
    """
    if step == _GET:
        return value if value == a else _ILLEGAL
    if step == _PUT:
        return a
    if step == _DELETE:
        return None
    if step == _CAS_SWAPPED:
        return b if value == a else _ILLEGAL
    if step == _CAS_FAILED:
        return value if value != a else _ILLEGAL
    # _CAS_UNKNOWN: if it took effect it swapped exactly when the compare held.
    return a if value == b else value


class _KeySearch:
    """Wing & Gong / Lowe search over one key's operations (see module docstring).

    Operations with a known outcome get indices ``0..m-1`` in call order;
    those with an unknown outcome ``m..m+u-1``. A configuration is the set of
    known operations placed, the set of unknown ones placed (bit j = operation
    m+j), the register value, and whether the last operation placed had an
    unknown outcome (refinement 3 depends on it). Every pruning decision
    depends on the configuration alone, never on the path that reached it,
    which is what makes Lowe's cache exact.

    The known set is kept compact as ``(low, rest)``: every operation below
    ``low`` is placed, ``low`` is not, and bit k of ``rest`` says whether
    ``low + k`` is. Operations are placed roughly in call order, so ``rest``
    stays a few machine words however long the history: the cache holds
    hundreds of thousands of configurations without a bitset of the whole
    history in each.
    """

    def __init__(self, key: str, operations: list[Operation]) -> None:
        self.key = key
        self.recorded = operations
        known = sorted((op for op in operations if op.status is Status.OK), key=lambda op: (op.call, op.ret))
        unknown = [op for op in operations if op.status is Status.UNKNOWN and op.kind != "get"]
        self.dropped_fail = sum(op.status is Status.FAIL for op in operations)
        self.dropped_unknown_gets = sum(op.status is Status.UNKNOWN and op.kind == "get" for op in operations)
        self.ops: list[Operation] = known + unknown
        self.m = m = len(known)
        self.u = len(unknown)
        self.steps = [_step_of(op) for op in self.ops]
        self.call_time = [op.call for op in self.ops]
        self.unconditional = [op.kind in ("put", "delete") for op in self.ops]

        # Known list: op i has call node 2i+1 and return node 2i+2, so a node's
        # parity says which it is. The tail sentinel 2m+1 is never reached: an
        # unplaced operation's return node always comes first. Ties: calls
        # before returns (see module docstring).
        events = [(op.call, 0, 2 * i + 1) for i, op in enumerate(known)]
        events += [(op.ret, 1, 2 * i + 2) for i, op in enumerate(known)]
        events.sort()
        self.next, self.prev = _linked([_HEAD] + [node for _, _, node in events] + [2 * m + 1])
        self.ret_time = [op.ret for op in known]

        # Unknown operations, in call order and by the value they write
        # (refinement 5 looks them up by value).
        self.unknown_by_call = sorted(range(m, m + self.u), key=lambda i: (self.call_time[i], i))
        self.writers_of: dict[object, list[int]] = {}
        for i in self.unknown_by_call:
            self.writers_of.setdefault(self.ops[i].value, []).append(i)
        self.unknown_class = _equivalence_classes(self.ops, m)

    def search(self) -> Iterator[None]:
        """Search for a linearization, yielding every ``_STEPS_PER_TURN`` steps.

        The generator returns None if the key's history is linearizable, or the
        explanation of the violation. Between steps ``explain_abandoned`` tells
        how far it got.
        """
        m, u = self.m, self.u
        self.best_path, self.best_value = None, None
        if m == 0:
            return None
        nxt, prv = self.next, self.prev
        steps, unconditional, ret_time = self.steps, self.unconditional, self.ret_time

        value: object = None  # the register, absent at first
        after_unknown = False  # the last placed operation had an unknown outcome
        known_low, known_rest = 0, 0  # the known operations placed (compact, see class doc)
        unknown_placed = 0  # bitset: unknown operation m+j placed
        remaining = m  # known operations not yet placed
        # A frame: the operation placed, then the configuration and cursor before it.
        stack: list[tuple[int, int, int, int, object, bool, Sequence[int], int, tuple | None]] = []
        seen: set[tuple[int, int, int, object, bool]] = set()  # Lowe's cache
        exhausted: dict[tuple[int, int, object], list[tuple[int, bool]]] = {}  # refinement 4
        path: tuple | None = None  # placed ops as a cons list (op, rest), newest first
        best_path, best_count, best_value = None, 0, None

        # The cursor: a node of the known list, or (once the scan reached the
        # first return event) an index into the unknown candidates.
        in_known_phase = True
        node = nxt[_HEAD]
        candidates: Sequence[int] = ()
        ci = 0
        countdown = _STEPS_PER_TURN
        while True:
            countdown -= 1
            if countdown == 0:
                countdown = _STEPS_PER_TURN
                self.best_path, self.best_value = best_path, best_value
                yield

            if in_known_phase:
                if not node & 1:
                    # The first return event: nothing invoked after it may come
                    # next. Try the unknown operations (refinement 1).
                    if u:
                        limit = ret_time[(node - 2) >> 1]
                        candidates = self._unknown_candidates(value, limit, unknown_placed)
                    ci = 0
                    in_known_phase = False
                    continue
                op = (node - 1) >> 1
            elif ci < len(candidates):
                op = candidates[ci]
            else:
                # Nothing can come next here: backtrack.
                if not stack:
                    return self._explain(best_path, best_value, timed_out=False)
                if u:
                    exhausted.setdefault((known_low, known_rest, value), []).append(
                        (unknown_placed, after_unknown)
                    )
                (op, known_low, known_rest, unknown_placed, value, after_unknown,
                 candidates, ci, path) = stack.pop()
                if op < m:
                    _relink(nxt, prv, 2 * op + 2)
                    _relink(nxt, prv, 2 * op + 1)
                    remaining += 1
                    in_known_phase = True
                    node = nxt[2 * op + 1]
                else:
                    ci += 1
                continue

            step, a, b = steps[op]
            new_value = _next_value(step, a, b, value)
            if op < m:
                placeable = new_value is not _ILLEGAL
                if placeable:
                    config = (*_with_known(known_low, known_rest, op), unknown_placed, new_value, False)
            else:
                # Refinements 2 and 3.
                placeable = new_value != value and not (after_unknown and unconditional[op])
                config = (known_low, known_rest, unknown_placed | (1 << (op - m)), new_value, True)
            if placeable and config not in seen and not (u and _dominated(exhausted, *config)):
                seen.add(config)
                stack.append(
                    (op, known_low, known_rest, unknown_placed, value, after_unknown, candidates, ci, path)
                )
                known_low, known_rest, unknown_placed, value, after_unknown = config
                path = (op, path)
                if op < m:
                    _unlink(nxt, prv, 2 * op + 1)
                    _unlink(nxt, prv, 2 * op + 2)
                    remaining -= 1
                    if remaining == 0:
                        return None
                    if m - remaining > best_count:
                        best_path, best_count, best_value = path, m - remaining, value
                in_known_phase = True
                node = nxt[_HEAD]
                continue
            if in_known_phase:
                node = nxt[node]
            else:
                ci += 1

    def _unknown_candidates(self, value: object, limit: float, unknown_placed: int) -> list[int]:
        """The unknown operations worth trying next (refinement 5), in order.

        Only those not yet placed and invoked by ``limit`` (the first return
        still pending). Of those: all, if a candidate cas that failed expects
        ``value``; otherwise the writers of a value a candidate get or swapping
        cas needs, and, transitively, the writers of a value an unknown cas
        among them expects (a chain: write x, then that cas swaps x for a
        needed value).
        """
        m, steps, nxt, call_time = self.m, self.steps, self.next, self.call_time
        wanted: dict[object, None] = {}  # an ordered set: the search order stays deterministic
        node = nxt[_HEAD]
        while node & 1:
            step, a, _ = steps[(node - 1) >> 1]
            if step == _GET or step == _CAS_SWAPPED:
                wanted[a] = None
            elif step == _CAS_FAILED and a == value:
                return self._one_per_class(
                    i for i in self.unknown_by_call
                    if call_time[i] <= limit and not (unknown_placed >> (i - m)) & 1
                )
            node = nxt[node]
        writers_of = self.writers_of
        candidates = []
        pending = list(wanted)
        while pending:
            for i in writers_of.get(pending.pop(), ()):
                if call_time[i] <= limit and not (unknown_placed >> (i - m)) & 1:
                    candidates.append(i)
                    step, _, expected = steps[i]
                    if step == _CAS_UNKNOWN and expected not in wanted:
                        wanted[expected] = None
                        pending.append(expected)
        return self._one_per_class(candidates)

    def _one_per_class(self, candidates: Iterable[int]) -> list[int]:
        """Refinement 6: the first candidate of each equivalence class."""
        unknown_class = self.unknown_class
        classes: set[tuple] = set()
        kept = []
        for i in candidates:
            cls = unknown_class[i]
            if cls not in classes:
                classes.add(cls)
                kept.append(i)
        return kept

    def impossible_observation(self) -> str | None:
        """The explanation of a violation found without searching, or None.

        A get that read value x (not absent), or a cas that swapped expecting
        x, is impossible if no operation that may have taken effect writes x
        and was invoked by the time it returned: any such write must come after
        it in real time.
        """
        first_write: dict[object, float] = {}
        for op in self.ops:
            if op.kind == "put" or (op.kind == "cas" and op.output is not False):
                first_write[op.value] = min(first_write.get(op.value, math.inf), op.call)
        for op in self.ops[: self.m]:  # in call order
            if op.kind == "get":
                observed = op.output
            elif op.kind == "cas" and op.output is True:
                observed = op.expected
            else:
                continue
            if observed is None or first_write.get(observed, math.inf) <= op.ret:
                continue
            lines = [
                f"key {self.key!r} is not linearizable: this operation observes {observed!r}, which no "
                f"operation that may have taken effect by the time it returned writes:",
                f"  {describe_operation(op)}",
                "(Found without a search: no linearization can place it, whatever the other operations did.)",
            ]
            writers = [w for w in self.recorded if w.kind in ("put", "cas") and w.value == observed]
            if not writers:
                lines.append(f"No operation in the history writes {observed!r}.")
            else:
                lines.append(f"Operations that write {observed!r}:")
                for w in writers:
                    if w.status is Status.FAIL:
                        why = "reported FAIL, so it must not take effect"
                    elif w.kind == "cas" and w.output is False:
                        why = "its compare failed, so it wrote nothing"
                    else:
                        why = "invoked only after the read returned"
                    lines.append(f"  {describe_operation(w)}  <- {why}")
            return "\n".join(lines)
        return None

    def explain_abandoned(self) -> str:
        """The account of a search given up for lack of time (see ``CheckResult``)."""
        return self._explain(self.best_path, self.best_value, timed_out=True)

    def _explain(self, best_path: tuple | None, best_value: object, *, timed_out: bool) -> str:
        """The account of a failed (or abandoned) search; see ``CheckResult``."""
        order: list[int] = []
        while best_path is not None:
            op, best_path = best_path
            order.append(op)
        order.reverse()
        placed = set(order)
        ops = self.ops
        pending_known = [i for i in range(self.m) if i not in placed]
        first_ret = min(ops[i].ret for i in pending_known)
        blocking = min(pending_known, key=lambda i: (ops[i].ret, ops[i].call))
        candidates = sorted(
            (i for i in range(len(ops)) if i not in placed and ops[i].call <= first_ret),
            key=lambda i: (ops[i].call, i),
        )

        lines = []
        if timed_out:
            lines.append(f"key {self.key!r}: gave up (timeout) before deciding whether it is linearizable.")
        else:
            lines.append(f"key {self.key!r} is not linearizable.")
        lines.append(
            f"{len(self.recorded)} operations recorded on it: {self.m} completed, {self.u} with unknown "
            f"outcome kept, {self.dropped_fail} failed and {self.dropped_unknown_gets} unknown gets dropped."
        )
        shown = order[-20:]
        lines.append(
            f"Longest linearizable prefix found: {len(order)} operations "
            f"({sum(i < self.m for i in order)} of {self.m} completed ones), after which the key holds "
            f"{best_value!r}."
        )
        if order:
            skipped = len(order) - len(shown)
            lines.append(
                f"Its last {len(shown)} operations in linearization order"
                + (f" ({skipped} earlier ones not shown):" if skipped else ":")
            )
            lines.extend(f"  {describe_operation(ops[i])}" for i in shown)
        if timed_out:
            lines.append("Pending at that point (could come next):")
        else:
            lines.append(
                "None of these could be placed next (each was tried, or every continuation after it failed):"
            )
        lines.extend(
            f"  {describe_operation(ops[i])}  <- {self._why_not(i, best_value)}"
            for i in candidates[:_LISTED_AT_MOST]
        )
        if len(candidates) > _LISTED_AT_MOST:
            lines.append(f"  ... and {len(candidates) - _LISTED_AT_MOST} more")
        lines.append(
            f"The earliest-returning pending operation, which must be placed before anything "
            f"invoked after {first_ret:.6f}:"
        )
        lines.append(f"  {describe_operation(ops[blocking])}")
        return "\n".join(lines)

    def _why_not(self, op: int, value: object) -> str:
        """Why operation ``op`` cannot follow the best prefix (register holds ``value``)."""
        step, a, b = self.steps[op]
        if op >= self.m:
            return "outcome unknown; taking effect here leads to no linearization"
        if _next_value(step, a, b, value) is _ILLEGAL:
            if step == _GET:
                return f"reads {a!r} but the key holds {value!r}"
            if step == _CAS_SWAPPED:
                return f"swapped although the key holds {value!r}, not the expected {a!r}"
            return f"compare failed although the key holds the expected {a!r}"
        return "allowed here, but no linearization continues after it"


_FRESH = object()  # stands for any value that only one operation mentions


def _equivalence_classes(ops: list[Operation], m: int) -> dict[int, tuple]:
    """Refinement 6: for each unknown operation (index ``m`` on), a key equal
    for operations that can stand in for one another.

    A value is *fresh* when one operation writes it and none reads or expects
    it: no operation can tell two fresh values apart.
    """
    mentions: dict[object, int] = {}
    for op in ops:
        for v in (op.value, op.output if op.kind == "get" else None, op.expected):
            if v is not None:
                mentions[v] = mentions.get(v, 0) + 1
    classes = {}
    for i in range(m, len(ops)):
        op = ops[i]
        written = _FRESH if op.value is not None and mentions[op.value] == 1 else op.value
        if op.kind == "cas":
            expected = _FRESH if op.expected is not None and mentions[op.expected] == 1 else op.expected
            classes[i] = ("cas", expected, written)
        else:
            classes[i] = ("write", written)  # a delete writes None
    return classes


def _step_of(op: Operation) -> tuple[int, object, object]:
    """The step code and arguments ``_next_value`` needs for ``op``."""
    if op.kind == "put":
        return (_PUT, op.value, None)
    if op.kind == "delete":
        return (_DELETE, None, None)
    if op.kind == "get":
        return (_GET, op.output, None)
    if op.status is Status.UNKNOWN:
        return (_CAS_UNKNOWN, op.value, op.expected)
    return (_CAS_SWAPPED if op.output else _CAS_FAILED, op.expected, op.value)


def _linked(order: list[int]) -> tuple[list[int], list[int]]:
    """``next``/``prev`` arrays of a doubly linked list visiting ``order``."""
    size = max(order) + 1
    nxt, prv = [0] * size, [0] * size
    for before, after in zip(order, order[1:]):
        nxt[before] = after
        prv[after] = before
    return nxt, prv


def _unlink(nxt: list[int], prv: list[int], node: int) -> None:
    nxt[prv[node]] = nxt[node]
    prv[nxt[node]] = prv[node]


def _relink(nxt: list[int], prv: list[int], node: int) -> None:
    # Valid only in exact reverse order of unlinking (dancing links): the
    # node's own pointers still name its old neighbours.
    nxt[prv[node]] = node
    prv[nxt[node]] = node


def _with_known(low: int, rest: int, op: int) -> tuple[int, int]:
    """The compact known set ``(low, rest)`` (see ``_KeySearch``) plus ``op``."""
    rest |= 1 << (op - low)
    if op != low:
        return low, rest
    # Shift out the run of placed operations now at the bottom.
    run = (~rest & (rest + 1)).bit_length() - 1
    return low + run, rest >> run


def _dominated(
    exhausted: dict[tuple[int, int, object], list[tuple[int, bool]]],
    known_low: int,
    known_rest: int,
    unknown_placed: int,
    value: object,
    after_unknown: bool,
) -> bool:
    """Refinement 4: an exhausted configuration with the same known operations
    and value, a subset of these unknown ones placed and no more restrictions
    (``after_unknown`` forbids some moves) proves this one fails too."""
    for subset, restricted in exhausted.get((known_low, known_rest, value), ()):
        if subset & ~unknown_placed == 0 and (after_unknown or not restricted):
            return True
    return False


# --------------------------------------------------------------------------
# Recording.


class Recorder:
    """A thread-safe log of operations for ``check_history``.

    Call ``invoke`` just before sending a request and ``complete`` just after
    its outcome is known; both read ``clock`` (``time.monotonic`` by default,
    the clock asyncio's loop uses too), so the recorded interval contains the
    moment the cluster acted. Safe to use from threads and from asyncio tasks
    alike (the lock is held only to append or update a record).

    Outcome rules the caller must follow: ``Status.OK`` only for an
    acknowledged reply; ``Status.FAIL`` only when the operation *definitely*
    did not happen (e.g. refused before being proposed); anything doubtful --
    timeouts, connection errors, a leader change mid-request -- is
    ``Status.UNKNOWN``. Marking a doubtful operation FAIL can produce false
    violations. An operation never completed is reported as UNKNOWN by
    ``operations()``.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._pending: dict[int, tuple[int, str, str, str | None, str | None, float]] = {}
        self._done: list[tuple[int, Operation]] = []
        self._next_handle = 0

    def invoke(
        self, client: int, key: str, kind: str, *, value: str | None = None, expected: str | None = None
    ) -> int:
        """Record the invocation now and return the handle for ``complete``.

        Raises ``ValueError`` for a kind other than put/get/delete/cas.
        """
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {sorted(KINDS)}, got {kind!r}")
        with self._lock:
            handle = self._next_handle
            self._next_handle += 1
            self._pending[handle] = (client, key, kind, value, expected, self._clock())
        return handle

    def complete(self, handle: int, status: Status, output: object = None) -> Operation:
        """Record the outcome of an invoked operation now and return the record.

        ``output``: what a get read (``None`` = absent) or whether a cas
        swapped; ignored unless ``status`` is OK. Raises ``KeyError`` for a
        handle that is unknown or already completed, ``ValueError`` for an
        impossible record (see ``Operation``).
        """
        with self._lock:
            ret = self._clock()
            client, key, kind, value, expected, call = self._pending[handle]
            op = Operation(
                client=client,
                key=key,
                kind=kind,
                value=value,
                expected=expected,
                call=call,
                ret=None if status is Status.UNKNOWN else ret,
                status=status,
                output=output if status is Status.OK else None,
            )
            # Only a valid record ends the pending one: after a ValueError the
            # caller can still complete the handle correctly.
            del self._pending[handle]
            self._done.append((handle, op))
        return op

    def operations(self) -> list[Operation]:
        """A snapshot of every operation in invocation order; those not yet
        completed appear with ``Status.UNKNOWN``."""
        with self._lock:
            records = list(self._done)
            records += [
                (
                    handle,
                    Operation(client, key, kind, value, expected, call, None, Status.UNKNOWN),
                )
                for handle, (client, key, kind, value, expected, call) in self._pending.items()
            ]
        records.sort(key=lambda record: record[0])
        return [op for _, op in records]
