"""Tests of the linearizability checker the fault tests rely on.

Hand-written histories with a known verdict, a brute-force reference checker
compared with the real one on small random histories (unknown outcomes and
repeated values included), a Hypothesis property over simulated linearizable
systems (always accepted; one read corrupted to an impossible value, always
rejected), and a 5,000-operation history of the shape the fault tests produce.
"""
from __future__ import annotations

import functools
import random
import threading
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from .linearizability import (
    CheckResult,
    Operation,
    Recorder,
    Status,
    _KeySearch,
    check_history,
    check_key,
)

OK, FAIL, UNKNOWN = Status.OK, Status.FAIL, Status.UNKNOWN


# Constructors that read like the histories they build. Times are seconds.

def put(client, key, value, call, ret, status=OK):
    return Operation(client, key, "put", value, None, call, None if status is UNKNOWN else ret, status)


def get(client, key, output, call, ret, status=OK):
    return Operation(client, key, "get", None, None, call, None if status is UNKNOWN else ret, status, output)


def delete(client, key, call, ret, status=OK):
    return Operation(client, key, "delete", None, None, call, None if status is UNKNOWN else ret, status)


def cas(client, key, expected, value, output, call, ret, status=OK):
    return Operation(
        client, key, "cas", value, expected, call, None if status is UNKNOWN else ret, status,
        output if status is OK else None,
    )


def assert_linearizable(history):
    result = check_history(history)
    assert result.ok, result.explanation
    assert not result.timed_out


def assert_not_linearizable(history) -> CheckResult:
    result = check_history(history)
    assert not result.ok, "a non-linearizable history was accepted"
    assert not result.timed_out, result.explanation
    return result


# --------------------------------------------------------------------------
# Linearizable histories.


def test_empty_history_is_linearizable():
    assert_linearizable([])


def test_sequential_history():
    assert_linearizable([
        get(1, "k", None, 0, 1),
        put(1, "k", "a", 2, 3),
        get(2, "k", "a", 4, 5),
        put(2, "k", "b", 6, 7),
        get(1, "k", "b", 8, 9),
    ])


@pytest.mark.parametrize("seen", ["a", "b"])
def test_overlapping_puts_read_either_value(seen):
    # Two puts overlap each other and a read: the read may see either, and the
    # later reads then fix the order of the puts consistently.
    other = "b" if seen == "a" else "a"
    assert_linearizable([
        put(1, "k", "a", 0, 10),
        put(2, "k", "b", 1, 9),
        get(3, "k", seen, 2, 8),
        get(3, "k", other, 11, 12),
        get(4, "k", other, 13, 14),
    ])


def test_read_concurrent_with_put_may_see_old_or_new():
    for seen in (None, "a"):
        assert_linearizable([put(1, "k", "a", 0, 10), get(2, "k", seen, 1, 2)])


def test_cas_chain():
    assert_linearizable([
        cas(1, "k", None, "a", True, 0, 1),  # absent -> a
        cas(2, "k", None, "x", False, 2, 3),  # no longer absent
        cas(1, "k", "a", "b", True, 4, 5),
        cas(2, "k", "a", "c", False, 6, 7),  # stale expectation
        cas(2, "k", "b", "c", True, 8, 9),
        get(3, "k", "c", 10, 11),
    ])


def test_concurrent_cas_only_one_wins():
    assert_linearizable([
        put(1, "k", "a", 0, 1),
        cas(2, "k", "a", "b", False, 2, 6),
        cas(3, "k", "a", "c", True, 3, 5),
        get(1, "k", "c", 7, 8),
    ])


def test_delete_then_get_none():
    assert_linearizable([
        put(1, "k", "a", 0, 1),
        delete(2, "k", 2, 3),
        get(1, "k", None, 4, 5),
        cas(3, "k", None, "b", True, 6, 7),
        get(1, "k", "b", 8, 9),
    ])


def test_unknown_put_that_later_shows_up():
    assert_linearizable([
        put(1, "k", "a", 0, 1),
        put(2, "k", "lost?", 2, None, status=UNKNOWN),  # client timed out
        get(3, "k", "a", 3, 4),  # not applied yet
        get(3, "k", "lost?", 30, 31),  # applied long after the client gave up
    ])


def test_unknown_put_may_take_effect_after_later_writes():
    assert_linearizable([
        put(1, "k", "x", 0, None, status=UNKNOWN),
        put(2, "k", "y", 1, 2),
        get(3, "k", "y", 3, 4),
        get(3, "k", "x", 5, 6),
    ])


