"""Crash and restart from storage: term, vote, log and commit survive (§5.1:
currentTerm, votedFor and log[] are persistent state)."""
from __future__ import annotations

from consensus.raft.messages import MessageType as MT, StateType

from .harness import Network, of_type


def test_vote_survives_a_restart():
    """Node 3 voted for 1 in term 2 and restarted: it still refuses 2 in term 2."""
    net = Network(3, pre_vote=False, check_quorum=False)
    net.campaign(1)
    net.flush()
    net.deliver(of_type(MT.VOTE, frm=1, to=3))
    net.discard()
    net.flush([3])
    net.discard()  # the grant is lost: 1 does not win

    net.crash(3)
    raw = net.restart(3)
    assert (raw.status().term, raw.status().vote) == (2, 1)

    net.campaign(2)
    net.flush()
    assert net.term(2) == 2
    net.deliver(of_type(MT.VOTE, frm=2, to=3))
    net.flush([3])
    [answer] = net.pending_messages(of_type(MT.VOTE_RESP, frm=3, to=2))
    assert answer.reject, "node 3 voted twice in term 2 across a restart"
    assert net.storages[3].hard_state.vote == 1


def test_term_survives_a_restart():
    """A restarted node still rejects a candidate of an older term."""
    net = Network(3, pre_vote=False, check_quorum=False)
    net.elect(1)
    net.stabilize()
    net.crash(1)
    net.elect(2)  # term 3
    net.stabilize()
    net.crash(3)
    net.restart(3)
    assert net.term(3) == 3
    net.restart(1)  # still at term 2, it knows nothing of term 3
    assert net.term(1) == 2
    net.campaign(1)  # term 3: 3 already voted for 2 in term 3
    net.flush()
    net.deliver(of_type(MT.VOTE, frm=1, to=3))
    net.flush([3])
    [answer] = net.pending_messages(of_type(MT.VOTE_RESP, frm=3, to=1))
    assert answer.reject
    net.discard()


def test_restarted_node_keeps_log_commit_and_application():
    """The log, the commit index and (after re-applying) the application state
    come back; the node rejoins as a follower and keeps up."""
    net = Network(3)
    net.elect(1)
    for i in range(5):
        net.propose(1, f"v{i}".encode())
    net.stabilize()
    entries, commit, applied = net.log_entries(2), net.commit(2), list(net.applied[2])
    net.crash(2)
    raw = net.restart(2)
    assert net.log_entries(2) == entries
    assert raw.status().commit == commit
    assert net.applied[2] == applied
    assert net.state(2) == StateType.FOLLOWER
    net.propose(1, b"more")
    net.stabilize()
    assert net.applied[2] == applied + [b"more"]


def test_restarted_leader_comes_back_as_follower_in_the_same_term():
    """A crashed leader restarts as a follower of its old term; the cluster
    elects a leader and the old leader follows it."""
    net = Network(3, election_tick=10)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    net.crash(1)
    raw = net.restart(1)
    assert raw.status().state == StateType.FOLLOWER and raw.status().term == 2
    net.tick_all(50)
    leader = net.leader()
    net.propose(leader, b"y")
    net.stabilize()
    assert net.applied[1] == [b"x", b"y"]
