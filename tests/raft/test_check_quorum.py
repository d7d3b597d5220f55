"""Check-quorum (thesis §6.2) and the leader lease against disruptive
candidates (§4.2.3); a partitioned old leader can neither commit nor linger."""
from __future__ import annotations

from consensus.raft.messages import MessageType as MT, StateType

from .harness import Network, of_type

ELECTION_TICK = 10


def ticks_until_not_leader(net: Network, node_id: int, limit: int) -> int:
    """Tick the node alone (stabilizing between ticks) until it stops leading."""
    for n in range(1, limit + 1):
        net.tick(node_id)
        net.stabilize()
        if net.state(node_id) != StateType.LEADER:
            return n
    raise AssertionError(f"node {node_id} still leads after {limit} ticks")


def test_leader_without_quorum_steps_down():
    """A leader that hears from no quorum for a whole election timeout
    becomes a follower: the check after the isolation fails."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.isolate(1)
    # The first check may still count answers from before the isolation; the
    # one after it sees a full election timeout of silence.
    n = ticks_until_not_leader(net, 1, 10 * ELECTION_TICK)
    assert n <= 2 * ELECTION_TICK
    assert net.state(1) == StateType.FOLLOWER
    assert net.term(1) == 2  # stepping down does not start an election


def test_leader_with_quorum_stays():
    """A leader that keeps hearing from one follower of two keeps leading."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.isolate(3)
    for _ in range(5 * ELECTION_TICK):
        net.tick(1)
        net.tick(2)
        net.stabilize()
    assert net.state(1) == StateType.LEADER
    assert net.term(1) == 2


def test_without_check_quorum_an_isolated_leader_lingers():
    """Control for the test above: with check_quorum off the same leader never steps down."""
    net = Network(3, election_tick=ELECTION_TICK, check_quorum=False)
    net.elect(1)
    net.isolate(1)
    net.tick(1, 5 * ELECTION_TICK)
    net.stabilize()
    assert net.state(1) == StateType.LEADER


def test_follower_in_lease_ignores_disruptive_candidate():
    """A follower that heard from the leader within the election timeout
    ignores a vote request for a higher term: no answer, no term change."""
    net = Network(3, election_tick=ELECTION_TICK, pre_vote=False, check_quorum=True)
    net.elect(1)
    net.tick_all(ELECTION_TICK // 2)  # heartbeats flowing
    net.campaign(3)  # a disruptive node (e.g. just back from a partition)
    net.flush()
    assert net.term(3) == 3
    net.deliver(of_type(MT.VOTE, frm=3))
    net.flush()
    assert net.pending_messages(of_type(MT.VOTE_RESP, to=3)) == []
    assert net.term(2) == 2 and net.storages[2].hard_state.vote == 1
    assert net.term(1) == 2 and net.state(1) == StateType.LEADER


def test_follower_out_of_lease_considers_vote_request():
    """Control: once the follower has not heard from a leader for an election
    timeout, the same request is answered (and granted: the log is as good)."""
    net = Network(3, election_tick=ELECTION_TICK, pre_vote=False, check_quorum=True)
    net.elect(1)
    net.isolate(1)
    net.tick(2, ELECTION_TICK)  # 2's randomized timeout is ≥ ELECTION_TICK: it has not campaigned
    net.flush()
    assert net.pending_messages() == [] and net.term(2) == 2
    net.campaign(3)
    net.flush()
    net.deliver(of_type(MT.VOTE, frm=3, to=2))
    net.flush()
    [answer] = net.pending_messages(of_type(MT.VOTE_RESP, frm=2, to=3))
    assert not answer.reject and net.term(2) == 3


def test_partitioned_old_leader_cannot_commit():
    """Leader 1 of 5 is isolated and given a proposal: it is never committed
    or applied anywhere, 1 steps down within its quorum check, the majority
    elects a new leader and commits, and after healing 1's entry is
    overwritten."""
    net = Network(5, election_tick=ELECTION_TICK)
    net.elect(1)
    net.propose(1, b"before")
    net.stabilize()
    commit_before = net.commit(1)
    net.isolate(1)
    net.propose(1, b"lost")
    net.stabilize()
    assert net.storages[1].entries(net.last_index(1), net.last_index(1) + 1)[0].data == b"lost"

    stepped_down_after = None
    for n in range(1, 4 * ELECTION_TICK + 1):
        net.tick_all(1)
        assert net.commit(1) == commit_before, "an isolated leader advanced its commit"
        if stepped_down_after is None and net.state(1) != StateType.LEADER:
            stepped_down_after = n
    assert stepped_down_after is not None and stepped_down_after <= 2 * ELECTION_TICK
    new_leader = net.leader()
    assert new_leader != 1 and net.term(new_leader) > 2
    net.propose(new_leader, b"kept")
    net.stabilize()

    net.heal()
    net.tick_all(2 * ELECTION_TICK)
    for i in range(1, 6):
        assert net.applied[i] == [b"before", b"kept"], f"node {i}"
        assert b"lost" not in [e.data for e in net.log_entries(i)]
    assert net.leader() == new_leader