def test_unknown_put_that_never_shows_up():
    assert_linearizable([
        put(1, "k", "a", 0, 1),
        put(2, "k", "ghost", 2, None, status=UNKNOWN),
        *[get(3, "k", "a", 3 + 2 * i, 4 + 2 * i) for i in range(50)],
    ])


def test_unknown_delete_and_cas_may_or_may_not_happen():
    assert_linearizable([
        put(1, "k", "a", 0, 1),
        delete(2, "k", 2, None, status=UNKNOWN),
        cas(3, "k", "a", "b", None, 2, None, status=UNKNOWN),
        get(1, "k", "a", 3, 4),
        get(1, "k", "b", 5, 6),
        get(1, "k", None, 7, 8),
    ])


def test_failed_and_unknown_reads_are_ignored():
    assert_linearizable([
        put(1, "k", "a", 0, 1),
        put(2, "k", "never", 2, 3, status=FAIL),
        get(3, "k", "garbage", 4, 5, status=FAIL),
        get(3, "k", "garbage", 6, None, status=UNKNOWN),
        get(1, "k", "a", 7, 8),
    ])


def test_keys_are_independent():
    # Real time across keys does not matter: each key is a separate register.
    assert_linearizable([
        put(1, "x", "1", 0, 1),
        put(1, "y", "1", 2, 3),
        get(2, "y", "1", 4, 5),
        get(2, "x", "1", 6, 7),
    ])


def test_operations_may_touch_at_the_same_instant():
    # A return and a call with equal times count as concurrent.
    assert_linearizable([put(1, "k", "a", 0, 5), get(2, "k", None, 5, 6)])


# --------------------------------------------------------------------------
# Non-linearizable histories.


def test_stale_read_after_completed_put():
    assert_not_linearizable([
        put(1, "k", "a", 0, 1),
        put(1, "k", "b", 2, 3),
        get(2, "k", "a", 4, 5),
    ])


def test_read_of_a_value_never_written():
    assert_not_linearizable([put(1, "k", "a", 0, 1), get(2, "k", "zzz", 2, 3)])


def test_reads_that_contradict_real_time():
    # b is read, then (strictly later) the old value a: no write in between.
    assert_not_linearizable([
        put(1, "k", "a", 0, 1),
        put(2, "k", "b", 2, 10),
        get(3, "k", "b", 3, 4),
        get(4, "k", "a", 5, 6),
    ])


def test_cas_swapped_although_expected_did_not_hold():
    assert_not_linearizable([put(1, "k", "a", 0, 1), cas(2, "k", "b", "c", True, 2, 3)])


def test_cas_failed_although_expected_held():
    assert_not_linearizable([put(1, "k", "a", 0, 1), cas(2, "k", "a", "c", False, 2, 3)])


def test_failed_put_that_is_read_is_a_violation():
    assert_not_linearizable([
        put(1, "k", "a", 0, 1),
        put(2, "k", "b", 2, 3, status=FAIL),
        get(3, "k", "b", 4, 5),
    ])


def test_lost_acknowledged_write():
    assert_not_linearizable([
        put(1, "k", "a", 0, 1),
        get(2, "k", None, 2, 3),
    ])


def test_unknown_put_cannot_be_read_before_it_was_invoked():
    assert_not_linearizable([
        get(1, "k", "early", 0, 1),
        put(2, "k", "early", 2, None, status=UNKNOWN),
    ])


def test_unknown_delete_between_two_swaps_from_absent():
    # Both cas(None -> a) swap, so the key is absent before each: the second
    # time only the unknown delete can have made it so. (A search that pruned
    # configurations with fewer unknown operations placed got this wrong.)
    assert_linearizable([
        delete(2, "k", 3, None, status=UNKNOWN),
        delete(1, "k", 4, 6),
        cas(3, "k", None, "b", True, 5, 6),
        cas(1, "k", None, "a", True, 8, 10),
        cas(2, "k", None, "a", True, 8, 8),
        get(1, "k", "a", 8, 11),
        put(0, "k", "a", 8, None, status=UNKNOWN),
    ])


def test_unknown_put_takes_effect_at_most_once():
    # x appears, is overwritten by y, then appears again: one write cannot.
    assert_not_linearizable([
        put(1, "k", "x", 0, None, status=UNKNOWN),
        get(2, "k", "x", 1, 2),
        put(2, "k", "y", 3, 4),
        get(2, "k", "x", 5, 6),
    ])


