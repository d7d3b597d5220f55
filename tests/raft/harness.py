"""A hand-driven network of ``RawNode``s for deterministic Raft scenario tests.

Nothing moves unless the test says so. Each node owns a ``MemoryStorage``; its
ready batches are handled exactly as the ``RawNode`` contract demands
(persist snapshot, entries and hard state -> queue messages -> restore the
snapshot and apply committed entries -> release read states -> advance).
Messages wait in one queue until the test delivers them, and every delivery
honours the partitions (``isolate``, ``cut``, ``cut_one_way``) and the drop
filters in force at that moment.

The replicated "application" is a list of the data of every non-empty normal
entry applied, per node; a snapshot's data is that list, JSON-encoded.

Typical use::

    net = Network(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    assert net.applied[3] == [b"x"]
"""
from __future__ import annotations

import json
import logging
import random
from typing import Callable, Iterable

from consensus.raft.log_storage import MemoryStorage
from consensus.raft.messages import (
    NONE,
    ConfChange,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    MessageType as MT,
    ReadState,
    Snapshot,
    SnapshotMetadata,
    StateType,
)
from consensus.raft.raft import Config
from consensus.raft.raw_node import RawNode, Ready

LOGGER = logging.getLogger("raft-test")

MessageFilter = Callable[[Message], bool]


def encode_app_state(applied: list[bytes]) -> bytes:
    """Snapshot data for an application state (the list of applied data)."""
    return json.dumps([d.decode("latin-1") for d in applied]).encode()


def decode_app_state(data: bytes) -> list[bytes]:
    """Inverse of ``encode_app_state``; empty data means an empty state."""
    if not data:
        return []
    return [s.encode("latin-1") for s in json.loads(data)]


def entry_data(index: int, term: int) -> bytes:
    """The data a pre-loaded entry carries: it names its own position."""
    return f"{index}@{term}".encode()


def preloaded_storage(
    terms: list[int],
    *,
    voters: Iterable[int],
    learners: Iterable[int] = (),
    term: int | None = None,
    vote: int = NONE,
    commit: int = 1,
) -> MemoryStorage:
    """A storage holding a log whose entry ``i`` (1-based) has term ``terms[i-1]``.

    Entry 1 is stored as the snapshot point (it carries the membership, since
    an empty ``MemoryStorage`` has no other way to know it); entries 2.. are
    normal entries whose data is ``entry_data(index, term)``. The hard state
    defaults to the last log term, no vote, commit 1 (the snapshot point).
    """
    if not terms:
        raise ValueError("a pre-loaded log needs at least one entry (the snapshot point)")
    storage = MemoryStorage()
    conf_state = ConfState(tuple(voters), tuple(learners))
    storage.apply_snapshot(Snapshot(SnapshotMetadata(1, terms[0], conf_state), encode_app_state([])))
    storage.append([Entry(t, i, EntryType.NORMAL, entry_data(i, t)) for i, t in enumerate(terms[1:], start=2)])
    storage.set_hard_state(HardState(term if term is not None else max(terms), vote, commit))
    return storage


