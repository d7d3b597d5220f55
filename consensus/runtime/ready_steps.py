"""What to do with a ``Ready``, in what order: the one place the runtime's
ordering rules are written, followed step by step by the asyncio runtime
(``consensus.node``) and by the deterministic simulation (``tests/sim``),
so the simulation runs the rules that run in production.

``steps(rd, is_leader=...)`` turns a Ready into a list of steps; the caller
performs them in list order and calls ``RawNode.advance(rd)`` after the
last. Nothing here does I/O. The steps, and why they come in this order:

- ``Send`` (early) — only a leader, and only when the Ready changes neither
  its term nor its vote: its appends may leave before its own fsync, as in
  the Raft thesis (§10.2.1) and etcd, because they promise nothing that
  depends on its disk (it counts its own entries toward commit only once
  they are persisted, in ``advance``), so a quorum of followers alone can
  commit them. A Ready whose hard state carries a new term or vote is never
  sent before it is durable: a single voter wins pre-vote, vote and
  leadership inside one ``step``, and its first appends of the new term
  would otherwise leave while the term itself could still be lost to a
  crash — the restarted node, back at the old term, could win the new term
  again and append other entries at the same (index, term) the others
  already hold, forking the log.
- ``Persist`` — the hard state, entries and snapshot; ``sync`` False only
  when nothing but the commit index changed (etcd's ``MustSync``): losing
  that is harmless, the commit index is learned again from the leader.
- ``Send`` — every other message, now that what it promises (a vote, an
  acknowledged entry, a new term) is durable.
- ``Restore`` — a snapshot into the state machine, before any entry after it
  is applied.
- ``Apply`` — the committed entries, in order.
- ``Release`` — the read states, whose indexes are applied by now.
"""
from __future__ import annotations

from dataclasses import dataclass

from consensus.raft.messages import Entry, HardState, Message, ReadState, Snapshot
from consensus.raft.raw_node import Ready


@dataclass(frozen=True, slots=True)
class Send:
    messages: list[Message]
    before_persist: bool = False


@dataclass(frozen=True, slots=True)
class Persist:
    hard_state: HardState | None
    entries: list[Entry]
    snapshot: Snapshot | None
    sync: bool


@dataclass(frozen=True, slots=True)
class Restore:
    snapshot: Snapshot


@dataclass(frozen=True, slots=True)
class Apply:
    entries: list[Entry]


@dataclass(frozen=True, slots=True)
class Release:
    read_states: list[ReadState]


Step = Send | Persist | Restore | Apply | Release


def new_term_or_vote(rd: Ready) -> bool:
    """Whether ``rd``'s hard state changes the term or the vote (the part of
    it that must be durable before any message of the Ready leaves)."""
    return rd.must_sync_hard_state


def steps(rd: Ready, *, is_leader: bool) -> list[Step]:
    """The steps that handle ``rd`` (module docstring); ``is_leader``: the
    node is the leader now, after the inputs that produced ``rd``."""
    plan: list[Step] = []
    early = is_leader and not new_term_or_vote(rd)
    if early and rd.messages:
        plan.append(Send(rd.messages, before_persist=True))
    if rd.must_sync or rd.entries or rd.snapshot is not None:
        plan.append(Persist(rd.hard_state, rd.entries, rd.snapshot, sync=True))
    elif rd.hard_state is not None:
        plan.append(Persist(rd.hard_state, [], None, sync=False))
    if rd.messages and not early:
        plan.append(Send(rd.messages))
    if rd.snapshot is not None:
        plan.append(Restore(rd.snapshot))
    if rd.committed_entries:
        plan.append(Apply(rd.committed_entries))
    if rd.read_states:
        plan.append(Release(rd.read_states))
    return plan


def snapshot_due(applied: int, snapshot_index: int, snapshot_count: int) -> bool:
    """Whether the runtime takes a snapshot of the state machine now: once
    ``snapshot_count`` entries were applied since the last one (etcd's
    ``--snapshot-count``). Checked after each Ready is advanced."""
    return applied - snapshot_index >= snapshot_count