def test_violation_on_one_key_among_many():
    history = [put(c, f"k{c}", "v", c * 10, c * 10 + 1) for c in range(5)]
    history += [get(9, f"k{c}", "v", 100, 101) for c in range(5) if c != 3]
    history.append(get(9, "k3", "other", 100, 101))
    result = assert_not_linearizable(history)
    assert result.failing_key == "k3"


def test_explanation_names_the_key_and_the_operations():
    result = assert_not_linearizable([
        put(7, "config/db", "v1", 0.5, 1.25),
        put(7, "config/db", "v2", 2.0, 3.0),
        get(8, "config/db", "v1", 4.0, 5.0),
    ])
    assert result.failing_key == "config/db"
    text = result.explanation
    assert "'config/db'" in text
    assert "not linearizable" in text
    # The prefix it could build and the read it could not place, with times.
    assert "client 7: put('v1') -> ok  [call 0.500000, ret 1.250000]" in text
    assert "client 8: get() -> 'v1'  [call 4.000000, ret 5.000000]" in text
    assert "reads 'v1' but the key holds 'v2'" in text


def hard_history(key: str) -> list[Operation]:
    """Twenty overlapping puts, a later put, then a read of a value the later
    put overwrote: to say no, the search must try every set of the twenty puts
    (about a million configurations)."""
    history = [put(c, key, f"v{c}", 0, 100) for c in range(20)]
    history.append(put(98, key, "last", 150, 160))
    history.append(get(99, key, "v0", 200, 201))
    return history


def test_timeout_is_reported_as_undecided_not_as_pass():
    result = check_history(hard_history("k"), timeout=0.2)
    assert not result.ok
    assert result.timed_out
    assert result.failing_key == "k"
    assert "gave up" in result.explanation
    assert "Longest linearizable prefix found" in result.explanation


def test_a_hard_key_does_not_hide_a_violation_on_another():
    # "a" sorts first and cannot be decided in time; "b" has a stale read.
    history = hard_history("a") + [
        put(1, "b", "x", 0, 1),
        put(1, "b", "y", 2, 3),
        get(2, "b", "x", 4, 5),
    ]
    result = check_history(history, timeout=1.0)
    assert not result.timed_out, result.explanation
    assert not result.ok
    assert result.failing_key == "b"


def test_read_of_a_failed_write_is_explained_without_search():
    result = assert_not_linearizable([
        put(1, "k", "a", 0, 1),
        put(2, "k", "b", 2, 3, status=FAIL),
        get(3, "k", "b", 4, 5),
    ])
    assert "client 3: get() -> 'b'" in result.explanation
    assert "client 2: put('b') -> FAIL" in result.explanation
    assert "reported FAIL" in result.explanation


def test_check_key_refuses_several_keys():
    with pytest.raises(ValueError, match="one key"):
        check_key([put(1, "a", "1", 0, 1), put(1, "b", "1", 0, 1)])
    assert check_key([put(1, "a", "1", 0, 1), get(2, "a", "1", 2, 3)]).ok


@pytest.mark.parametrize(
    "fields, problem",
    [
        (dict(kind="incr"), "kind"),
        (dict(status=OK, ret=None), "completion time"),
        (dict(call=5.0, ret=4.0), "no earlier than call"),
        (dict(kind="put", value=None), "must write a value"),
        (dict(kind="cas", value="b", expected="a", output="yes"), "True"),
        (dict(kind="get", expected="a"), "only cas"),
        (dict(kind="delete", output=3), "no output"),
    ],
)
def test_impossible_records_are_refused(fields, problem):
    record = dict(client=1, key="k", kind="get", value=None, expected=None, call=1.0, ret=2.0, status=OK)
    record.update(fields)
    with pytest.raises(ValueError, match=problem):
        Operation(**record)


# --------------------------------------------------------------------------
# The recorder.


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        self.now += 1.0
        return self.now


def test_recorder_records_intervals_and_outcomes():
    recorder = Recorder(clock=FakeClock())
    w = recorder.invoke(1, "k", "put", value="a")
    r = recorder.invoke(2, "k", "get")
    lost = recorder.invoke(3, "k", "cas", expected="a", value="b")
    recorder.complete(w, OK)
    recorder.complete(r, OK, output="a")
    recorder.invoke(4, "k", "delete")  # never completed
    recorder.complete(lost, UNKNOWN, output="ignored")
    assert recorder.operations() == [
        Operation(1, "k", "put", "a", None, 1.0, 4.0, OK),
        Operation(2, "k", "get", None, None, 2.0, 5.0, OK, "a"),
        Operation(3, "k", "cas", "b", "a", 3.0, None, UNKNOWN),
        Operation(4, "k", "delete", None, None, 6.0, None, UNKNOWN),  # never completed
    ]
    assert check_history(recorder.operations()).ok