class Network:
    """N RawNodes, their storages and applied data, and a controllable message queue."""

    def __init__(
        self,
        size: int = 3,
        *,
        storages: dict[int, MemoryStorage] | None = None,
        seed: int = 1,
        **config,
    ) -> None:
        """Start voters 1..size (bootstrapped) or one node per given storage; ``config`` = Config fields for all."""
        self.seed = seed
        self.config = config
        self.storages: dict[int, MemoryStorage] = {}
        self.nodes: dict[int, RawNode | None] = {}
        self.applied: dict[int, list[bytes]] = {}
        self.applied_index: dict[int, int] = {}
        self.conf_states: dict[int, ConfState] = {}
        self.read_states: dict[int, list[ReadState]] = {}
        self.queue: list[Message] = []
        self.sent: list[Message] = []
        self.delivered: list[Message] = []
        self.ready_log: list[tuple[int, Ready]] = []
        self.blocked: set[tuple[int, int]] = set()
        self.drops: list[MessageFilter] = []
        self._starts: dict[int, int] = {}
        self._bootstrap_peers: dict[int, tuple[int, ...]] = {}
        if storages is not None:
            for node_id in sorted(storages):
                self.storages[node_id] = storages[node_id]
                self._bootstrap_peers[node_id] = ()
        else:
            ids = tuple(range(1, size + 1))
            for node_id in ids:
                self.storages[node_id] = MemoryStorage()
                self._bootstrap_peers[node_id] = ids
        for node_id in sorted(self.storages):
            self._start(node_id)
        self.flush()

    # -- node lifecycle ---------------------------------------------------------

    def _start(self, node_id: int) -> None:
        """Build a RawNode over the node's storage and reset its application from the snapshot."""
        storage = self.storages[node_id]
        self._starts[node_id] = self._starts.get(node_id, 0) + 1
        config = Config(id=node_id, peers=self._bootstrap_peers.get(node_id, ()), **self.config)
        rng = random.Random(self.seed * 1000 + node_id * 10 + self._starts[node_id])
        self.nodes[node_id] = RawNode(config, storage, rng=rng, logger=LOGGER)
        snapshot = storage.snapshot()
        self.applied[node_id] = decode_app_state(snapshot.data)
        self.applied_index[node_id] = snapshot.metadata.index
        self.conf_states[node_id] = self.nodes[node_id].raft.conf_state()
        self.read_states.setdefault(node_id, [])

    def add_node(self, node_id: int) -> RawNode:
        """Start a brand-new node with an empty log (to be added by a conf change)."""
        if node_id in self.storages:
            raise ValueError(f"node {node_id} already exists")
        self.storages[node_id] = MemoryStorage()
        self._bootstrap_peers[node_id] = ()
        self._start(node_id)
        return self.nodes[node_id]

    def crash(self, node_id: int) -> None:
        """Discard the node's RawNode (all volatile state); its storage survives."""
        self.nodes[node_id] = None

    def restart(self, node_id: int) -> RawNode:
        """Start the node again from its storage and handle its first ready (re-apply)."""
        if self.nodes.get(node_id) is not None:
            raise ValueError(f"node {node_id} is running; crash it first")
        self._start(node_id)
        self.flush([node_id])
        return self.nodes[node_id]

    # -- accessors ------------------------------------------------------------------

    def node(self, node_id: int) -> RawNode:
        """The running RawNode of ``node_id`` (fails if it is crashed)."""
        raw = self.nodes.get(node_id)
        if raw is None:
            raise AssertionError(f"node {node_id} is down")
        return raw

    def up(self) -> list[int]:
        """Ids of running nodes, sorted."""
        return sorted(i for i, raw in self.nodes.items() if raw is not None)

    def state(self, node_id: int) -> StateType:
        """Role of a running node."""
        return self.node(node_id).raft.state

    def term(self, node_id: int) -> int:
        """Current term of a running node."""
        return self.node(node_id).raft.term

    def commit(self, node_id: int) -> int:
        """Commit index of a running node."""
        return self.node(node_id).raft.raft_log.committed

    def leaders(self) -> list[int]:
        """Running nodes that believe they lead."""
        return [i for i in self.up() if self.state(i) == StateType.LEADER]

    def leader(self) -> int:
        """The one running leader of the highest term (fails if there is none)."""
        leaders = self.leaders()
        if not leaders:
            raise AssertionError("no leader")
        return max(leaders, key=self.term)

    def log_terms(self, node_id: int, start: int = 1) -> list[int]:
        """Terms of the node's persisted log from ``start`` to its last index."""
        storage = self.storages[node_id]
        return [storage.term(i) for i in range(start, storage.last_index() + 1)]

    def log_entries(self, node_id: int, start: int | None = None) -> list[Entry]:
        """The node's persisted entries from ``start`` (default: first retained)."""
        storage = self.storages[node_id]
        lo = storage.first_index() if start is None else start
        return storage.entries(lo, storage.last_index() + 1)

    def last_index(self, node_id: int) -> int:
        """Last persisted index of the node."""
        return self.storages[node_id].last_index()

    # -- inputs -------------------------------------------------------------------------

    def tick(self, node_id: int, n: int = 1) -> None:
        """Tick one node ``n`` times; nothing is delivered or flushed."""
        raw = self.node(node_id)
        for _ in range(n):
            raw.tick()

    def tick_all(self, n: int = 1) -> None:
        """Let ``n`` ticks of time pass: each tick, every running node ticks once, then stabilize."""
        for _ in range(n):
            for node_id in self.up():
                self.nodes[node_id].tick()
            self.stabilize()

    def campaign(self, node_id: int) -> None:
        """Make the node start an election now (pre-vote first if enabled)."""
        self.node(node_id).campaign()

    def elect(self, node_id: int) -> None:
        """Campaign and stabilize; fail unless ``node_id`` ends up leader."""
        self.campaign(node_id)
        self.stabilize()
        assert self.state(node_id) == StateType.LEADER, f"node {node_id} failed to become leader"

    def win_election_only(self, node_id: int) -> None:
        """Campaign and deliver only election messages until ``node_id`` leads;
        its first appends (carrying its empty entry) stay queued, undelivered."""
        election = of_type(MT.PRE_VOTE, MT.PRE_VOTE_RESP, MT.VOTE, MT.VOTE_RESP)
        self.campaign(node_id)
        for _ in range(10):
            self.flush()
            if self.state(node_id) == StateType.LEADER:
                return
            if not self.deliver(election):
                break
        raise AssertionError(f"node {node_id} did not win the election")

    def propose(self, node_id: int, data: bytes) -> None:
        """Propose one normal entry on the node (may raise ProposalDroppedError)."""
        self.node(node_id).propose(data)

    def propose_conf_change(self, node_id: int, cc: ConfChange) -> None:
        """Propose a membership change on the node (may raise ProposalDroppedError)."""
        self.node(node_id).propose_conf_change(cc)

    # -- the network --------------------------------------------------------------------

    def isolate(self, node_id: int) -> None:
        """Cut every link to and from ``node_id``."""
        for other in self.storages:
            if other != node_id:
                self.cut(node_id, other)

    def cut(self, a: int, b: int) -> None:
        """Cut the link between ``a`` and ``b`` in both directions."""
        self.blocked.add((a, b))
        self.blocked.add((b, a))

    def cut_one_way(self, a: int, b: int) -> None:
        """Drop messages from ``a`` to ``b`` only."""
        self.blocked.add((a, b))

    def drop(self, pred: MessageFilter) -> MessageFilter:
        """Drop every message matching ``pred`` at delivery until ``heal``/``undrop``."""
        self.drops.append(pred)
        return pred

    def undrop(self, pred: MessageFilter) -> None:
        """Remove one drop filter installed by ``drop``."""
        self.drops.remove(pred)

    def heal(self) -> None:
        """Remove every partition and drop filter."""
        self.blocked.clear()
        self.drops.clear()

    def _passes(self, m: Message) -> bool:
        """Whether ``m`` may be delivered right now (link up, not dropped, recipient running)."""
        if (m.frm, m.to) in self.blocked:
            return False
        if any(pred(m) for pred in self.drops):
            return False
        return self.nodes.get(m.to) is not None

    def pending_messages(self, pred: MessageFilter | None = None) -> list[Message]:
        """Queued (sent, not yet delivered or discarded) messages, optionally filtered."""
        return [m for m in self.queue if pred is None or pred(m)]

    def discard(self, pred: MessageFilter | None = None) -> list[Message]:
        """Remove queued messages matching ``pred`` (all if None) without delivering them."""
        gone = [m for m in self.queue if pred is None or pred(m)]
        self.queue = [m for m in self.queue if not (pred is None or pred(m))]
        return gone

    def deliver(self, pred: MessageFilter | None = None) -> list[Message]:
        """Step each queued message matching ``pred`` (all if None) into its recipient.

        Matching messages leave the queue; those that a partition, a drop filter
        or a crashed recipient stops are lost. No ready is handled here.
        Returns the messages actually stepped.
        """
        batch = [m for m in self.queue if pred is None or pred(m)]
        self.queue = [m for m in self.queue if not (pred is None or pred(m))]
        stepped = []
        for m in batch:
            if self._passes(m):
                self.nodes[m.to].step(m)
                self.delivered.append(m)
                stepped.append(m)
        return stepped

    # -- ready handling ------------------------------------------------------------------

    def flush(self, ids: Iterable[int] | None = None) -> int:
        """Handle the pending ready of each given running node (default: all); deliver nothing.
        Returns how many of the readies handled had any content."""
        busy = 0
        for node_id in sorted(ids) if ids is not None else self.up():
            raw = self.nodes.get(node_id)
            if raw is not None and raw.has_ready():
                busy += not is_empty(self._handle_ready(node_id, raw))
        return busy

    def _handle_ready(self, node_id: int, raw: RawNode) -> Ready:
        """Do what the Ready contract says, in its order, then advance."""
        rd = raw.ready()
        self.ready_log.append((node_id, rd))
        storage = self.storages[node_id]
        # 1. persist
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
        if rd.entries:
            storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        # 2. send
        self.queue.extend(rd.messages)
        self.sent.extend(rd.messages)
        # 3. restore the snapshot, then apply
        if rd.snapshot is not None:
            self.applied[node_id] = decode_app_state(rd.snapshot.data)
            self.applied_index[node_id] = rd.snapshot.metadata.index
            self.conf_states[node_id] = rd.snapshot.metadata.conf_state
        for entry in rd.committed_entries:
            if entry.index != self.applied_index[node_id] + 1:
                raise AssertionError(
                    f"node {node_id} asked to apply {entry.index} after {self.applied_index[node_id]}"
                )
            if entry.type == EntryType.CONF_CHANGE:
                self.conf_states[node_id] = raw.apply_conf_change(ConfChange.decode(entry.data))
            elif entry.data:
                self.applied[node_id].append(entry.data)
            self.applied_index[node_id] = entry.index
        # 4. release reads: the contract promises their index is applied by now
        for rs in rd.read_states:
            if rs.index > self.applied_index[node_id]:
                raise AssertionError(
                    f"node {node_id} released read {rs} before applying it (applied {self.applied_index[node_id]})"
                )
            self.read_states[node_id].append(rs)
        raw.advance(rd)
        return rd

    def stabilize(self, max_rounds: int = 10_000) -> None:
        """Handle readies and deliver every message until nothing is left to do."""
        for _ in range(max_rounds):
            # advance() itself may create work (a leader commits its own
            # entries only once they are persisted), so quiet means: no
            # message queued and no ready with any content. A ready that
            # has_ready() announced but that carries nothing does not count
            # (see test_read_index.py for why that can happen).
            busy = self.flush()
            if self.queue:
                self.deliver()
            elif not busy:
                return
        raise AssertionError(f"network did not quiesce within {max_rounds} rounds")

    # -- application side ---------------------------------------------------------------

    def compact(self, node_id: int, keep: int = 0) -> Snapshot:
        """Snapshot the node's application at its applied index and drop the log up to ``keep`` entries before it."""
        storage = self.storages[node_id]
        index = self.applied_index[node_id]
        snapshot = storage.create_snapshot(index, self.conf_states[node_id], encode_app_state(self.applied[node_id]))
        if index - keep >= storage.first_index():
            storage.compact(index - keep)
        return snapshot

    # -- history --------------------------------------------------------------------------

    def sent_messages(self, pred: MessageFilter | None = None, since: int = 0) -> list[Message]:
        """Messages ever handed to the network (from position ``since``), optionally filtered."""
        return [m for m in self.sent[since:] if pred is None or pred(m)]

    def readies(self, node_id: int) -> list[Ready]:
        """Every ready batch the node produced, oldest first."""
        return [rd for i, rd in self.ready_log if i == node_id]


def is_empty(rd: Ready) -> bool:
    """Whether a ready batch carries nothing at all to persist, send, apply or release."""
    return not (
        rd.soft_state or rd.hard_state or rd.entries or rd.snapshot or rd.messages
        or rd.committed_entries or rd.read_states
    )


def of_type(*types: MessageType, frm: int | None = None, to: int | None = None) -> MessageFilter:
    """A message filter: one of ``types`` (any if none given), optionally from/to given nodes."""

    def pred(m: Message) -> bool:
        """Whether ``m`` matches the types and endpoints asked for."""
        return (not types or m.type in types) and (frm is None or m.frm == frm) and (to is None or m.to == to)

    return pred
