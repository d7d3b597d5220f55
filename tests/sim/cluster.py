"""A deterministic, seeded simulation of a Raft cluster in one process.

Everything random comes from one ``random.Random(seed)``: which messages are
dropped, duplicated or delayed, partitions (symmetric and one-way) that come
and go, crashes (including mid-ready, losing records that were written but
not yet fsynced), restarts, client writes and ReadIndex reads, leader
transfers and membership changes. The same seed replays the same run.

Invariants are checked after every round (``Checker``); a violation raises
``InvariantViolation`` with the seed and the tail of the trace.
"""
from __future__ import annotations

import collections
import json
import logging
import random
from dataclasses import dataclass, field
from pathlib import Path

from consensus.raft.log_storage import UnavailableError
from consensus.raft.messages import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
)
from consensus.raft.raft import Config, ProposalDroppedError
from consensus.raft.raw_node import RawNode
from consensus.runtime import ready_steps
from consensus.storage import DurableStorage

from .sim_files import SimCrash, SimFiles


class InvariantViolation(AssertionError):
    pass


class TraceLogger:
    """A logger for the core that keeps the last lines in memory, formatted
    only when a failure is reported (formatting every line costs too much)."""

    def __init__(self, clock, keep: int = 400, echo: bool = False) -> None:
        self._clock = clock
        self._lines: collections.deque = collections.deque(maxlen=keep)
        self.echo = echo

    def _log(self, level, fmt, *args):
        self._lines.append((self._clock(), level, fmt, args))
        if self.echo:
            print(f"[{self._clock():5d}] {level:5s} {fmt % args}")

    def debug(self, fmt, *args):
        self._log("DEBUG", fmt, *args)

    def info(self, fmt, *args):
        self._log("INFO", fmt, *args)

    def warning(self, fmt, *args):
        self._log("WARN", fmt, *args)

    def error(self, fmt, *args):
        self._log("ERROR", fmt, *args)

    def tail(self, n: int = 60) -> str:
        return "\n".join(f"[{t:5d}] {lvl:5s} {fmt % args}" for t, lvl, fmt, args in list(self._lines)[-n:])


class _TraceHandler(logging.Handler):
    def __init__(self, trace: TraceLogger) -> None:
        super().__init__(logging.INFO)
        self.trace = trace

    def emit(self, record: logging.LogRecord) -> None:
        self.trace.info("%s", record.getMessage())