def test_recorder_refuses_bad_completions_without_losing_the_operation():
    recorder = Recorder()
    handle = recorder.invoke(1, "k", "cas", expected=None, value="a")
    with pytest.raises(ValueError):
        recorder.complete(handle, OK, output="not a bool")
    recorder.complete(handle, OK, output=True)
    with pytest.raises(KeyError):
        recorder.complete(handle, OK, output=True)
    with pytest.raises(ValueError):
        recorder.invoke(1, "k", "incr")


def test_recorder_is_thread_safe():
    recorder = Recorder()
    lock = threading.Lock()  # the "cluster": one register per key, atomically
    store: dict[str, str] = {}

    def client(number: int) -> None:
        for i in range(300):
            key = f"k{i % 3}"
            if i % 2:
                handle = recorder.invoke(number, key, "put", value=f"{number}-{i}")
                with lock:
                    store[key] = f"{number}-{i}"
                recorder.complete(handle, OK)
            else:
                handle = recorder.invoke(number, key, "get")
                with lock:
                    seen = store.get(key)
                recorder.complete(handle, OK, output=seen)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = recorder.operations()
    assert len(history) == 8 * 300
    result = check_history(history)
    assert result.ok, result.explanation


# --------------------------------------------------------------------------
# Agreement with a brute-force reference on small random histories.


def brute_force_linearizable(history: list[Operation]) -> bool:
    """Try every order directly: no linked list, no cache, no pruning.

    An operation may come next if no unplaced completed operation returned
    strictly before it was invoked; unknown operations may also never happen.
    """
    ops = [op for op in history if op.status is OK or (op.status is UNKNOWN and op.kind != "get")]

    def step(op, value):
        if op.kind == "put":
            return True, op.value
        if op.kind == "delete":
            return True, None
        if op.kind == "get":
            return op.output == value, value
        holds = value == op.expected
        if op.status is UNKNOWN:
            return True, op.value if holds else value
        return holds == op.output, op.value if op.output else value

    @functools.cache  # plain memoisation of a pure function: no pruning
    def search(remaining: frozenset, value) -> bool:
        if not any(ops[i].status is OK for i in remaining):
            return True
        for i in remaining:
            if any(ops[j].status is OK and ops[j].ret < ops[i].call for j in remaining):
                continue
            legal, after = step(ops[i], value)
            if legal and search(remaining - {i}, after):
                return True
        return False

    return search(frozenset(range(len(ops))), None)


@st.composite
def small_histories(draw) -> list[Operation]:
    """Arbitrary small one-key histories, many with unknown outcomes: about half
    are linearizable. Reads and compares draw from fewer values than writes, so
    some written values repeat and some are never mentioned again."""
    written = ["a", "b", "c", "d", "e"][: draw(st.integers(2, 5))]
    WRITTEN_VALUES = st.sampled_from(written)
    READ_VALUES = st.sampled_from(written[: draw(st.integers(1, len(written)))])
    history = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["put", "get", "delete", "cas", "cas"]))
        status = draw(st.sampled_from([OK, OK, OK, UNKNOWN, UNKNOWN, FAIL]))
        call = draw(st.integers(0, 8))
        ret = None if status is UNKNOWN else call + draw(st.integers(0, 4))
        value = draw(WRITTEN_VALUES) if kind in ("put", "cas") else None
        expected = draw(st.none() | READ_VALUES) if kind == "cas" else None
        output = None
        if status is OK and kind == "get":
            output = draw(st.none() | READ_VALUES)
        if status is OK and kind == "cas":
            output = draw(st.booleans())
        client = draw(st.integers(0, 3))
        history.append(Operation(client, "k", kind, value, expected, call, ret, status, output))
    return history


def search_alone(history: list[Operation]) -> bool:
    """The per-key search without the no-search shortcut in front of it."""
    steps = _KeySearch("k", history).search()
    while True:
        try:
            next(steps)
        except StopIteration as finished:
            return finished.value is None


