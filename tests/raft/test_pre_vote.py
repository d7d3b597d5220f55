"""Pre-vote (thesis §9.6): a node coming back from a partition does not
bump the cluster's term or depose a healthy leader."""
from __future__ import annotations

import pytest

from consensus.raft.messages import MessageType as MT, StateType

from .harness import Network, of_type

ELECTION_TICK = 10


def partition_and_rejoin(net: Network) -> int:
    """Elect 1, keep 3 partitioned away for 10 election timeouts while the
    others commit, heal, run 3 more election timeouts; return 1's old term."""
    net.elect(1)
    term = net.term(1)
    net.isolate(3)
    for i in range(10):
        net.propose(1, f"during{i}".encode())
        net.tick_all(ELECTION_TICK)
    assert net.leaders() == [1]
    net.heal()
    net.tick_all(3 * ELECTION_TICK)
    return term


@pytest.mark.parametrize("check_quorum", [True, False])
def test_rejoining_node_does_not_disrupt_with_pre_vote(check_quorum):
    """The partitioned node campaigned (pre-vote) many times but never moved
    its term; on rejoining, the term and the leader are unchanged."""
    net = Network(3, election_tick=ELECTION_TICK, pre_vote=True, check_quorum=check_quorum)
    term = partition_and_rejoin(net)
    assert len(net.sent_messages(of_type(MT.PRE_VOTE, frm=3))) >= 5, "node 3 should have tried to campaign"
    assert net.sent_messages(of_type(MT.VOTE, frm=3)) == []
    assert [net.term(i) for i in (1, 2, 3)] == [term] * 3
    assert net.leaders() == [1]
    assert net.node(3).leader_id == 1 and net.state(3) == StateType.FOLLOWER
    assert net.applied[3] == net.applied[1] and len(net.applied[1]) == 10


def test_rejoining_node_disrupts_without_pre_vote():
    """Control: with pre_vote and check_quorum off, the same scenario forces
    the cluster into a higher term (the node's repeated elections), which
    shows the test above detects the difference."""
    net = Network(3, election_tick=ELECTION_TICK, pre_vote=False, check_quorum=False)
    term = partition_and_rejoin(net)
    assert len(net.sent_messages(of_type(MT.VOTE, frm=3))) >= 5
    assert net.term(net.leader()) > term
    # Its stale log still kept it from winning (§5.4.1), and nothing was lost.
    assert net.leader() != 3
    assert net.applied[3] == net.applied[1] and len(net.applied[1]) == 10
