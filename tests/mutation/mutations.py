"""Known-wrong changes to the consensus code, each one a rule of Raft or of
the runtime broken on purpose. The mutation gate (``tests.mutation``)
applies each to a copy of the tree and proves that the tests fail.

Each mutation names the exact text it replaces (it must occur once, so a
refactoring that moves the code makes the gate fail loudly rather than
test nothing), and the tests that must catch it: ``sim_seeds`` seeds of the
simulation, and ``tests`` beside it (the unit test that pins the rule)."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Mutation:
    name: str
    rule: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...] = ()
    # Seeds of the simulation the small gate (the default test run) runs: it
    # must catch the mutation within them. 0: the small gate leaves it to the
    # listed tests (the simulation may still catch it, more rarely: the full
    # gate, ``python -m tests.mutation --count``, reports how often).
    sim_seeds: int = 0


MUTATIONS = (
    Mutation(
        "commit-older-term",
        "a leader commits an entry of an earlier term by counting replicas (Figure 8, §5.4.2)",
        "consensus/raft/raft_log.py",
        "if max_index > self.committed and self.term_or_zero(max_index) == term:",
        "if max_index > self.committed:",
        tests=("tests/raft/test_paper_figures.py",),
        sim_seeds=300,
    ),
    Mutation(
        "double-vote",
        "a node grants two votes in one term (§5.2)",
        "consensus/raft/raft.py",
        "            self.vote == m.frm\n            or (self.vote == NONE and self.lead == NONE)",
        "            True\n            or (self.vote == NONE and self.lead == NONE)",
        tests=("tests/raft/test_election.py",),
        sim_seeds=100,
    ),
    Mutation(
        "no-truncate",
        "a follower keeps a conflicting suffix instead of truncating it (§5.3)",
        "consensus/raft/raft_log.py",
        "            if entry.index > last or not self.match_term(entry.index, entry.term):",
        "            if entry.index > last:",
        tests=("tests/raft/test_replication.py",),
        sim_seeds=100,
    ),
    Mutation(
        "overlapping-conf-changes",
        "a leader accepts a configuration change while another is pending, or before an entry of its "
        "own term is applied (one change at a time, with Ongaro's fix)",
        "consensus/raft/raft.py",
        "                if self.pending_conf_index > self.raft_log.applied:",
        "                if False:",
        tests=("tests/raft/test_membership.py",),
    ),
    Mutation(
        "self-count-before-persist",
        "a leader counts its own entries toward commit before they are persisted",
        "consensus/raft/raft.py",
        "        self.raft_log.append([Entry(term, start + i, EntryType.NORMAL, d) for i, d in enumerate(datas)])\n",
        "        self.raft_log.append([Entry(term, start + i, EntryType.NORMAL, d) for i, d in enumerate(datas)])\n"
        "        self.prs[self.id].maybe_update(self.raft_log.last_index())\n"
        "        self._maybe_commit()\n",
        tests=("tests/raft/test_replication.py",),
    ),
    Mutation(
        "send-before-term-durable",
        "a message of a new term leaves before the term and vote are durable (issue 16, defect 1)",
        "consensus/runtime/ready_steps.py",
        "    early = is_leader and not new_term_or_vote(rd)",
        "    early = is_leader",
        tests=("tests/runtime/test_ready_steps.py",),
        sim_seeds=300,
    ),
    Mutation(
        "early-read-index",
        "ReadIndex served before an entry of the leader's term has committed (thesis §6.4)",
        "consensus/raft/raft.py",
        "        if not self.committed_entry_in_current_term():\n            # Our commit index may be stale",
        "        if False:\n            # Our commit index may be stale",
        tests=("tests/raft/test_read_index.py",),
        sim_seeds=100,
    ),
    Mutation(
        "wal-accepts-bad-checksum",
        "WAL recovery takes a bad checksum in the middle of the log for a torn tail and cuts the log there",
        "consensus/storage/segment.py",
        "        if not is_last:\n            raise WALCorruptionError(",
        "        if False:\n            raise WALCorruptionError(",
        tests=("tests/storage/test_wal.py",),
    ),
    Mutation(
        "lease-deadlines-kept-by-new-leader",
        "a new leader does not give every lease a fresh deadline (it counts none, or an earlier term's)",
        "consensus/mvcc/replicated_store.py",
        "            self.clock.reset(self.machine.leases(), self.now())\n"
        "            self.clock.promote(self.now(), extend=self.node.election_timeout_s)\n",
        "            pass\n",
        tests=("tests/node/test_member_store.py",),
    ),
)