@settings(max_examples=1500, deadline=None)
@given(small_histories())
def test_agrees_with_brute_force(history):
    expected = brute_force_linearizable(history)
    result = check_history(history)
    assert not result.timed_out
    assert result.ok == expected, result.explanation
    assert search_alone(history) == expected


# --------------------------------------------------------------------------
# Simulated linearizable systems.


@dataclass
class Planned:
    """An operation before its outcome is known: when it takes effect, if ever."""

    client: int
    key: str
    kind: str
    call: float
    ret: float | None
    status: Status
    effect_at: float | None  # None: never takes effect
    value: str | None = None


def run_register_system(plan: list[Planned], pick) -> list[Operation]:
    """Play planned operations against per-key registers in effect order.

    A cas chooses its expected value when it is invoked, with
    ``pick(known_values)``, among the values its client has read or written on
    that key so far (absent included). Outputs come from the register at each
    operation's effect point, so the history is linearizable by construction.
    """
    registers: dict[str, str | None] = {}
    known: dict[tuple[int, str], list[str | None]] = {}
    expected_of: dict[int, str | None] = {}
    outputs: dict[int, object] = {}
    # Invocations sort before effects at the same instant: nothing acts
    # before it is invoked.
    timeline = [(p.call, 0, i) for i, p in enumerate(plan)]
    timeline += [(p.effect_at, 1, i) for i, p in enumerate(plan) if p.effect_at is not None]
    for _, is_effect, index in sorted(timeline):
        p = plan[index]
        seen = known.setdefault((p.client, p.key), [None])
        if not is_effect:
            if p.kind == "cas":
                expected_of[index] = pick(seen)
            continue
        current = registers.get(p.key)
        if p.kind == "put":
            registers[p.key] = p.value
        elif p.kind == "delete":
            registers[p.key] = None
        elif p.kind == "get":
            outputs[index] = current
        else:
            outputs[index] = current == expected_of[index]
            if outputs[index]:
                registers[p.key] = p.value
        if p.status is OK:  # the client learns what its operation saw or did
            seen.append(registers[p.key] if p.kind != "get" else current)
    history = []
    for index, p in enumerate(plan):
        output = outputs.get(index) if p.status is OK else None
        expected = expected_of.get(index)
        history.append(Operation(p.client, p.key, p.kind, p.value, expected, p.call, p.ret, p.status, output))
    return history


@st.composite
def linearizable_histories(draw) -> list[Operation]:
    """Clients each issue operations one after another on 1-3 keys; each takes
    effect at a random instant strictly inside its interval. Some fail (never
    take effect) and some time out (take effect at any later instant, or never).
    Times are integers; effect points are odd and interval ends even, so the
    real-time order is never ambiguous."""
    clients = draw(st.integers(1, 5))
    keys = [f"k{i}" for i in range(draw(st.integers(1, 3)))]
    free_at = [0] * clients
    plan: list[Planned] = []
    for n in range(draw(st.integers(1, 40))):
        client = draw(st.integers(0, clients - 1))
        kind = draw(st.sampled_from(["put", "get", "get", "delete", "cas", "cas"]))
        fate = draw(st.sampled_from([OK, OK, OK, OK, OK, FAIL, UNKNOWN]))
        call = free_at[client] + 2 * draw(st.integers(0, 3))
        span = draw(st.integers(1, 6))
        ret = call + 2 * span
        free_at[client] = ret
        if fate is OK:
            effect_at = call + 1 + 2 * draw(st.integers(0, span - 1))
        elif fate is UNKNOWN:
            effect_at = draw(st.none() | st.integers(0, 20).map(lambda k, c=call: c + 1 + 2 * k))
            ret = None
        else:
            effect_at = None
        value = f"v{n}" if kind in ("put", "cas") else None
        plan.append(Planned(client, draw(st.sampled_from(keys)), kind, call, ret, fate, effect_at, value))
    choices = draw(st.randoms(use_true_random=False))
    return run_register_system(plan, choices.choice)


