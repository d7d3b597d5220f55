"""Leader election (§5.2) and the election restriction (§5.4.1)."""
from __future__ import annotations

import pytest

from consensus.raft.messages import MessageType as MT, StateType

from .harness import Network, of_type, preloaded_storage

ELECTION_TICK = 10


def test_follower_campaigns_after_randomized_timeout_and_wins():
    """A follower that hears nothing campaigns after between election_tick and
    2*election_tick-1 ticks (randomized per seed), and wins."""
    timeouts = set()
    for seed in range(20):
        net = Network(3, seed=seed, election_tick=ELECTION_TICK)
        ticks = 0
        while not net.pending_messages(of_type(MT.PRE_VOTE, MT.VOTE, frm=1)):
            net.tick(1)
            net.flush()
            ticks += 1
            assert ticks < 2 * ELECTION_TICK, f"seed {seed}: no campaign after {ticks} ticks"
        assert ELECTION_TICK <= ticks <= 2 * ELECTION_TICK - 1, f"seed {seed}"
        timeouts.add(ticks)
        net.stabilize()
        assert net.leaders() == [1], f"seed {seed}"
        assert net.term(1) == 2
    # Randomized: with 20 seeds, the timeouts are not all the same (§5.2).
    assert len(timeouts) > 1


def test_follower_does_not_campaign_before_election_tick():
    """No node campaigns within its first election_tick - 1 ticks."""
    for seed in range(20):
        net = Network(3, seed=seed, election_tick=ELECTION_TICK)
        net.tick(1, ELECTION_TICK - 1)
        net.flush()
        assert net.pending_messages() == [], f"seed {seed}"


def test_at_most_one_vote_per_term():
    """A node that voted for 1 in term 2 rejects 2's request for term 2,
    and re-grants to 1 (an idempotent retry)."""
    net = Network(3, pre_vote=False, check_quorum=False)
    net.campaign(1)
    net.flush()
    net.deliver(of_type(MT.VOTE, frm=1, to=3))
    net.discard(of_type(MT.VOTE, frm=1))
    net.flush()
    assert net.storages[3].hard_state.term == 2
    assert net.storages[3].hard_state.vote == 1
    net.discard()  # 3's grant is lost: 1 stays a candidate

    net.campaign(2)  # also term 2
    net.flush()
    assert net.term(2) == 2
    net.deliver(of_type(MT.VOTE, frm=2, to=3))
    net.flush()
    [answer] = net.pending_messages(of_type(MT.VOTE_RESP, frm=3, to=2))
    assert answer.reject, "node 3 voted twice in term 2"
    assert net.storages[3].hard_state.vote == 1

    net.discard()
    net.campaign(1)  # 1 is a candidate at term 2: this starts term 3
    net.flush()
    assert net.term(1) == 3
    net.discard()


def test_vote_is_reissued_to_same_candidate():
    """A duplicated vote request from the candidate already voted for is granted again."""
    net = Network(3, pre_vote=False, check_quorum=False)
    net.campaign(1)
    net.flush()
    [request] = net.pending_messages(of_type(MT.VOTE, frm=1, to=3))
    net.deliver(of_type(MT.VOTE, frm=1, to=3))
    net.flush()
    net.discard()
    net.node(3).step(request)
    net.flush()
    [answer] = net.pending_messages(of_type(MT.VOTE_RESP, frm=3, to=1))
    assert not answer.reject


def test_vote_is_persisted_in_the_ready_that_carries_the_grant():
    """The grant and the hard state recording the vote leave in the same
    Ready, so the caller persists the vote before sending the grant."""
    net = Network(3)
    net.elect(1)
    for voter in (2, 3):
        grants = [
            rd for rd in net.readies(voter)
            if any(m.type == MT.VOTE_RESP and not m.reject for m in rd.messages)
        ]
        assert len(grants) == 1
        [rd] = grants
        assert rd.hard_state is not None
        assert (rd.hard_state.term, rd.hard_state.vote) == (2, 1)
        assert rd.must_sync


