"""The Raft state machine: one node's protocol logic, with no I/O at all.

Inputs are ``step(message)`` (from peers, or local ones such as HUP and PROP)
and ``tick()``; outputs accumulate in ``msgs``, ``read_states`` and the log's
unstable tail and are drained by ``RawNode.ready()``. Time is the number of
ticks; randomness comes only from the ``rng`` passed in.

Shape follows etcd-io/raft: ``step`` settles the term for every message in one
place, then hands the message to the current role's step function;
``become_*`` swap the role's step and tick functions and reset state.

Membership changes are one node at a time. The known flaw of single-server
changes (a new leader of a later term could commit an old-configuration entry
over a change it did not see) is closed by the rule of Ongaro's 2015 errata:
a leader accepts no configuration change before an entry of its own term is
applied, and at most one change is pending at a time. A change takes effect
when the application applies it (``apply_conf_change``), as in etcd; that
code lives in ``membership.py``.
"""
from __future__ import annotations

from typing import Callable, Sequence

from .config import Config, ProposalDroppedError
from .log_storage import CompactedError, LogStorage
from .messages import (
    NONE,
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
from .membership import Membership
from .progress import Progress, ProgressState
from .quorum import VoteResult, committed_index, vote_result
from .raft_log import RaftInvariantError, RaftLog
from .read_only import ReadOnly

# Context of a vote request that comes from a leader transfer: it may disrupt
# a healthy leader's lease on purpose (§3.10).
CAMPAIGN_TRANSFER = b"CampaignTransfer"


class Raft(Membership):
    def __init__(self, config: Config, storage: LogStorage, rng, logger) -> None:
        config.validate()
        self.id = config.id
        self.rng = rng
        self.logger = logger
        self.raft_log = RaftLog(storage, logger)
        self.max_msg_size = config.max_size_per_msg
        self.max_inflight = config.max_inflight_msgs
        self.election_timeout = config.election_tick
        self.heartbeat_timeout = config.heartbeat_tick
        self.check_quorum = config.check_quorum
        self.pre_vote = config.pre_vote

        self.term = 0
        self.vote = NONE
        self.lead = NONE
        self.state = StateType.FOLLOWER
        self.msgs: list[Message] = []
        self.read_states: list[ReadState] = []
        self.prs: dict[int, Progress] = {}
        self.voters: set[int] = set()
        self.learners: set[int] = set()
        self.votes: dict[int, bool] = {}
        self.lead_transferee = NONE
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_read_index_messages: list[Message] = []
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = 0
        self._needs_broadcast = False
        self._step: Callable[[Message], None] = self._step_follower
        self._tick: Callable[[], None] = self._tick_election

        hard_state, conf_state = storage.initial_state()
        self._apply_conf_state(conf_state)
        if hard_state != HardState():
            self._load_hard_state(hard_state)
        elif (config.peers or config.learners) and storage.snapshot().is_empty:
            # No hard state was ever persisted, so no ready batch of this node
            # was completed and nothing it holds was acknowledged: any entries
            # on disk are a torn first write. Start the cluster afresh.
            self._bootstrap(config.peers, config.learners)
        if config.applied:
            self.raft_log.applied_to(config.applied)
        self.become_follower(self.term, NONE)
        self.logger.info(
            "raft %d started term=%d commit=%d applied=%d last=%d voters=%s learners=%s",
            self.id, self.term, self.raft_log.committed, self.raft_log.applied,
            self.raft_log.last_index(), sorted(self.voters), sorted(self.learners),
        )

    # -- state snapshots for the ready batch ---------------------------------

    def hard_state(self) -> HardState:
        return HardState(self.term, self.vote, self.raft_log.committed)

    def soft_state(self) -> SoftState:
        return SoftState(self.lead, self.state)

    def _load_hard_state(self, hs: HardState) -> None:
        if hs.commit > self.raft_log.last_index():
            raise RaftInvariantError(
                f"hard state commit {hs.commit} is beyond the last log index {self.raft_log.last_index()}: "
                "the log was truncated or lost"
            )
        # A snapshot is committed by definition; a crash between persisting an
        # installed snapshot and the hard state may leave the recorded commit
        # below it.
        self.raft_log.committed = max(hs.commit, self.raft_log.committed)
        self.term = hs.term
        self.vote = hs.vote

    # -- sending ----------------------------------------------------------------

    def _send(self, type: MT, to: int, **fields) -> None:
        # Votes and their answers carry an explicit term (a pre-vote's is the
        # future term); proposals and forwarded reads are local-like (term 0).
        if "term" not in fields and type not in (MT.PROP, MT.READ_INDEX):
            fields["term"] = self.term
        self.msgs.append(Message(type=type, to=to, frm=self.id, **fields))

    def _send_append(self, to: int, send_if_empty: bool = True) -> bool:
        """Send the follower what it is missing, or a snapshot if that was
        compacted. Returns whether a message was sent."""
        pr = self.prs[to]
        if pr.is_paused():
            return False
        prev_index = pr.next - 1
        try:
            prev_term = self.raft_log.term(prev_index)
            entries = self.raft_log.entries_from(pr.next, self.max_msg_size)
        except CompactedError:
            return self._send_snapshot(to, pr)
        if not entries and not send_if_empty:
            return False
        self._send(
            MT.APP, to, index=prev_index, log_term=prev_term, entries=tuple(entries),
            commit=self.raft_log.committed,
        )
        if pr.state == ProgressState.REPLICATE and entries:
            last = entries[-1].index
            pr.optimistic_update(last)
            pr.inflights.add(last)
        elif pr.state == ProgressState.PROBE:
            pr.probe_sent = True
        return True

    def _send_snapshot(self, to: int, pr: Progress) -> bool:
        if not pr.recent_active:
            return False
        snapshot = self.raft_log.snapshot()
        if snapshot.is_empty:
            raise RaftInvariantError("need a non-empty snapshot to catch up a follower")
        self.logger.info(
            "raft %d sends snapshot index=%d to %d (%r)", self.id, snapshot.metadata.index, to, pr
        )
        pr.become_snapshot(snapshot.metadata.index)
        self._send(MT.SNAP, to, snapshot=snapshot)
        return True

    def _send_append_all(self, to: int) -> None:
        # Pipelining: keep sending while the follower's window has room.
        if self._send_append(to):
            while self._send_append(to, send_if_empty=False):
                pass

    def bcast_append(self) -> None:
        for node_id in self.prs:
            if node_id != self.id:
                self._send_append_all(node_id)
        self._needs_broadcast = False

    def flush_proposals(self) -> None:
        """Send appended-but-unbroadcast proposals: every proposal since the
        last ready batch goes out in one append per follower (batching)."""
        if self._needs_broadcast and self.state == StateType.LEADER:
            self.bcast_append()
        self._needs_broadcast = False

    def _bcast_heartbeat(self) -> None:
        context = self.read_only.last_pending_context()
        for node_id, pr in self.prs.items():
            if node_id != self.id:
                # Never tell a follower to commit beyond what it is known to hold.
                self._send(MT.HEARTBEAT, node_id, commit=min(pr.match, self.raft_log.committed), context=context)

    # -- role changes -------------------------------------------------------------

    def _reset(self, term: int) -> None:
        if self.term != term:
            self.term = term
            self.vote = NONE
        self.lead = NONE
        self.election_elapsed = 0
        self.heartbeat_elapsed = 0
        self.randomized_election_timeout = self.election_timeout + self.rng.randrange(self.election_timeout)
        self.lead_transferee = NONE
        self.votes = {}
        last = self.raft_log.last_index()
        for node_id, pr in self.prs.items():
            fresh = Progress(last + 1, max_inflight=self.max_inflight, is_learner=pr.is_learner)
            if node_id == self.id:
                fresh.match = self.raft_log.persisted_index()
            self.prs[node_id] = fresh
        self.pending_conf_index = 0
        self.read_only = ReadOnly()
        self.pending_read_index_messages = []
        self._needs_broadcast = False

    def become_follower(self, term: int, lead: int) -> None:
        self._step = self._step_follower
        self._reset(term)
        self._tick = self._tick_election
        self.lead = lead
        self.state = StateType.FOLLOWER
        self.logger.info("raft %d became follower at term %d (leader %d)", self.id, self.term, lead)

    def become_pre_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise RaftInvariantError("invalid transition leader -> pre-candidate")
        # A pre-candidate does not change its term or vote (thesis §9.6).
        self._step = self._step_candidate
        self.votes = {}
        self._tick = self._tick_election
        self.lead = NONE
        self.state = StateType.PRE_CANDIDATE
        self.logger.info("raft %d became pre-candidate at term %d", self.id, self.term)

    def become_candidate(self) -> None:
        if self.state == StateType.LEADER:
            raise RaftInvariantError("invalid transition leader -> candidate")
        self._step = self._step_candidate
        self._reset(self.term + 1)
        self._tick = self._tick_election
        self.vote = self.id
        self.state = StateType.CANDIDATE
        self.logger.info("raft %d became candidate at term %d", self.id, self.term)

    def become_leader(self) -> None:
        if self.state == StateType.FOLLOWER:
            raise RaftInvariantError("invalid transition follower -> leader")
        self._step = self._step_leader
        self._reset(self.term)
        self._tick = self._tick_heartbeat
        self.lead = self.id
        self.state = StateType.LEADER
        own = self.prs[self.id]
        own.become_replicate()
        own.recent_active = True
        # An empty entry of the new term: committing it commits everything
        # before it (§5.4.2), and until it is applied no configuration change
        # is accepted (the single-server-change fix).
        self._append_entries([Entry(0, 0)])
        self.pending_conf_index = self.raft_log.last_index()
        self.logger.info("raft %d became leader at term %d", self.id, self.term)

    # -- campaigning -------------------------------------------------------------

    def promotable(self) -> bool:
        pr = self.prs.get(self.id)
        return pr is not None and not pr.is_learner and self.raft_log.unstable.snapshot is None

    def _hup(self, transfer: bool) -> None:
        if self.state == StateType.LEADER:
            return
        if not self.promotable():
            self.logger.warning("raft %d is not promotable; not campaigning", self.id)
            return
        if self.raft_log.committed > self.raft_log.applied:
            pending = self.raft_log.slice(self.raft_log.applied + 1, self.raft_log.committed + 1)
            if any(e.type == EntryType.CONF_CHANGE for e in pending):
                self.logger.warning("raft %d has unapplied configuration changes; not campaigning", self.id)
                return
        if self.pre_vote and not transfer:
            self._campaign(pre_vote=True, transfer=False)
        else:
            self._campaign(pre_vote=False, transfer=transfer)

    def _campaign(self, *, pre_vote: bool, transfer: bool) -> None:
        if pre_vote:
            self.become_pre_candidate()
            vote_type, term = MT.PRE_VOTE, self.term + 1
        else:
            self.become_candidate()
            vote_type, term = MT.VOTE, self.term
        self.votes[self.id] = True
        if vote_result(self.voters, self.votes) == VoteResult.WON:
            # A single-voter cluster wins at once.
            if pre_vote:
                self._campaign(pre_vote=False, transfer=transfer)
            else:
                self.become_leader()
            return
        last_index, last_term = self.raft_log.last_index(), self.raft_log.last_term()
        context = CAMPAIGN_TRANSFER if transfer else b""
        for node_id in sorted(self.voters):
            if node_id != self.id:
                self._send(vote_type, node_id, term=term, index=last_index, log_term=last_term, context=context)

    # -- ticks ----------------------------------------------------------------

    def tick(self) -> None:
        self._tick()

    def _tick_election(self) -> None:
        self.election_elapsed += 1
        if self.promotable() and self.election_elapsed >= self.randomized_election_timeout:
            self.election_elapsed = 0
            self.step(Message(MT.HUP, frm=self.id))

    def _tick_heartbeat(self) -> None:
        self.heartbeat_elapsed += 1
        self.election_elapsed += 1
        if self.election_elapsed >= self.election_timeout:
            self.election_elapsed = 0
            if self.check_quorum:
                self.step(Message(MT.CHECK_QUORUM, frm=self.id))
            if self.state == StateType.LEADER and self.lead_transferee != NONE:
                self.logger.info("raft %d aborts transfer to %d: timed out", self.id, self.lead_transferee)
                self.lead_transferee = NONE
            if self.state == StateType.LEADER and self.id not in self.prs:
                self.step_down_removed()
        if self.state != StateType.LEADER:
            return
        for node_id, pr in self.prs.items():
            # A snapshot message may be lost; retry after an election timeout.
            if pr.state == ProgressState.SNAPSHOT:
                pr.snapshot_ticks += 1
                if pr.snapshot_ticks > self.election_timeout:
                    pr.become_probe()
                    pr.next = pr.match + 1
        if self.heartbeat_elapsed >= self.heartbeat_timeout:
            self.heartbeat_elapsed = 0
            self.step(Message(MT.BEAT, frm=self.id))

    # -- stepping -------------------------------------------------------------

    def step(self, m: Message) -> None:
        """Handle one message. Term rules for every role live here (§5.1)."""
        if m.term == 0:
            pass
        elif m.term > self.term:
            if m.type in (MT.VOTE, MT.PRE_VOTE):
                forced = m.context == CAMPAIGN_TRANSFER
                in_lease = self.check_quorum and self.lead != NONE and self.election_elapsed < self.election_timeout
                if in_lease and not forced:
                    # We heard from a live leader within the minimum election
                    # timeout: ignore the disruptive candidate (§4.2.3).
                    return
            if m.type == MT.PRE_VOTE or (m.type == MT.PRE_VOTE_RESP and not m.reject):
                # A pre-vote never changes terms; a granted pre-vote answer
                # carries the future term the candidate asked about.
                pass
            elif m.type in (MT.APP, MT.HEARTBEAT, MT.SNAP):
                self.become_follower(m.term, m.frm)
            else:
                self.become_follower(m.term, NONE)
        elif m.term < self.term:
            if (self.check_quorum or self.pre_vote) and m.type in (MT.HEARTBEAT, MT.APP):
                # A stale leader cut off by a partition learns our term and
                # steps down, instead of being ignored forever.
                self._send(MT.APP_RESP, m.frm)
            elif m.type == MT.PRE_VOTE:
                self._send(MT.PRE_VOTE_RESP, m.frm, term=self.term, reject=True)
            return

        if m.type == MT.HUP:
            self._hup(transfer=False)
        elif m.type in (MT.VOTE, MT.PRE_VOTE):
            self._handle_vote_request(m)
        else:
            self._step(m)

    def _handle_vote_request(self, m: Message) -> None:
        resp_type = MT.VOTE_RESP if m.type == MT.VOTE else MT.PRE_VOTE_RESP
        can_vote = (
            self.vote == m.frm
            or (self.vote == NONE and self.lead == NONE)
            or (m.type == MT.PRE_VOTE and m.term > self.term)
        )
        if can_vote and self.raft_log.is_up_to_date(m.index, m.log_term):
            self.logger.info("raft %d grants %s to %d at term %d", self.id, m.type.name, m.frm, m.term)
            # The grant leaves only after the vote is persisted (ready contract).
            self._send(resp_type, m.frm, term=m.term)
            if m.type == MT.VOTE:
                self.election_elapsed = 0
                self.vote = m.frm
        else:
            self._send(resp_type, m.frm, term=self.term, reject=True)

    def _step_follower(self, m: Message) -> None:
        t = m.type
        if t == MT.PROP:
            if self.lead == NONE:
                raise ProposalDroppedError("no leader")
            self.msgs.append(Message(MT.PROP, to=self.lead, frm=self.id, entries=m.entries))
        elif t == MT.APP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_append_entries(m)
        elif t == MT.HEARTBEAT:
            self.election_elapsed = 0
            self.lead = m.frm
            self.raft_log.commit_to(m.commit)
            self._send(MT.HEARTBEAT_RESP, m.frm, context=m.context)
        elif t == MT.SNAP:
            self.election_elapsed = 0
            self.lead = m.frm
            self._handle_snapshot(m)
        elif t == MT.TRANSFER_LEADER:
            if self.lead == NONE:
                self.logger.info("raft %d: no leader to forward transfer to", self.id)
                return
            self.msgs.append(Message(MT.TRANSFER_LEADER, to=self.lead, frm=m.frm))
        elif t == MT.TIMEOUT_NOW:
            self.logger.info("raft %d: TimeoutNow from %d, campaigning for transfer", self.id, m.frm)
            self._hup(transfer=True)
        elif t == MT.READ_INDEX:
            if self.lead == NONE:
                raise ProposalDroppedError("no leader to serve a read index")
            self.msgs.append(Message(MT.READ_INDEX, to=self.lead, frm=self.id, context=m.context))
        elif t == MT.READ_INDEX_RESP:
            self.read_states.append(ReadState(m.index, m.context))

    def _step_candidate(self, m: Message) -> None:
        t = m.type
        my_resp = MT.PRE_VOTE_RESP if self.state == StateType.PRE_CANDIDATE else MT.VOTE_RESP
        if t == MT.PROP:
            raise ProposalDroppedError("no leader (election in progress)")
        if t == MT.READ_INDEX:
            raise ProposalDroppedError("no leader (election in progress)")
        if t in (MT.APP, MT.HEARTBEAT, MT.SNAP):
            self.become_follower(m.term, m.frm)
            self._step_follower(m)
        elif t == my_resp:
            self.votes.setdefault(m.frm, not m.reject)
            result = vote_result(self.voters, self.votes)
            if result == VoteResult.WON:
                if self.state == StateType.PRE_CANDIDATE:
                    self._campaign(pre_vote=False, transfer=False)
                else:
                    self.become_leader()
                    self.bcast_append()
            elif result == VoteResult.LOST:
                self.become_follower(self.term, NONE)

    def _step_leader(self, m: Message) -> None:
        t = m.type
        if t == MT.BEAT:
            self._bcast_heartbeat()
            return
        if t == MT.CHECK_QUORUM:
            if not self._quorum_active():
                self.logger.warning("raft %d steps down: no quorum heard from in an election timeout", self.id)
                self.become_follower(self.term, NONE)
            return
        if t == MT.PROP:
            self._accept_proposal(list(m.entries))
            return
        if t == MT.READ_INDEX:
            self._handle_read_index(m)
            return
        pr = self.prs.get(m.frm)
        if pr is None:
            return
        if t == MT.APP_RESP:
            self._handle_append_response(m, pr)
        elif t == MT.HEARTBEAT_RESP:
            pr.recent_active = True
            pr.probe_sent = False
            if pr.state == ProgressState.REPLICATE and pr.inflights.full():
                pr.inflights.free_first_one()
            if pr.match < self.raft_log.last_index():
                self._send_append_all(m.frm)
            if m.context:
                self._handle_read_ack(m)
        elif t == MT.TRANSFER_LEADER:
            self._handle_transfer_leader(m.frm, pr)

    # -- leader handlers ------------------------------------------------------

    def _accept_proposal(self, entries: list[Entry]) -> None:
        if not entries:
            raise RaftInvariantError("proposal with no entries")
        if self.id not in self.prs:
            raise ProposalDroppedError("this node was removed from the cluster")
        if self.lead_transferee != NONE:
            raise ProposalDroppedError(f"leadership is being transferred to {self.lead_transferee}")
        for i, entry in enumerate(entries):
            if entry.type == EntryType.CONF_CHANGE:
                if self.pending_conf_index > self.raft_log.applied:
                    raise ProposalDroppedError(
                        "a configuration change is pending (or this leader has not applied an entry "
                        "of its term yet); retry after it is applied"
                    )
                self.pending_conf_index = self.raft_log.last_index() + i + 1
        self._append_entries(entries)
        self._needs_broadcast = True

    def _append_entries(self, entries: Sequence[Entry]) -> None:
        last = self.raft_log.last_index()
        term = self.term
        self.raft_log.append([Entry(term, last + 1 + i, e.type, e.data) for i, e in enumerate(entries)])

    def append_data(self, datas: Sequence[bytes]) -> None:
        """Leader fast path for a batch of normal proposals."""
        if self.lead_transferee != NONE:
            raise ProposalDroppedError(f"leadership is being transferred to {self.lead_transferee}")
        if self.id not in self.prs:
            raise ProposalDroppedError("this node was removed from the cluster")
        start = self.raft_log.last_index() + 1
        term = self.term
        self.raft_log.append([Entry(term, start + i, EntryType.NORMAL, d) for i, d in enumerate(datas)])
        self._needs_broadcast = True

    def _handle_append_response(self, m: Message, pr: Progress) -> None:
        pr.recent_active = True
        if m.reject:
            next_probe = m.reject_hint
            if m.log_term > 0:
                next_probe, _ = self.raft_log.find_conflict_by_term(m.reject_hint, m.log_term)
            if pr.maybe_decr_to(m.index, next_probe):
                if pr.state == ProgressState.REPLICATE:
                    pr.become_probe()
                self._send_append(m.frm)
            return
        was_paused = pr.is_paused()
        # A probe answered at exactly the match already known (a follower
        # that was caught up when the leader fell back to probing, after a
        # reconnect) is news too: the follower is in step, so replicate.
        if not pr.maybe_update(m.index) and not (pr.match == m.index and pr.state == ProgressState.PROBE):
            return
        if pr.state == ProgressState.PROBE:
            pr.become_replicate()
        elif pr.state == ProgressState.SNAPSHOT and pr.match >= pr.pending_snapshot:
            pr.become_probe()
            pr.become_replicate()
        elif pr.state == ProgressState.REPLICATE:
            pr.inflights.free_le(m.index)
        if self._maybe_commit():
            self.bcast_append()
        elif was_paused:
            # The follower was waiting on us; even an empty append tells it
            # the current commit index.
            self._send_append(m.frm)
        # Pipelining: whatever the follower still lacks, as far as its
        # window allows. Nothing empty: the commit index did not move.
        while self._send_append(m.frm, send_if_empty=False):
            pass
        if m.frm == self.lead_transferee and pr.match == self.raft_log.last_index():
            self.logger.info("raft %d: transferee %d caught up, sending TimeoutNow", self.id, m.frm)
            self._send(MT.TIMEOUT_NOW, m.frm)

    def on_persisted(self, index: int, term: int) -> None:
        """The caller persisted the log up to ``index``/``term``. The leader
        counts its own entries toward commit only now."""
        if self.state != StateType.LEADER or term != self.term:
            return
        own = self.prs.get(self.id)
        if own is not None and self.raft_log.match_term(index, term) and own.maybe_update(index):
            if self._maybe_commit():
                self.bcast_append()

    def _maybe_commit(self) -> bool:
        match = {node_id: pr.match for node_id, pr in self.prs.items()}
        committed_before = self.raft_log.committed
        if not self.raft_log.maybe_commit(committed_index(self.voters, match), self.term):
            return False
        if self.raft_log.term_or_zero(committed_before) != self.term:
            self._release_pending_read_index_messages()
        return True

    def committed_entry_in_current_term(self) -> bool:
        return self.raft_log.term_or_zero(self.raft_log.committed) == self.term

    def _quorum_active(self) -> bool:
        active = {node_id: (node_id == self.id or pr.recent_active) for node_id, pr in self.prs.items()}
        for node_id, pr in self.prs.items():
            if node_id != self.id:
                pr.recent_active = False
        return vote_result(self.voters, active) == VoteResult.WON

    def _handle_read_index(self, m: Message) -> None:
        if not self.committed_entry_in_current_term():
            # Our commit index may be stale until an entry of this term commits
            # (thesis §6.4 step 1): hold the request until then.
            self.pending_read_index_messages.append(m)
            return
        if self.voters == {self.id}:
            self._respond_read_index(m, self.raft_log.committed)
            return
        self.read_only.add_request(self.raft_log.committed, m)
        self.read_only.recv_ack(self.id, m.context)
        self._bcast_heartbeat()

    def _release_pending_read_index_messages(self) -> None:
        pending, self.pending_read_index_messages = self.pending_read_index_messages, []
        for m in pending:
            self._handle_read_index(m)

    def _handle_read_ack(self, m: Message) -> None:
        acks = self.read_only.recv_ack(m.frm, m.context)
        if acks is None:
            return
        if vote_result(self.voters, {node_id: True for node_id in acks}) != VoteResult.WON:
            return
        for status in self.read_only.advance(m.context):
            self._respond_read_index(status.request, status.index)

    def _respond_read_index(self, request: Message, index: int) -> None:
        if request.frm in (NONE, self.id):
            self.read_states.append(ReadState(index, request.context))
        else:
            self._send(MT.READ_INDEX_RESP, request.frm, index=index, context=request.context)

    def _handle_transfer_leader(self, transferee: int, pr: Progress) -> None:
        if pr.is_learner:
            self.logger.info("raft %d ignores transfer to learner %d", self.id, transferee)
            return
        if self.lead_transferee == transferee or transferee == self.id:
            return
        self.logger.info("raft %d starts transferring leadership to %d", self.id, transferee)
        # The transfer must finish within an election timeout or it is aborted.
        self.election_elapsed = 0
        self.lead_transferee = transferee
        if pr.match == self.raft_log.last_index():
            self._send(MT.TIMEOUT_NOW, transferee)
        else:
            self._send_append(transferee)

    # -- follower handlers ------------------------------------------------------

    def _handle_append_entries(self, m: Message) -> None:
        if m.index < self.raft_log.committed:
            self._send(MT.APP_RESP, m.frm, index=self.raft_log.committed)
            return
        last_new = self.raft_log.maybe_append(m.index, m.log_term, m.commit, m.entries)
        if last_new is not None:
            self._send(MT.APP_RESP, m.frm, index=last_new)
            return
        # Fast backtracking (§5.3 optimization): tell the leader the last index
        # that could match, and our term there, so it can skip a whole term.
        hint_index = min(m.index, self.raft_log.last_index())
        hint_index, hint_term = self.raft_log.find_conflict_by_term(hint_index, m.log_term)
        self._send(
            MT.APP_RESP, m.frm, index=m.index, reject=True, reject_hint=hint_index, log_term=hint_term
        )

    def _handle_snapshot(self, m: Message) -> None:
        snapshot = m.snapshot
        if snapshot is None:
            raise RaftInvariantError("SNAP message without a snapshot")
        if self._restore(snapshot):
            self._send(MT.APP_RESP, m.frm, index=self.raft_log.last_index())
        else:
            self._send(MT.APP_RESP, m.frm, index=self.raft_log.committed)

    def _restore(self, snapshot: Snapshot) -> bool:
        meta = snapshot.metadata
        if meta.index <= self.raft_log.committed:
            return False
        if self.raft_log.match_term(meta.index, meta.term):
            # We already hold the snapshot's entries: just fast-forward commit.
            self.raft_log.commit_to(meta.index)
            return False
        self.raft_log.restore(snapshot)
        self._apply_conf_state(meta.conf_state)
        return True

    def applied_to(self, index: int) -> None:
        self.raft_log.applied_to(index)