def impossible_reads(history: list[Operation], read: Operation) -> tuple[list[str], list[str]]:
    """Values ``read`` (an OK get) cannot return in *any* linearization:
    ``(stale, unwritten)``.

    Values are unique per write here. Stale: the value's only write completed,
    then (strictly later, in real time) a completed unconditional change
    finished before the read began. Unwritten: nobody wrote it, or every write
    of it was invoked after the read returned (the checker needs no search for
    these; stale ones it must search for).
    """
    on_key = [op for op in history if op.key == read.key]
    writers: dict[str, list[Operation]] = {}
    for op in on_key:
        if op.kind in ("put", "cas"):
            writers.setdefault(op.value, []).append(op)
    unwritten = ["never-written"]
    unwritten += [v for v, ops in writers.items() if all(w.call > read.ret for w in ops)]
    stale = []
    changes = [
        op for op in on_key
        if op.status is OK and (op.kind in ("put", "delete") or (op.kind == "cas" and op.output is True))
    ]
    for v, (writer, *others) in writers.items():
        if others or writer not in changes:
            continue
        if any(writer.ret < c.call and c.ret < read.call for c in changes):
            stale.append(v)
    return stale, unwritten


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linearizable_histories())
def test_simulated_linearizable_systems_pass(history):
    result = check_history(history)
    assert result.ok, result.explanation


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(linearizable_histories(), st.data())
def test_one_impossible_read_is_caught(history, data):
    reads = [i for i, op in enumerate(history) if op.kind == "get" and op.status is OK]
    if not reads:
        history = history + [get(0, history[0].key, None, 10_000, 10_002)]
        reads = [len(history) - 1]
    index = data.draw(st.sampled_from(reads), label="corrupted read")
    read = history[index]
    stale, unwritten = impossible_reads(history, read)
    wrong = data.draw(st.sampled_from(stale or unwritten), label="impossible value")
    corrupted = list(history)
    corrupted[index] = Operation(read.client, read.key, "get", None, None, read.call, read.ret, OK, wrong)
    result = check_history(corrupted)
    assert not result.ok, f"read {read} corrupted to {wrong!r} was accepted"
    assert not result.timed_out
    assert result.failing_key == read.key
    assert not search_alone([op for op in corrupted if op.key == read.key])


# --------------------------------------------------------------------------
# A history of the size and shape the fault tests record.


def simulated_cluster_history(
    seed: int, *, clients: int = 8, keys: int = 10, operations: int = 5000, unknown_rate: float = 0.01,
    fail_rate: float = 0.01,
) -> list[Operation]:
    """Clients issue operations back to back (durations and think times drawn
    from exponentials, ~1-5 ms) on ``keys`` keys, four kinds mixed; each takes
    effect at a uniform instant inside its interval; some fail, some time out
    (and then take effect up to 3 timeouts later, or never)."""
    rng = random.Random(seed)
    free_at = [0.0] * clients
    plan: list[Planned] = []
    for n in range(operations):
        client = rng.randrange(clients)
        kind = rng.choices(["get", "put", "cas", "delete"], weights=[45, 30, 20, 5])[0]
        call = free_at[client] + rng.expovariate(1 / 0.001)
        duration = 0.0005 + rng.expovariate(1 / 0.004)
        ret = call + duration
        free_at[client] = ret
        roll = rng.random()
        if roll < unknown_rate:
            status = UNKNOWN
            effect_at = call + rng.uniform(0, 3 * duration) if rng.random() < 0.5 else None
            ret = None
        elif roll < unknown_rate + fail_rate:
            status, effect_at = FAIL, None
        else:
            status, effect_at = OK, rng.uniform(call, ret)
        value = f"c{client}-{n}" if kind in ("put", "cas") else None
        plan.append(Planned(client, f"key{rng.randrange(keys)}", kind, call, ret, status, effect_at, value))
    return run_register_system(plan, lambda known: known[-1] if rng.random() < 0.7 else rng.choice(known))


def test_five_thousand_operation_history_checks():
    history = simulated_cluster_history(seed=1)
    assert len(history) == 5000
    assert sum(op.status is UNKNOWN for op in history) > 0
    result = check_history(history)
    assert result.ok, result.explanation


def test_hot_key_history_checks():
    # All eight clients on one key: the most concurrency a key will see.
    history = simulated_cluster_history(seed=2, keys=1, operations=2000)
    result = check_history(history)
    assert result.ok, result.explanation


def test_one_corrupted_read_in_a_large_history_is_found():
    history = simulated_cluster_history(seed=3)
    index = max(i for i, op in enumerate(history) if op.kind == "get" and op.status is OK)
    read = history[index]
    history[index] = Operation(
        read.client, read.key, "get", None, None, read.call, read.ret, OK, "never-written"
    )
    result = check_history(history)
    assert not result.ok
    assert not result.timed_out
    assert result.failing_key == read.key
    assert "'never-written'" in result.explanation
