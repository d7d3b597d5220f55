"""A tiny interpreter for Raft transcript tests.

A transcript is a text file of commands, each followed by the output it must
produce::

    > add-nodes 3
    > campaign 1
    raft 1 became pre-candidate at term 1
    ...

Lines starting with ``#`` are comments and kept as they are. The runner
executes the commands against real RawNodes over an in-memory network that
the transcript controls message by message, and compares every line of
output (the core's log lines included). ``pytest --rewrite`` regenerates the
expected output instead of comparing.

Commands:
  add-nodes N                    N voters, ids 1..N, bootstrapped and applied
  campaign ID                    ID starts an election (pre-vote first)
  propose ID DATA                a client write at ID
  propose-conf-change ID TYPE N  TYPE is add-learner | add-node | remove-node
  read-index ID CTX              a linearizable read request at ID
  transfer-leader ID TO          ask ID (the leader) to hand over to TO
  tick ID [N]                    N ticks (default 1) on ID
  tick-election ID               enough ticks for ID's election timeout
  process-ready [ID...]          handle ready batches, printing what leaves
  deliver-msgs [drop=ID,...]     deliver queued messages (dropping some)
  stabilize                      process-ready + deliver-msgs until quiet
  isolate ID / heal              cut ID off both ways / reconnect everyone
  crash ID / restart ID          discard ID's volatile state / rebuild it from storage
  compact ID INDEX               snapshot ID's state at INDEX and compact its log
  status ID                      role, term, lead, commit, applied
  raft-log ID                    ID's log entries
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field

from consensus.raft.log_storage import MemoryStorage
from consensus.raft.messages import ConfChange, ConfChangeType, EntryType, Message, MessageType
from consensus.raft.raft import Config, ProposalDroppedError
from consensus.raft.raw_node import RawNode

CONF_TYPES = {
    "add-learner": ConfChangeType.ADD_LEARNER,
    "add-node": ConfChangeType.ADD_NODE,
    "remove-node": ConfChangeType.REMOVE_NODE,
}


class TranscriptLogger:
    """Collects the core's log lines into the transcript's output."""

    def __init__(self, out: list[str]) -> None:
        self.out = out

    def _log(self, fmt, *args):
        self.out.append(fmt % args)

    debug = info = warning = error = _log


def describe_entry(entry) -> str:
    if entry.type == EntryType.CONF_CHANGE:
        cc = ConfChange.decode(entry.data)
        return f"{entry.term}/{entry.index} {cc.type.name} {cc.node_id}"
    return f"{entry.term}/{entry.index} {entry.data.decode() or '<empty>'}"


def describe_message(m: Message) -> str:
    parts = [f"{m.frm}->{m.to} {m.type.name} term={m.term}"]
    if m.type in (MessageType.APP, MessageType.VOTE, MessageType.PRE_VOTE):
        parts.append(f"log={m.log_term}/{m.index}")
    if m.type == MessageType.APP:
        parts.append(f"commit={m.commit}")
        if m.entries:
            parts.append("[" + ", ".join(describe_entry(e) for e in m.entries) + "]")
    if m.type in (MessageType.APP_RESP, MessageType.READ_INDEX_RESP):
        parts.append(f"index={m.index}")
    if m.type == MessageType.HEARTBEAT:
        parts.append(f"commit={m.commit}")
    if m.reject:
        parts.append(f"REJECT hint={m.reject_hint}/{m.log_term}" if m.type == MessageType.APP_RESP else "REJECT")
    if m.context:
        parts.append(f"ctx={m.context.decode()}")
    if m.snapshot is not None:
        parts.append(f"snapshot={m.snapshot.metadata.term}/{m.snapshot.metadata.index}")
    return " ".join(parts)


@dataclass
class Env:
    out: list[str] = field(default_factory=list)
    nodes: dict[int, RawNode] = field(default_factory=dict)
    storages: dict[int, MemoryStorage] = field(default_factory=dict)
    peers: tuple[int, ...] = ()
    queue: list[Message] = field(default_factory=list)
    isolated: set[int] = field(default_factory=set)
    applied: dict[int, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.logger = TranscriptLogger(self.out)

    # -- helpers --------------------------------------------------------------

    def _start(self, node_id: int) -> None:
        config = Config(id=node_id, peers=self.peers, election_tick=10, heartbeat_tick=1)
        self.nodes[node_id] = RawNode(config, self.storages[node_id], rng=random.Random(node_id), logger=self.logger)

    def _handle_ready(self, node_id: int, echo: bool) -> bool:
        node = self.nodes[node_id]
        if not node.has_ready():
            return False
        rd = node.ready()
        storage = self.storages[node_id]
        if rd.snapshot is not None:
            storage.apply_snapshot(rd.snapshot)
        if rd.entries:
            storage.append(rd.entries)
        if rd.hard_state is not None:
            storage.set_hard_state(rd.hard_state)
        if echo:
            # In WAL order: snapshot, entries, hard state.
            if rd.snapshot is not None:
                meta = rd.snapshot.metadata
                self.out.append(f"  {node_id} persist snapshot {meta.term}/{meta.index} voters={list(meta.conf_state.voters)}")
            if rd.entries:
                self.out.append(f"  {node_id} persist " + ", ".join(describe_entry(e) for e in rd.entries))
            if rd.hard_state is not None:
                hs = rd.hard_state
                self.out.append(f"  {node_id} persist HardState term={hs.term} vote={hs.vote} commit={hs.commit}")
            for m in rd.messages:
                self.out.append(f"  {node_id} send {describe_message(m)}")
            for e in rd.committed_entries:
                self.out.append(f"  {node_id} apply {describe_entry(e)}")
            for rs in rd.read_states:
                self.out.append(f"  {node_id} read-state index={rs.index} ctx={rs.context.decode()}")
        for e in rd.committed_entries:
            if e.type == EntryType.CONF_CHANGE:
                node.apply_conf_change(ConfChange.decode(e.data))
            self.applied[node_id] = e.index
        self.queue.extend(rd.messages)
        node.advance(rd)
        return True

    def _deliver(self, drop: set[int]) -> bool:
        batch, self.queue = self.queue, []
        for m in batch:
            if m.to in drop or m.to in self.isolated or m.frm in self.isolated or m.to not in self.nodes:
                self.out.append(f"  dropped {describe_message(m)}")
                continue
            self.nodes[m.to].step(m)
        return bool(batch)

    # -- commands -------------------------------------------------------------

    def cmd_add_nodes(self, n: str) -> None:
        self.peers = tuple(range(1, int(n) + 1))
        for node_id in self.peers:
            self.storages[node_id] = MemoryStorage()
            self._start(node_id)
            self._handle_ready(node_id, echo=False)  # bootstrap entries persisted and applied

    def cmd_campaign(self, node_id: str) -> None:
        self.nodes[int(node_id)].campaign()

    def cmd_propose(self, node_id: str, data: str) -> None:
        try:
            self.nodes[int(node_id)].propose(data.encode())
        except ProposalDroppedError as exc:
            self.out.append(f"dropped: {exc}")

    def cmd_propose_conf_change(self, node_id: str, kind: str, target: str) -> None:
        try:
            self.nodes[int(node_id)].propose_conf_change(ConfChange(CONF_TYPES[kind], int(target)))
        except ProposalDroppedError as exc:
            self.out.append(f"dropped: {exc}")

    def cmd_read_index(self, node_id: str, ctx: str) -> None:
        try:
            self.nodes[int(node_id)].read_index(ctx.encode())
        except ProposalDroppedError as exc:
            self.out.append(f"dropped: {exc}")

    def cmd_transfer_leader(self, node_id: str, to: str) -> None:
        self.nodes[int(node_id)].transfer_leader(int(to))

    def cmd_tick(self, node_id: str, n: str = "1") -> None:
        for _ in range(int(n)):
            self.nodes[int(node_id)].tick()

    def cmd_tick_election(self, node_id: str) -> None:
        raft = self.nodes[int(node_id)].raft
        for _ in range(raft.randomized_election_timeout):
            self.nodes[int(node_id)].tick()

    def cmd_process_ready(self, *ids: str) -> None:
        for node_id in [int(i) for i in ids] or sorted(self.nodes):
            self._handle_ready(node_id, echo=True)

    def cmd_deliver_msgs(self, *args: str) -> None:
        drop: set[int] = set()
        for arg in args:
            if arg.startswith("drop="):
                drop |= {int(x) for x in arg[5:].split(",")}
        self._deliver(drop)

    def cmd_stabilize(self) -> None:
        for _ in range(100):
            moved = False
            for node_id in sorted(self.nodes):
                moved |= self._handle_ready(node_id, echo=True)
            moved |= self._deliver(set())
            if not moved:
                return
        raise AssertionError("stabilize did not converge in 100 rounds")

    def cmd_isolate(self, node_id: str) -> None:
        self.isolated.add(int(node_id))

    def cmd_heal(self) -> None:
        self.isolated.clear()

    def cmd_crash(self, node_id: str) -> None:
        del self.nodes[int(node_id)]

    def cmd_restart(self, node_id: str) -> None:
        self._start(int(node_id))

    def cmd_compact(self, node_id: str, index: str) -> None:
        nid, idx = int(node_id), int(index)
        storage = self.storages[nid]
        storage.create_snapshot(idx, self.nodes[nid].raft.conf_state(), f"state@{idx}".encode())
        storage.compact(idx)

    def cmd_status(self, node_id: str) -> None:
        st = self.nodes[int(node_id)].status()
        self.out.append(
            f"{st.id}: {st.state.name} term={st.term} lead={st.lead} commit={st.commit} applied={st.applied} "
            f"voters={list(st.voters)} learners={list(st.learners)}"
        )

    def cmd_raft_log(self, node_id: str) -> None:
        storage = self.storages[int(node_id)]
        first, last = storage.first_index(), storage.last_index()
        if first > last:
            self.out.append(f"log is empty after snapshot {storage.snapshot().metadata.index}")
        for e in storage.entries(first, last + 1) if first <= last else []:
            self.out.append(describe_entry(e))


def run_transcript(text: str) -> str:
    """Execute a transcript and return it with freshly produced output."""
    env = Env()
    result: list[str] = []
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            result.append(line)
            continue
        if not line.startswith("> "):
            continue  # expected output of the previous command: regenerated below
        result.append(line)
        words = line[2:].split()
        handler = getattr(env, "cmd_" + words[0].replace("-", "_"), None)
        if handler is None:
            raise ValueError(f"unknown transcript command {words[0]!r}")
        env.out.clear()
        handler(*words[1:])
        result.extend(env.out)
    return "\n".join(result) + "\n"