class RegisterApp:
    """The replicated state machine: a map of registers. Entry data for a
    write is ``w|op_id|key|value``."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.applied = 0
        self.conf_state = ConfState()

    def apply(self, entry: Entry) -> str | None:
        """Apply a normal entry; returns the op id of a client write."""
        self.applied = entry.index
        if entry.data.startswith(b"w|"):
            _, op_id, key, value = entry.data.decode().split("|", 3)
            self.values[key] = value
            return op_id
        return None

    def snapshot_bytes(self) -> bytes:
        return json.dumps({"values": self.values, "applied": self.applied}, sort_keys=True).encode()

    def restore(self, data: bytes, conf_state: ConfState) -> None:
        state = json.loads(data)
        self.values = dict(state["values"])
        self.applied = state["applied"]
        self.conf_state = conf_state


@dataclass
class SimNode:
    """One member: its simulated disk, the production ``DurableStorage`` on
    it while the member runs, and what that storage had made durable when
    the member last crashed (checked against what it recovers)."""

    id: int
    files: SimFiles
    storage: DurableStorage | None = None
    raw: RawNode | None = None
    app: RegisterApp = field(default_factory=RegisterApp)
    bootstrap_peers: tuple[int, ...] = ()
    removed: bool = False
    durable_at_crash: tuple | None = None
    # The entries of a save that power was lost inside: written, not synced.
    in_flight: tuple[Entry, ...] = ()

    @property
    def data_dir(self) -> Path:
        return Path(f"/n{self.id}")

    @property
    def up(self) -> bool:
        return self.raw is not None


@dataclass
class PendingRead:
    node_id: int
    key: str
    bound: int  # the read must reflect at least this log position
    invoked_at: int


@dataclass
class SimOptions:
    nodes: int = 3
    fault_rounds: int = 500
    liveness_rounds: int = 600
    election_tick: int = 10
    max_delay: int = 3
    drop_rate: float = 0.05
    dup_rate: float = 0.02
    crash_rate: float = 0.004
    mid_ready_crash_rate: float = 0.002
    restart_rate: float = 0.05
    partition_rate: float = 0.01
    heal_rate: float = 0.02
    write_rate: float = 0.3
    read_rate: float = 0.15
    transfer_rate: float = 0.004
    conf_change_rate: float = 0.006
    snapshot_every: int = 25
    catch_up_entries: int = 5  # kept behind a snapshot (production: 5,000)
    segment_size: int = 4096  # small, so segments roll over and are released
    snapshot_crash_rate: float = 0.02
    max_extra_nodes: int = 2
    min_voters: int = 3  # removals stop here
    leader_crash_rate: float = 0.0  # power loss of the leader, right after it took proposals
    power_loss_all_rate: float = 0.0  # every member at once
    long_delay_rate: float = 0.0  # a message held longer than an election timeout
    # A write already waiting when a node's tick makes it leader: it joins
    # the Ready that carries the new term, as in the runtime's input bursts.
    burst_write_rate: float = 0.0
    max_size_per_msg: int = 4096  # small: one entry per append (Figure 8 needs partial replication)
    figure8: bool = False  # drive the faults by ``Figure8`` instead of at random
    second_change_rate: float = 0.0  # another membership change proposed right after one
    election_crash_rate: float = 0.0  # power loss of a new leader in its first Ready


PROFILES = 6


def nodes_for(seed: int) -> int:
    """The cluster size a seed runs with (its profile may change it)."""
    return 3 if seed % 2 == 0 else 5


def profile(seed: int, nodes: int) -> SimOptions:
    """Seeds cycle through fault profiles, so that slow drift, storms of
    faults, leader isolation, membership churn on small clusters and power
    losses are all covered."""
    kind = seed % PROFILES
    if kind == 0:
        return SimOptions(nodes=nodes)
    if kind == 1:  # storms: frequent partitions and crashes, lossy links
        return SimOptions(
            nodes=nodes, drop_rate=0.1, partition_rate=0.05, heal_rate=0.05, crash_rate=0.015,
            mid_ready_crash_rate=0.006, restart_rate=0.1, write_rate=0.6, read_rate=0.4,
            transfer_rate=0.01,
        )
    if kind == 2:  # leader isolation: partitions that come and go fast, many reads
        return SimOptions(
            nodes=nodes, partition_rate=0.08, heal_rate=0.08, crash_rate=0.002, write_rate=0.5,
            read_rate=0.5, max_delay=5, transfer_rate=0.01, conf_change_rate=0.01,
        )
    if kind == 3:  # membership churn from 1 or 2 voters: direct adds, learners, removals down to one voter
        return SimOptions(
            nodes=1 + seed % 2, min_voters=1, max_extra_nodes=4, conf_change_rate=0.05, crash_rate=0.006,
            mid_ready_crash_rate=0.03, leader_crash_rate=0.01, restart_rate=0.15, write_rate=0.6,
            transfer_rate=0.01, long_delay_rate=0.01, burst_write_rate=0.8, partition_rate=0.03, heal_rate=0.05,
            second_change_rate=0.5, election_crash_rate=0.3,
        )
    if kind == 5:  # Figure 8, on a schedule (``Figure8``): five members, one entry per append
        return SimOptions(nodes=5, figure8=True, max_size_per_msg=1, max_delay=1, drop_rate=0.0, dup_rate=0.0,
                          conf_change_rate=0.0)
    # power losses: of the leader as it takes writes, of every member at once; messages late by
    # more than an election timeout
    return SimOptions(
        nodes=nodes, leader_crash_rate=0.02, power_loss_all_rate=0.003, restart_rate=0.3, crash_rate=0.004,
        mid_ready_crash_rate=0.01, write_rate=0.7, long_delay_rate=0.02, partition_rate=0.02, heal_rate=0.05,
        max_size_per_msg=1, burst_write_rate=0.5, drop_rate=0.15,
    )


class Network:
    def __init__(self, rng: random.Random, opts: SimOptions) -> None:
        self.rng = rng
        self.opts = opts
        # (deliver at, sequence, message, a SNAP's payload as the transport streams it)
        self.in_flight: list[tuple[int, int, Message, bytes | None]] = []
        self.blocked: set[tuple[int, int]] = set()
        self.faulty = True
        self._seq = 0

    def send(self, m: Message, now: int, payload: bytes | None = None) -> None:
        rng = self.rng
        if (m.frm, m.to) in self.blocked:
            return
        if self.faulty and rng.random() < self.opts.drop_rate:
            return
        copies = 2 if self.faulty and rng.random() < self.opts.dup_rate else 1
        for _ in range(copies):
            delay = rng.randint(0, self.opts.max_delay) if self.faulty else 0
            if self.faulty and rng.random() < self.opts.long_delay_rate:
                delay = rng.randint(self.opts.election_tick, 3 * self.opts.election_tick)
            self._seq += 1
            self.in_flight.append((now + 1 + delay, self._seq, m, payload))

    def due(self, now: int) -> list[tuple[Message, bytes | None]]:
        ready = [x for x in self.in_flight if x[0] <= now]
        self.in_flight = [x for x in self.in_flight if x[0] > now]
        self.rng.shuffle(ready)  # reordering among messages due together
        return [(m, payload) for _, _, m, payload in ready if (m.frm, m.to) not in self.blocked]


class Cluster:
    def __init__(self, seed: int, opts: SimOptions | None = None, echo: bool = False) -> None:
        self.seed = seed
        self.opts = opts or SimOptions()
        self.rng = random.Random(seed)
        self.now = 0
        self.log = TraceLogger(lambda: self.now, echo=echo)
        self.net = Network(self.rng, self.opts)
        ids = tuple(range(1, self.opts.nodes + 1))
        self.nodes: dict[int, SimNode] = {i: self._new_node(i, ids) for i in ids}
        self.next_id = self.opts.nodes + 1
        self.checker = Checker(self)
        self.figure8 = Figure8(self) if self.opts.figure8 else None
        self.op_seq = 0
        self.pending_writes: dict[str, tuple[int, int]] = {}  # op id -> (proposer, invoked_at)
        self.pending_reads: dict[bytes, PendingRead] = {}
        self.completed_bound = 0  # max log position any completed operation observed
        self.stats = collections.Counter()
        for node in self.nodes.values():
            self.start(node)

    # -- node lifecycle -----------------------------------------------------

    def _new_node(self, node_id: int, bootstrap_peers: tuple[int, ...]) -> SimNode:
        return SimNode(node_id, SimFiles(random.Random(self.rng.getrandbits(32))), bootstrap_peers=bootstrap_peers)

    def start(self, node: SimNode) -> None:
        """Open the member's storage as ``runnode`` does (recovering whatever
        the last crash left) and start its Raft node."""
        node.storage = DurableStorage.open(node.data_dir, files=node.files, segment_size=self.opts.segment_size,
                                           keep_snapshots=2, catch_up_entries=self.opts.catch_up_entries)
        self.checker.on_recovered(node)
        snap = node.storage.snapshot()
        node.app = RegisterApp()
        if not snap.is_empty:
            node.app.restore(node.storage.read_payload(snap), snap.metadata.conf_state)
        config = Config(
            id=node.id, peers=node.bootstrap_peers, election_tick=self.opts.election_tick,
            heartbeat_tick=1, max_inflight_msgs=8, max_size_per_msg=self.opts.max_size_per_msg,
        )
        rng = random.Random(self.rng.getrandbits(32))
        node.raw = RawNode(config, node.storage, rng=rng, logger=self.log)
        self.stats["starts"] += 1

    def crash(self, node: SimNode) -> None:
        """Power loss: the process and every write its disk had not made
        durable are gone (``SimFiles.crash``)."""
        self.log.info("SIM crash node %d", node.id)
        if node.storage is not None:
            node.durable_at_crash = durable_view(node.storage)
        node.files.crash()
        node.storage = None
        node.raw = None
        self.stats["crashes"] += 1
        for ctx, read in list(self.pending_reads.items()):
            if read.node_id == node.id:
                del self.pending_reads[ctx]

    def members(self) -> set[int]:
        """Voters and learners according to the most advanced applied config."""
        best = max((n for n in self.nodes.values() if n.up), key=lambda n: n.app.applied, default=None)
        if best is None:
            return set(self.nodes)
        cs = best.app.conf_state
        return set(cs.voters) | set(cs.learners)

    # -- ready handling (the runtime's job, done with crash points) -------------

    def handle_ready(self, node: SimNode, *, crash_mid_way: bool = False) -> None:
        """The runtime's steps (``consensus.runtime.ready_steps``, the ones
        ``consensus.node`` performs), with a crash possible before any step
        or in the middle of persisting."""
        raw = node.raw
        rd = raw.ready()
        plan = ready_steps.steps(rd, is_leader=raw.is_leader)
        crash_at = -1
        if crash_mid_way or (self.net.faulty and self.rng.random() < self.opts.mid_ready_crash_rate):
            crash_at = self.rng.randrange(len(plan) + 1)
        for at, step in enumerate(plan):
            if at == crash_at:
                if isinstance(step, ready_steps.Persist):
                    self._persist(node, step, crash=True)
                self.log.info("SIM node %d crashes mid-ready before step %d of %d", node.id, at, len(plan))
                self.crash(node)
                return
            if isinstance(step, ready_steps.Send):
                for m in step.messages:
                    # A snapshot's payload is read from the sender's payload
                    # file as the transport opens it when the stream starts.
                    payload = node.storage.read_payload(m.snapshot) if m.type == MessageType.SNAP else None
                    self.net.send(m, self.now, payload)
            elif isinstance(step, ready_steps.Persist):
                self._persist(node, step)
            elif isinstance(step, ready_steps.Restore):
                node.app.restore(node.storage.read_payload(step.snapshot), step.snapshot.metadata.conf_state)
            elif isinstance(step, ready_steps.Apply):
                self._apply(node, step.entries)
            elif isinstance(step, ready_steps.Release):
                for rs in step.read_states:
                    self._complete_read(node, rs.index, rs.context)
        if crash_at == len(plan):
            self.log.info("SIM node %d crashes before advance", node.id)
            self.crash(node)
            return
        raw.advance(rd)
        self._maybe_snapshot(node)

    def _persist(self, node: SimNode, step: "ready_steps.Persist", *, crash: bool = False) -> None:
        """``DurableStorage.save`` of the step, as the runtime calls it.
        Crashing, power is lost inside its fsync: the batch was written and
        the disk keeps of it what ``SimFiles.crash`` lets it keep."""
        storage = node.storage
        if crash:
            node.files.crash_on_sync = True
            node.in_flight = tuple(step.entries)
            self.log.info("SIM node %d loses power while persisting", node.id)
        try:
            if step.sync:
                storage.save(step.hard_state, step.entries, step.snapshot)
            else:
                storage.save(step.hard_state, sync=False)
        except SimCrash:
            return
        if crash:
            return  # nothing synced (a commit-only hard state): lost or kept, as the disk decides
        if step.snapshot is not None:
            self.checker.on_snapshot_persisted(node, step.snapshot)
        if step.entries:
            self.checker.on_entries_persisted(node, step.entries)

    def _apply(self, node: SimNode, entries: list[Entry]) -> None:
        for entry in entries:
            self.checker.on_apply(node, entry)
            if entry.type == EntryType.CONF_CHANGE:
                node.app.applied = entry.index
                node.app.conf_state = node.raw.apply_conf_change(ConfChange.decode(entry.data))
                continue
            op_id = node.app.apply(entry)
            if op_id is not None and op_id in self.pending_writes and self.pending_writes[op_id][0] == node.id:
                del self.pending_writes[op_id]
                self.completed_bound = max(self.completed_bound, entry.index)
                self.stats["writes_acked"] += 1

    def _maybe_snapshot(self, node: SimNode) -> None:
        """The runtime's snapshot rule (``ready_steps.snapshot_due``), with
        power lost inside its fsync now and then."""
        storage = node.storage
        applied = node.app.applied
        if not ready_steps.snapshot_due(applied, storage.snapshot().metadata.index, self.opts.snapshot_every):
            return
        if self.net.faulty and self.rng.random() < self.opts.snapshot_crash_rate:
            node.files.crash_on_sync = True
        try:
            storage.create_snapshot(applied, node.app.conf_state, node.app.snapshot_bytes())
        except SimCrash:
            self.log.info("SIM node %d loses power while taking a snapshot at %d", node.id, applied)
            self.crash(node)
            return
        except UnavailableError:
            return  # applied past what this member holds in its log (its entries were a snapshot)
        self.stats["snapshots"] += 1

    # -- clients -------------------------------------------------------------------

    def client_write(self, node: SimNode) -> None:
        self.op_seq += 1
        op_id = f"op{self.op_seq}"
        key = f"k{self.rng.randint(0, 3)}"
        try:
            node.raw.propose(f"w|{op_id}|{key}|{self.op_seq}".encode())
        except ProposalDroppedError:
            self.stats["writes_dropped"] += 1
            return
        self.pending_writes[op_id] = (node.id, self.now)

    def client_read(self, node: SimNode) -> None:
        self.op_seq += 1
        ctx = f"r{self.op_seq}@{node.id}".encode()
        try:
            node.raw.read_index(ctx)
        except ProposalDroppedError:
            self.stats["reads_dropped"] += 1
            return
        self.pending_reads[ctx] = PendingRead(node.id, f"k{self.rng.randint(0, 3)}", self.completed_bound, self.now)

    def _complete_read(self, node: SimNode, index: int, ctx: bytes) -> None:
        read = self.pending_reads.pop(ctx, None)
        if read is None or read.node_id != node.id:
            return
        position = node.app.applied
        if index > position:
            self.checker.fail(f"read state index {index} released before apply ({position}) on node {node.id}")
        if position < read.bound:
            self.checker.fail(
                f"stale read on node {node.id}: served at log position {position}, but an operation "
                f"completed before the read began had observed position {read.bound}"
            )
        self.completed_bound = max(self.completed_bound, position)
        self.stats["reads_done"] += 1

    # -- faults -------------------------------------------------------------------

    def random_partition(self) -> None:
        ids = sorted(self.nodes)
        if len(ids) < 2:
            return
        self.net.blocked = set()
        if self.rng.random() < 0.5:
            side = set(self.rng.sample(ids, self.rng.randint(1, len(ids) // 2)))
            for a in ids:
                for b in ids:
                    if (a in side) != (b in side):
                        self.net.blocked.add((a, b))
            self.log.info("SIM partition %s | %s", sorted(side), sorted(set(ids) - side))
        else:
            for _ in range(self.rng.randint(1, len(ids))):
                a, b = self.rng.sample(ids, 2)
                self.net.blocked.add((a, b))
            self.log.info("SIM one-way blocks %s", sorted(self.net.blocked))

    def leader(self) -> SimNode | None:
        leaders = [n for n in self.nodes.values() if n.up and n.raw.is_leader]
        return max(leaders, key=lambda n: n.raw.raft.term, default=None)

    def random_conf_change(self) -> None:
        leader = self.leader()
        if leader is None:
            return
        raft = leader.raw.raft
        voters, learners = sorted(raft.voters), sorted(raft.learners)
        choice = self.rng.random()
        room = self.next_id <= self.opts.nodes + self.opts.max_extra_nodes
        if learners and choice < 0.3:
            cc = ConfChange(ConfChangeType.ADD_NODE, self.rng.choice(learners))  # promote
        elif learners and choice < 0.35:
            cc = ConfChange(ConfChangeType.REMOVE_NODE, self.rng.choice(learners))
        elif room and choice < 0.55:
            cc = ConfChange(ConfChangeType.ADD_LEARNER, self.next_id)
        elif room and choice < 0.7:
            cc = ConfChange(ConfChangeType.ADD_NODE, self.next_id)  # a new voter, added directly
        elif len(voters) > self.opts.min_voters:
            target = self.rng.choice(voters)
            if target == leader.id:
                # As the runtime does (``ClusterMembers.remove``): a leader hands
                # leadership over before it removes itself. (One that did not,
                # in a 2-voter cluster, could leave the other voter waiting for
                # the removed one's vote forever.)
                others = [v for v in voters if v != leader.id]
                self.log.info("SIM %d hands leadership to %d before removing itself", leader.id, others[0])
                leader.raw.transfer_leader(self.rng.choice(others))
                return
            cc = ConfChange(ConfChangeType.REMOVE_NODE, target)
        else:
            return
        try:
            leader.raw.propose_conf_change(cc)
        except ProposalDroppedError:
            return
        self.log.info("SIM proposed %s %d via %d", cc.type.name, cc.node_id, leader.id)
        self.stats["conf_changes"] += 1
        if cc.node_id == self.next_id:
            self.next_id += 1
            joiner = self._new_node(cc.node_id, ())  # empty log: learns everything from the leader
            self.nodes[joiner.id] = joiner
            self.start(joiner)
        if self.rng.random() < self.opts.second_change_rate and leader.up:
            # An operator adding two members at once: the second is refused
            # while the first is pending (one change at a time).
            self.random_conf_change()

    def random_event(self) -> None:
        rng, o = self.rng, self.opts
        up = [n for n in self.nodes.values() if n.up]
        down = [n for n in self.nodes.values() if not n.up]
        if rng.random() < o.partition_rate:
            self.random_partition()
        if self.net.blocked and rng.random() < o.heal_rate:
            self.log.info("SIM heal partitions")
            self.net.blocked = set()
        if up and rng.random() < o.crash_rate:
            self.crash(rng.choice(up))
        if rng.random() < o.power_loss_all_rate:
            self.log.info("SIM power loss of every member")
            for node in [n for n in self.nodes.values() if n.up]:
                self.crash(node)
        if down and rng.random() < o.restart_rate:
            node = rng.choice(down)
            self.log.info("SIM restart node %d", node.id)
            self.start(node)
        up = [n for n in self.nodes.values() if n.up]
        if up and rng.random() < o.write_rate:
            self.client_write(rng.choice(up))
        leader = self.leader()
        if leader is not None and rng.random() < o.leader_crash_rate:
            # Right after it took a write: its appends may be out, its fsync not done.
            self.client_write(leader)
            if leader.raw.has_ready():
                self.handle_ready(leader, crash_mid_way=True)
            if leader.up:
                self.crash(leader)
            up = [n for n in self.nodes.values() if n.up]
        if up and rng.random() < o.read_rate:
            self.client_read(rng.choice(up))
        if rng.random() < o.transfer_rate:
            leader = self.leader()
            if leader is not None:
                target = rng.choice(sorted(leader.raw.raft.voters))
                self.log.info("SIM transfer leadership %d -> %d", leader.id, target)
                leader.raw.transfer_leader(target)
        if rng.random() < o.conf_change_rate:
            self.random_conf_change()

    # -- the loop ------------------------------------------------------------------

    def round(self, *, faults: bool) -> None:
        self.now += 1
        if faults and self.figure8 is not None:
            self.figure8.step()
        elif faults:
            self.random_event()
        for m, payload in self.net.due(self.now):
            node = self.nodes.get(m.to)
            if node is not None and node.up:
                if payload is not None:
                    # The receiving transport writes the payload into a new
                    # payload file of this member before delivering.
                    writer = node.storage.payload_writer()
                    writer.write(payload)
                    writer.finish(m.snapshot.metadata.term, m.snapshot.metadata.index)
                node.raw.step(m)
                # Leadership can be won and lost within one round: look after
                # every input, not only at the end of the round.
                self.checker.observe_leader(node)
        for node_id in sorted(self.nodes):
            node = self.nodes[node_id]
            if node.up:
                was_leader = node.raw.is_leader
                node.raw.tick()
                self.checker.observe_leader(node)
                if faults and not was_leader and node.raw.is_leader:
                    if self.rng.random() < self.opts.burst_write_rate:
                        self.client_write(node)
                    if self.rng.random() < self.opts.election_crash_rate:
                        # Power lost as the new leader handles its first Ready.
                        self.handle_ready(node, crash_mid_way=True)
        for _ in range(3):
            for node_id in sorted(self.nodes):
                node = self.nodes[node_id]
                if node.up and node.raw.has_ready():
                    self.handle_ready(node)
        self.checker.check_round()

    def heal(self) -> None:
        self.log.info("SIM faults stop: heal network, restart members")
        self.net.blocked = set()
        self.net.faulty = False
        self.restart_members()

    def restart_members(self) -> None:
        """Start every member that is down. Membership is read from the most
        advanced applied config among the members that are up, which can be
        behind: a member restarted here may apply a change adding one that
        is still down, so liveness calls this on every round."""
        members = self.members()
        for node in self.nodes.values():
            if not node.up and node.id in members:
                self.start(node)

    def run(self) -> None:
        # The storage layer's own warnings (a torn tail cut after a power
        # loss) go into the trace, not to stderr.
        storage_log = logging.getLogger("consensus.storage")
        handler = _TraceHandler(self.log)
        storage_log.addHandler(handler)
        propagate, storage_log.propagate = storage_log.propagate, False
        try:
            self._run()
        finally:
            storage_log.removeHandler(handler)
            storage_log.propagate = propagate

    def _run(self) -> None:
        try:
            for _ in range(self.opts.fault_rounds):
                self.round(faults=True)
            self.heal()
            self.check_liveness()
            self.checker.check_final()
        except InvariantViolation:
            raise
        except Exception as exc:  # an internal assertion in the core counts as a failure too
            raise InvariantViolation(self.checker.describe(f"{type(exc).__name__}: {exc}")) from exc

    def check_liveness(self) -> None:
        """Once faults stop, a leader must emerge and a proposal commit on every
        member within a bounded number of ticks."""
        marker = None
        proposed_at = 0
        for _ in range(self.opts.liveness_rounds):
            self.restart_members()
            self.round(faults=False)
            leader = self.leader()
            if leader is None or not leader.raw.raft.committed_entry_in_current_term():
                continue
            if marker is not None and self.now - proposed_at > 3 * self.opts.election_tick:
                # An uncommitted proposal may be lost with a leader change
                # (that is allowed); propose again.
                marker = None
            if marker is None:
                proposed_at = self.now
                self.op_seq += 1
                marker = f"w|live{self.op_seq}|live|done".encode()
                try:
                    leader.raw.propose(marker)
                except ProposalDroppedError:
                    marker = None
                continue
            members = self.members()
            if all(
                n.app.values.get("live") == "done" for n in self.nodes.values() if n.id in members and n.up
            ):
                self.stats["liveness_rounds"] = self.now - self.opts.fault_rounds
                return
        self.checker.fail(
            f"no progress within {self.opts.liveness_rounds} rounds after faults stopped "
            f"(leader={getattr(self.leader(), 'id', None)}, marker proposed={marker is not None})"
        )


class Figure8:
    """Faults on a schedule: the pattern of Figure 8 of the Raft paper, over
    and over, with random timings. A leader's entry reaches one follower
    only, and the leader loses power; another leader, elected without them,
    appends an entry of its later term that reaches nobody, and loses power;
    the first comes back, is elected again and replicates its old entry to
    a majority — which it must not count as committed until an entry of its
    own term is — and loses power a few rounds later; the second comes back.
    A leader that commits the old entry by counting replicas then sees it
    overwritten, which the checker reports (state machine safety)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.phase = 0
        self.waited = 0
        self.first: SimNode | None = None
        self.second: SimNode | None = None

    def _isolate(self, *groups: set[int]) -> None:
        ids = sorted(self.cluster.nodes)
        side = {node_id: n for n, group in enumerate(groups) for node_id in group}
        self.cluster.net.blocked = {(a, b) for a in ids for b in ids if a != b and side.get(a, -1) != side.get(b, -1)}

    def step(self) -> None:
        c, rng = self.cluster, self.cluster.rng
        self.waited += 1
        if self.waited > 200:  # a phase that cannot complete: start over
            self._restart_all()
            return
        leader = c.leader()
        up = [n for n in c.nodes.values() if n.up]
        if self.phase in (0, 5) and up and rng.random() < c.opts.write_rate:
            c.client_write(rng.choice(up))  # the ordinary traffic between rounds of the pattern
        if self.phase == 0:
            if leader is not None and leader.raw.raft.committed_entry_in_current_term() and self.waited > 5:
                follower = rng.choice([n for n in c.nodes.values() if n.up and n is not leader])
                self._isolate({leader.id, follower.id})
                c.client_write(leader)
                self.first, self.phase, self.waited = leader, 1, 0
                self.delay = rng.randint(1, 4)
        elif self.phase == 1:
            if not self.first.up:  # lost power by itself meanwhile
                self._restart_all()
            elif self.waited >= self.delay:
                self.term = self.first.raw.raft.term
                c.crash(self.first)
                self.phase, self.waited = 2, 0
        elif self.phase == 2:
            if leader is not None and leader.raw.raft.term > self.term:
                c.client_write(leader)
                self._isolate({leader.id})
                self.second, self.phase, self.waited = leader, 3, 0
        elif self.phase == 3:
            if self.waited >= 2:
                if self.second.up:
                    c.crash(self.second)
                if not self.first.up:
                    c.start(self.first)
                c.net.blocked = set()
                self.phase, self.waited = 4, 0
                self.delay = rng.randint(1, 8)
        elif self.phase == 4:
            if leader is not None and leader is not self.second:
                self.delay -= 1
                if self.delay <= 0:
                    c.crash(leader)
                    if not self.second.up:
                        c.start(self.second)
                    self.phase, self.waited = 5, 0
        elif self.phase == 5:
            if self.waited > 3 * c.opts.election_tick:
                self._restart_all()

    def _restart_all(self) -> None:
        c = self.cluster
        c.net.blocked = set()
        for node in c.nodes.values():
            if not node.up and node.id in c.members():
                c.start(node)
        self.phase, self.waited = 0, 0