def test_candidate_term_is_persisted_before_its_vote_requests():
    """A candidate's new term and self-vote are in the Ready carrying its requests."""
    net = Network(3, pre_vote=False)
    net.campaign(1)
    net.flush()
    [rd] = net.readies(1)[-1:]
    assert any(m.type == MT.VOTE for m in rd.messages)
    assert rd.hard_state is not None and (rd.hard_state.term, rd.hard_state.vote) == (2, 1)


@pytest.mark.parametrize("pre_vote", [False, True])
def test_candidate_with_stale_log_cannot_win(pre_vote):
    """§5.4.1: node 3 missed committed entries; with the leader gone it cannot
    win against node 2, which has them. Node 2 can, and keeps them."""
    net = Network(3, pre_vote=pre_vote, check_quorum=False)
    net.elect(1)
    net.isolate(3)
    for i in range(3):
        net.propose(1, f"v{i}".encode())
    net.stabilize()
    assert net.applied[1] == net.applied[2] == [b"v0", b"v1", b"v2"]
    assert net.applied[3] == []
    net.crash(1)
    net.heal()

    for _ in range(3):
        net.campaign(3)
        net.stabilize()
        assert net.state(3) != StateType.LEADER
        assert net.state(2) == StateType.FOLLOWER
    assert net.storages[2].hard_state.vote != 3

    net.elect(2)
    net.propose(2, b"after")
    net.stabilize()
    assert net.applied[2] == net.applied[3] == [b"v0", b"v1", b"v2", b"after"]


def test_vote_rejected_when_candidate_has_lower_last_term_but_longer_log():
    """Up-to-date compares last term first, then length (§5.4.1)."""
    voters = (1, 2, 3)
    storages = {
        1: preloaded_storage([1, 1, 1, 1, 1], voters=voters, term=3),  # longer, older last term
        2: preloaded_storage([1, 2], voters=voters, term=3),  # shorter, newer last term
        3: preloaded_storage([1, 2], voters=voters, term=3),
    }
    net = Network(storages=storages, pre_vote=False, check_quorum=False)
    net.campaign(1)
    net.stabilize()
    assert net.state(1) != StateType.LEADER
    assert [m.reject for m in net.sent_messages(of_type(MT.VOTE_RESP, to=1))] == [True, True]
    net.elect(2)  # term 5: node 1's failed campaign moved everyone to term 4
    net.stabilize()
    assert net.log_terms(1) == net.log_terms(2) == [1, 2, 5]


def test_messages_from_an_older_term_are_not_acted_on():
    """§5.1: a deposed leader's append (older term) is refused: nothing is
    appended, the receiver keeps its leader, and its answer (carrying the
    newer term) makes the old leader step down."""
    net = Network(3, check_quorum=False)  # so that the cut-off leader keeps leading
    net.elect(1)
    net.stabilize()
    net.isolate(1)
    net.elect(2)
    assert net.term(2) == 3
    net.propose(1, b"stale")
    net.flush([1])
    net.heal()
    stale = net.pending_messages(of_type(MT.APP, frm=1, to=3))
    assert stale and stale[0].term == 2
    net.deliver(of_type(MT.APP, frm=1, to=3))
    net.flush([3])
    assert b"stale" not in [e.data for e in net.log_entries(3)]
    assert net.node(3).leader_id == 2 and net.term(3) == 3
    [answer] = net.pending_messages(of_type(MT.APP_RESP, frm=3, to=1))
    assert answer.term == 3
    net.stabilize()
    assert net.state(1) == StateType.FOLLOWER and net.term(1) == 3
    net.propose(2, b"fresh")
    net.tick_all(1)  # 2 still probes 1 (its appends to 1 were lost): a heartbeat resumes it
    assert net.applied[1] == net.applied[3] == [b"fresh"]
    assert b"stale" not in [e.data for e in net.log_entries(1)]
