"""``RawNode``: the Raft core's public face, and the ``Ready`` contract.

Usage (one thread or task owns the node; nothing here blocks)::

    node = RawNode(config, storage, rng=random.Random(seed), logger=log)
    while running:
        node.tick()                 # on a timer
        node.step(message)          # for each message from a peer
        node.propose(b"...")        # for each client write
        if node.has_ready():
            rd = node.ready()
            # 1. persist rd.hard_state, rd.entries, rd.snapshot (fsync if rd.must_sync)
            #    and make them visible through the LogStorage the node reads
            # 2. send rd.messages
            # 3. install rd.snapshot into the state machine, then apply
            #    rd.committed_entries in order (conf changes via apply_conf_change)
            # 4. serve rd.read_states: each index is already applied by step 3
            node.advance(rd)

Between ``ready()`` and ``advance()`` the node may still be stepped and
ticked; ``ready()`` must not be called again until ``advance()``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .log_storage import LogStorage
from .messages import (
    LOCAL_MESSAGES,
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType as MT,
    ReadState,
    Snapshot,
    SoftState,
    StateType,
)
from .progress import Progress
from .raft import Config, ProposalDroppedError, Raft
from .raft_log import RaftInvariantError


@dataclass(slots=True)
class Ready:
    """One batch of work for the caller, to be done in field order.

    - ``hard_state``: persist BEFORE sending ``messages`` (votes and terms must
      be durable before any message that depends on them leaves). None if
      unchanged.
    - ``entries``: append to stable storage BEFORE sending ``messages``; an
      entry whose index is already stored replaces it and every entry after.
    - ``snapshot``: persist, then restore the state machine from it, before
      applying ``committed_entries``. None if there is none.
    - ``messages``: send after persisting. Delivery is best effort; Raft
      tolerates loss, duplication and reordering.
    - ``committed_entries``: apply in order after persisting. CONF_CHANGE
      entries must be passed to ``RawNode.apply_conf_change``.
    - ``read_states``: release after applying; each one's index is ≤ the
      applied index once ``committed_entries`` are applied.
    - ``soft_state``: informational (leader/role), None if unchanged.
    - ``must_sync``: the batch must be fsynced before ``messages`` leave and
      before ``advance`` (entries, or a new term or vote); False when only
      the commit index moved, which may be written without an fsync.
    - ``must_sync_hard_state``: the hard state's term or vote changed. No
      message of this Ready may leave before it is durable — not even a
      leader's appends, which may otherwise go out before its own fsync
      (``consensus.runtime.ready_steps``).
    """

    soft_state: SoftState | None = None
    hard_state: HardState | None = None
    entries: list[Entry] = field(default_factory=list)
    snapshot: Snapshot | None = None
    messages: list[Message] = field(default_factory=list)
    committed_entries: list[Entry] = field(default_factory=list)
    read_states: list[ReadState] = field(default_factory=list)
    must_sync: bool = False
    must_sync_hard_state: bool = False


@dataclass(frozen=True, slots=True)
class Status:
    id: int
    term: int
    vote: int
    commit: int
    applied: int
    lead: int
    state: StateType
    last_index: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]
    progress: dict[int, Progress]
    lead_transferee: int


class RawNode:
    def __init__(self, config: Config, storage: LogStorage, *, rng, logger) -> None:
        self.raft = Raft(config, storage, rng, logger)
        self._prev_soft = self.raft.soft_state()
        self._prev_hard = self.raft.hard_state()
        self._outstanding: Ready | None = None
        self._read_states_waiting: list[ReadState] = []

    # -- inputs -------------------------------------------------------------

    def tick(self) -> None:
        self.raft.tick()

    def campaign(self) -> None:
        self.raft.step(Message(MT.HUP, frm=self.raft.id))

    def step(self, message: Message) -> None:
        """Deliver a message from a peer. Local-only types are refused;
        answers from nodes that are not members are ignored."""
        if message.type in LOCAL_MESSAGES:
            raise ValueError(f"cannot step local message type {message.type.name}")
        is_response = message.type in (MT.APP_RESP, MT.VOTE_RESP, MT.PRE_VOTE_RESP, MT.HEARTBEAT_RESP)
        if is_response and message.frm not in self.raft.prs:
            return
        try:
            self.raft.step(message)
        except ProposalDroppedError as exc:
            # A forwarded proposal or read that cannot be served here: the
            # proposer's client times out and retries; nothing to undo.
            self.raft.logger.info("raft %d dropped %s from %d: %s", self.raft.id, message.type.name, message.frm, exc)

    def propose(self, data: bytes) -> None:
        """Propose one normal entry. Raises ProposalDroppedError if it cannot
        be appended or forwarded right now."""
        self.propose_many([data])

    def propose_many(self, datas: list[bytes]) -> None:
        if not datas:
            return
        if self.raft.state == StateType.LEADER:
            self.raft.append_data(datas)
        else:
            entries = tuple(Entry(0, 0, EntryType.NORMAL, d) for d in datas)
            self.raft.step(Message(MT.PROP, frm=self.raft.id, entries=entries))

    def propose_conf_change(self, cc: ConfChange) -> None:
        entry = Entry(0, 0, EntryType.CONF_CHANGE, cc.encode())
        self.raft.step(Message(MT.PROP, frm=self.raft.id, entries=(entry,)))

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        return self.raft.apply_conf_change(cc)

    def read_index(self, context: bytes) -> None:
        """Request a linearizable read point. ``context`` must be unique
        cluster-wide among outstanding requests (e.g. node id + counter); the
        answer is a ReadState carrying it, or nothing if leadership changes
        (the caller times out and retries)."""
        if not context:
            raise ValueError("read_index needs a non-empty context")
        self.raft.step(Message(MT.READ_INDEX, frm=self.raft.id, context=context))

    def transfer_leader(self, transferee: int) -> None:
        self.raft.step(Message(MT.TRANSFER_LEADER, frm=transferee))

    def report_snapshot(self, node_id: int, delivered: bool) -> None:
        """The transport finished sending a snapshot to ``node_id`` (etcd's
        ``ReportSnapshot``). Either way the leader goes back to probing the
        follower — from after the snapshot if it was delivered, from its
        match if not — once the next heartbeat answer shows the follower is
        there, instead of waiting out an election timeout for a snapshot
        that will never be acknowledged."""
        pr = self.raft.prs.get(node_id)
        if self.raft.state != StateType.LEADER or pr is None or pr.state.name != "SNAPSHOT":
            return
        if not delivered:
            pr.pending_snapshot = 0
        pr.become_probe()
        pr.probe_sent = True  # paused until the follower answers a heartbeat

    def report_unreachable(self, node_id: int) -> None:
        """The transport failed to deliver to ``node_id``: stop pipelining to it."""
        pr = self.raft.prs.get(node_id)
        if self.raft.state == StateType.LEADER and pr is not None and pr.state.name == "REPLICATE":
            pr.become_probe()

    # -- outputs ------------------------------------------------------------

    def has_ready(self) -> bool:
        raft = self.raft
        if raft._needs_broadcast and raft.state == StateType.LEADER:
            return True
        return bool(
            raft.msgs
            or raft.raft_log.unstable.entries
            or raft.raft_log.unstable.snapshot is not None
            or raft.raft_log.has_next_committed_entries()
            or raft.read_states
            # A read waiting for apply is work only once it can be released;
            # until then an empty Ready would spin the caller's loop.
            or any(rs.index <= raft.raft_log.applied for rs in self._read_states_waiting)
            or raft.soft_state() != self._prev_soft
            or raft.hard_state() != self._prev_hard
        )

    def ready(self) -> Ready:
        if self._outstanding is not None:
            raise RaftInvariantError("ready() called again before advance()")
        raft = self.raft
        raft.flush_proposals()
        log = raft.raft_log
        rd = Ready()
        soft = raft.soft_state()
        if soft != self._prev_soft:
            rd.soft_state = soft
        hard = raft.hard_state()
        if hard != self._prev_hard:
            rd.hard_state = hard
        rd.entries = log.unstable_entries()
        rd.snapshot = log.unstable.snapshot
        rd.messages, raft.msgs = raft.msgs, []
        rd.committed_entries = log.next_committed_entries()
        applied_after = log.applied
        if rd.snapshot is not None:
            applied_after = max(applied_after, rd.snapshot.metadata.index)
        if rd.committed_entries:
            applied_after = rd.committed_entries[-1].index
        waiting = self._read_states_waiting + raft.read_states
        raft.read_states = []
        rd.read_states = [rs for rs in waiting if rs.index <= applied_after]
        self._read_states_waiting = [rs for rs in waiting if rs.index > applied_after]
        rd.must_sync_hard_state = rd.hard_state is not None and (
            rd.hard_state.term != self._prev_hard.term or rd.hard_state.vote != self._prev_hard.vote)
        rd.must_sync = bool(rd.entries) or rd.must_sync_hard_state
        self._outstanding = rd
        return rd

    def advance(self, rd: Ready) -> None:
        """Acknowledge that ``rd`` was handled in full, as its contract says."""
        if rd is not self._outstanding:
            raise RaftInvariantError("advance() with a Ready that is not the outstanding one")
        self._outstanding = None
        raft = self.raft
        log = raft.raft_log
        if rd.soft_state is not None:
            self._prev_soft = rd.soft_state
        if rd.hard_state is not None:
            self._prev_hard = rd.hard_state
        if rd.snapshot is not None:
            log.stable_snapshot_to(rd.snapshot.metadata.index)
            if rd.snapshot.metadata.index > log.applied:
                log.applied = rd.snapshot.metadata.index
        if rd.entries:
            last = rd.entries[-1]
            log.stable_to(last.index, last.term)
            raft.on_persisted(last.index, last.term)
        if rd.committed_entries:
            raft.applied_to(rd.committed_entries[-1].index)

    def status(self) -> Status:
        raft = self.raft
        return Status(
            id=raft.id, term=raft.term, vote=raft.vote, commit=raft.raft_log.committed,
            applied=raft.raft_log.applied, lead=raft.lead, state=raft.state,
            last_index=raft.raft_log.last_index(), voters=tuple(sorted(raft.voters)),
            learners=tuple(sorted(raft.learners)),
            progress=dict(raft.prs) if raft.state == StateType.LEADER else {},
            lead_transferee=raft.lead_transferee,
        )

    @property
    def id(self) -> int:
        return self.raft.id

    @property
    def is_leader(self) -> bool:
        return self.raft.state == StateType.LEADER

    @property
    def leader_id(self) -> int:
        return self.raft.lead


__all__ = ["RawNode", "Ready", "Status", "Config", "ProposalDroppedError", "NONE"]