class Checker:
    """Raft's safety properties, checked incrementally."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.leader_of_term: dict[int, int] = {}
        self.entry_at: dict[tuple[int, int], tuple[bytes, int]] = {}  # (index, term) -> (data, prev term)
        self.committed: dict[int, tuple[int, bytes, int]] = {}  # index -> (term, data, commit term bound)
        self.known_leaders: set[tuple[int, int]] = set()

    def describe(self, problem: str) -> str:
        c = self.cluster
        return (
            f"{problem}\n  seed={c.seed} round={c.now}\n"
            f"  replay: python -m tests.sim --seed {c.seed} --trace\n"
            f"--- last trace lines ---\n{c.log.tail()}"
        )

    def fail(self, problem: str) -> None:
        raise InvariantViolation(self.describe(problem))

    def on_entries_persisted(self, node: SimNode, entries: list[Entry]) -> None:
        # Log matching, incrementally: an (index, term) pair always names the
        # same data and follows the same (index-1, term). By induction, two
        # logs with a common entry agree on every entry before it.
        storage = node.storage
        for e in entries:
            prev_term = storage.term(e.index - 1) if e.index > 1 else 0
            key = (e.index, e.term)
            seen = self.entry_at.get(key)
            if seen is None:
                self.entry_at[key] = (e.data, prev_term)
            elif seen != (e.data, prev_term):
                self.fail(f"log matching violated at index {e.index} term {e.term} on node {node.id}")

    def on_recovered(self, node: SimNode) -> None:
        """A member restarted after a power loss recovered an extension of
        what it had made durable: the same term and vote or a later term
        (an unsynced hard state may have survived too), and every entry it
        held with the same term, unless a snapshot it recovered covers it."""
        expected = node.durable_at_crash
        if expected is None:
            return
        node.durable_at_crash = None
        term, vote, _, terms = expected
        storage = node.storage
        hard = storage.hard_state
        if hard.term < term or (hard.term == term and vote and hard.vote != vote):
            self.fail(f"node {node.id} recovered term {hard.term} vote {hard.vote} after making term {term} "
                      f"vote {vote} durable")
        base = storage.snapshot().metadata.index
        # A batch written but not synced may survive whole (it is one WAL
        # record): then it replaced the durable log from its first entry on,
        # as the fsync returning would have. Anything else is a loss.
        with_batch = dict(terms)
        in_flight, node.in_flight = node.in_flight, ()
        if in_flight:
            with_batch = {i: t for i, t in terms.items() if i < in_flight[0].index}
            with_batch.update((e.index, e.term) for e in in_flight)

        def recovered_term(index: int) -> int | None:
            try:
                return storage.term(index)
            except Exception:
                return None

        for candidate in (terms, with_batch):
            indexes = set(candidate) | set(terms) | set(with_batch)
            if all(recovered_term(i) == candidate.get(i) for i in indexes if i > base):
                return
        index = min((i for i in terms if i > base and recovered_term(i) != terms[i]), default=base + 1)
        self.fail(f"node {node.id} lost durable entry {index} (term {terms.get(index)}) in a power loss: "
                  f"it recovered {recovered_term(index)}")

    def on_snapshot_persisted(self, node: SimNode, snapshot) -> None:
        index = snapshot.metadata.index
        known = self.committed.get(index)
        if known is not None and known[0] != snapshot.metadata.term:
            self.fail(f"node {node.id} installed a snapshot at {index} with term {snapshot.metadata.term}, "
                      f"but the committed entry there has term {known[0]}")

    def on_apply(self, node: SimNode, entry: Entry) -> None:
        known = self.committed.get(entry.index)
        if known is None:
            self.committed[entry.index] = (entry.term, entry.data, node.raw.raft.term)
        elif (known[0], known[1]) != (entry.term, entry.data):
            self.fail(
                f"state machine safety violated: node {node.id} applied {entry.term}/{entry.data!r} at "
                f"{entry.index}, others applied {known[0]}/{known[1]!r}"
            )
        if entry.index != node.app.applied + 1:
            self.fail(f"node {node.id} applied index {entry.index} after {node.app.applied}: out of order")

    def check_round(self) -> None:
        for node in self.cluster.nodes.values():
            if node.up:
                self.observe_leader(node)

    def observe_leader(self, node: SimNode) -> None:
        """Election safety and leader completeness, for a node that may have
        just become leader."""
        if not node.raw.is_leader:
            return
        raft = node.raw.raft
        if (raft.term, node.id) in self.known_leaders:
            return
        holder = self.leader_of_term.setdefault(raft.term, node.id)
        if holder != node.id:
            self.fail(f"two leaders in term {raft.term}: {holder} and {node.id}")
        self.known_leaders.add((raft.term, node.id))
        self._check_leader_completeness(node)

    def _check_leader_completeness(self, node: SimNode) -> None:
        raft_log = node.raw.raft.raft_log
        term = node.raw.raft.term
        first = raft_log.first_index()
        for index, (entry_term, _, commit_term) in self.committed.items():
            if commit_term >= term or index < first:
                continue
            if not raft_log.match_term(index, entry_term):
                self.fail(
                    f"leader completeness violated: leader {node.id} of term {term} lacks committed entry "
                    f"{index} (term {entry_term})"
                )

    def check_final(self) -> None:
        leader = self.cluster.leader()
        if leader is None:
            self.fail("no leader at the end")
        raft_log = leader.raw.raft.raft_log
        first = raft_log.first_index()
        for index, (term, data, _) in sorted(self.committed.items()):
            if index < first:
                continue
            if not raft_log.match_term(index, term):
                self.fail(f"committed entry {index} (term {term}) lost: final leader {leader.id} lacks it")
        if raft_log.committed < max(self.committed, default=0):
            self.fail("final leader's commit index is behind an index that was applied")


def durable_view(storage: DurableStorage) -> tuple:
    """What a running member's storage has made durable: its term and vote,
    its snapshot index, and the term of every entry it holds. (``save``
    shows a batch in memory only once it is synced; a commit index saved
    without an fsync may be lost, and is not part of this.)"""
    hard = storage.hard_state
    first, last = storage.first_index(), storage.last_index()
    terms = {index: storage.term(index) for index in range(first, last + 1)}
    return hard.term, hard.vote, storage.snapshot().metadata.index, terms
