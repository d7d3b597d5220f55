"""Figures 7 and 8 of the Raft paper (Ongaro & Ousterhout, 2014), built explicitly."""
from __future__ import annotations

import pytest

from consensus.raft.messages import MessageType as MT, StateType

from .harness import Network, entry_data, of_type, preloaded_storage

# Figure 7: the leader's log (it is about to lead term 8) and followers (a)-(f).
FIGURE7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]
FIGURE7_FOLLOWERS = {
    "a": [1, 1, 1, 4, 4, 5, 5, 6, 6],  # missing an entry
    "b": [1, 1, 1, 4],  # missing many
    "c": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6],  # an extra uncommitted entry
    "d": [1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7],  # extra entries of a later term
    "e": [1, 1, 1, 4, 4, 4, 4],  # missing entries, and extra ones of term 4
    "f": [1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3],  # a leader of terms 2 and 3 that never committed
}


def figure7_network() -> Network:
    """Leader is node 1; followers (a)-(f) are nodes 2-7 (7 voters)."""
    voters = tuple(range(1, 8))
    storages = {1: preloaded_storage(FIGURE7_LEADER, voters=voters, term=7)}
    for node_id, terms in enumerate(FIGURE7_FOLLOWERS.values(), start=2):
        storages[node_id] = preloaded_storage(terms, voters=voters, term=max(terms))
    return Network(storages=storages)


def test_figure7_every_follower_ends_with_the_leaders_log():
    """Each follower's log becomes exactly the leader's: conflicting suffixes
    are truncated, missing entries filled in. The leader of term 8 adds its
    own empty entry at index 11 (our leaders append one on election)."""
    net = figure7_network()
    net.elect(1)
    assert net.term(1) == 8
    net.stabilize()

    expected_terms = FIGURE7_LEADER + [8]
    assert net.log_terms(1) == expected_terms
    for node_id, name in enumerate(FIGURE7_FOLLOWERS, start=2):
        assert net.log_terms(node_id) == expected_terms, f"follower ({name})"
        # Same entries, not just same terms: data written by the old leaders.
        entries = net.log_entries(node_id, start=2)
        assert [e.data for e in entries[:-1]] == [entry_data(i, t) for i, t in enumerate(FIGURE7_LEADER[1:], 2)]
        assert net.commit(node_id) == 11, f"follower ({name})"
    # Every follower applied the same sequence as the leader.
    assert all(net.applied[i] == net.applied[1] for i in range(2, 8))


def test_figure7_votes_follow_the_election_restriction():
    """(c) and (d) have more up-to-date logs and refuse the leader; the rest vote for it."""
    net = figure7_network()
    net.campaign(1)
    net.stabilize()
    answers = {m.frm: m.reject for m in net.sent_messages(of_type(MT.VOTE_RESP, to=1))}
    assert answers == {2: False, 3: False, 4: True, 5: True, 6: False, 7: False}


# Figure 8. Common prefix: indices 1-5 hold the bootstrap membership (term 1).
# The paper's "index 2" is our index 6.
IDX = 6


def figure8_network() -> Network:
    """5 nodes, basic Raft (no pre-vote/check-quorum, as in the paper), and
    one entry per append message so the leader's entries can be held apart."""
    return Network(5, pre_vote=False, check_quorum=False, max_size_per_msg=1)


def build_figure8_c(net: Network) -> None:
    """Drive the cluster to Figure 8 (c): S1 leads term 4 and has just
    replicated its term-2 entry at IDX to S3; S1, S2, S3 hold it."""
    # (a) S1 leads term 2 and replicates its term-2 entry at IDX to S2 only.
    net.drop(lambda m: m.type == MT.APP and m.frm == 1 and m.to in (3, 4, 5))
    net.elect(1)
    assert net.term(1) == 2
    net.stabilize()
    net.heal()
    assert [net.storages[i].term(IDX) if net.last_index(i) >= IDX else None for i in range(1, 6)] == [
        2, 2, None, None, None,
    ]
    assert net.commit(1) < IDX
    # (b) S1 crashes; S5 wins term 3 with votes from S3, S4 (S2's log is newer)
    # and appends a different entry at IDX, which it never sends.
    net.crash(1)
    net.drop(lambda m: m.type == MT.APP and m.frm == 5)
    net.elect(5)
    assert net.term(5) == 3
    assert net.storages[5].term(IDX) == 3
    net.heal()
    net.crash(5)
    # (c) S1 restarts and is elected for term 4 (S3, S4 voted in term 3 already,
    # so its first try at term 3 fails). Its term-4 entry goes at IDX + 1.
    net.restart(1)
    net.campaign(1)
    net.stabilize()
    assert net.term(1) == 3 and net.state(1) != StateType.LEADER
    # Now replicate the term-2 entry to S3 and S4, but hold back every append
    # that would give a follower a term-4 entry: that is what lets the old
    # entry reach a majority before anything of the current term does.
    # (Probes that a follower rejects still pass, so the leader finds where
    # S3's and S4's logs end.)

    def gives_term4_entry(m):
        """An append carrying a term-4 entry that its recipient would accept."""
        if m.type != MT.APP or not any(e.term == 4 for e in m.entries):
            return False
        storage = net.storages[m.to]
        return storage.last_index() >= m.index and storage.term(m.index) == m.log_term

    holds_term4 = net.drop(gives_term4_entry)
    net.elect(1)
    assert net.term(1) == 4
    net.stabilize()
    net.undrop(holds_term4)


def test_figure8_old_term_entry_is_not_committed_by_counting_replicas():
    """§5.4.2: an entry of term 2 stored on a majority (S1, S2, S3, S4) is not
    committed by the leader of term 4; it is committed only once an entry of
    term 4 is."""
    net = figure8_network()
    build_figure8_c(net)

    holders = [i for i in range(1, 6) if net.last_index(i) >= IDX and net.storages[i].term(IDX) == 2]
    assert holders == [1, 2, 3, 4], "the term-2 entry should be on a majority"
    assert net.log_terms(1, IDX) == [2, 4]
    assert all(net.last_index(i) == IDX for i in (2, 3, 4)), "no follower may have the term-4 entry yet"
    # The leader knows the majority holds it ...
    progress = net.node(1).status().progress
    assert sorted(progress[i].match for i in (1, 3, 4)) == [IDX, IDX, IDX + 1]
    # ... and still does not commit it: it is not of the current term.
    assert net.commit(1) < IDX
    assert all(net.applied_index[i] < IDX for i in (1, 2, 3, 4))

    # Let the term-4 entry through: once it is committed, so is the term-2 one.
    net.tick(1)  # a heartbeat lets the leader resume sending to S2, S3, S4
    net.stabilize()
    assert net.commit(1) == IDX + 1
    for i in (1, 2, 3, 4):
        assert net.log_terms(i, IDX) == [2, 4]
        assert net.applied_index[i] == IDX + 1


def test_figure8_why_the_rule_matters():
    """Figure 8 (d): had the term-2 entry counted as committed, S5 could still
    be elected (its last term 3 beats the others' last term 2) and overwrite
    it everywhere. So the leader must not have reported it committed."""
    net = figure8_network()
    build_figure8_c(net)
    assert net.commit(1) < IDX
    net.crash(1)
    net.restart(5)
    net.campaign(5)  # term 4: S2, S3, S4 voted for S1 in term 4 already
    net.stabilize()
    net.elect(5)  # term 5
    net.stabilize()
    for i in (2, 3, 4, 5):
        assert net.storages[i].term(IDX) == 3, f"S{i}"
    assert net.commit(5) > IDX
