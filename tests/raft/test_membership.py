"""Membership changes, one node at a time (thesis §4.1, with the 2015 errata
rule: no change before an entry of the leader's term is applied)."""
from __future__ import annotations

import pytest

from consensus.raft.messages import ConfChange, ConfChangeType, ConfState, MessageType as MT, StateType
from consensus.raft.raft import ProposalDroppedError

from .harness import Network, of_type

ELECTION_TICK = 10
ADD_NODE, REMOVE_NODE, ADD_LEARNER = ConfChangeType.ADD_NODE, ConfChangeType.REMOVE_NODE, ConfChangeType.ADD_LEARNER
CAMPAIGNS = of_type(MT.PRE_VOTE, MT.VOTE)


def change(net: Network, leader: int, kind: ConfChangeType, node_id: int) -> None:
    """Propose one membership change on the leader and let it apply everywhere."""
    if kind == ADD_LEARNER:
        net.add_node(node_id)
    net.propose_conf_change(leader, ConfChange(kind, node_id))
    net.stabilize()


def cluster_with_learners() -> Network:
    """Voters 1-3 (1 leads, "a" applied) plus learners 4 and 5, caught up."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    change(net, 1, ADD_LEARNER, 4)
    change(net, 1, ADD_LEARNER, 5)
    return net


def test_learner_receives_the_log():
    """A learner added with an empty log gets everything, membership included."""
    net = cluster_with_learners()
    assert net.conf_states[1] == ConfState((1, 2, 3), (4, 5))
    for learner in (4, 5):
        assert net.applied[learner] == [b"a"]
        assert net.log_entries(learner) == net.log_entries(1)
        assert net.conf_states[learner] == ConfState((1, 2, 3), (4, 5))
    net.propose(1, b"b")
    net.stabilize()
    assert net.applied[4] == net.applied[5] == [b"a", b"b"]


def test_learners_do_not_count_toward_commit():
    """With voters 2 and 3 cut off, the leader and two learners (3 of 5
    nodes, but 1 of 3 voters) hold an entry that is not committed."""
    net = cluster_with_learners()
    commit = net.commit(1)
    net.cut(1, 2)
    net.cut(1, 3)
    net.propose(1, b"x")
    net.stabilize()
    for learner in (4, 5):
        assert net.log_entries(learner)[-1].data == b"x"
    assert net.commit(1) == commit
    assert all(b"x" not in net.applied[i] for i in range(1, 6))


def test_learners_do_not_count_in_elections_and_never_campaign():
    """With voters 1 and 2 down, voter 3 and the two learners cannot elect
    anyone; the learners never even ask for votes."""
    net = cluster_with_learners()
    net.crash(1)
    net.crash(2)
    net.tick_all(10 * ELECTION_TICK)
    assert net.leaders() == []
    assert net.sent_messages(lambda m: CAMPAIGNS(m) and m.frm in (4, 5)) == []
    assert net.sent_messages(lambda m: CAMPAIGNS(m) and m.to in (4, 5)) == []
    assert net.sent_messages(lambda m: CAMPAIGNS(m) and m.frm == 3)


def test_promoted_learners_count():
    """Once promoted (ADD_NODE), the same partition commits, and the former
    learners elect a leader with voter 3."""
    net = cluster_with_learners()
    change(net, 1, ADD_NODE, 4)
    change(net, 1, ADD_NODE, 5)
    assert net.conf_states[1] == ConfState((1, 2, 3, 4, 5), ())
    assert net.conf_states[4] == ConfState((1, 2, 3, 4, 5), ())
    commit = net.commit(1)
    net.cut(1, 2)
    net.cut(1, 3)
    net.propose(1, b"x")
    net.stabilize()
    assert net.commit(1) > commit
    assert net.applied[4] == net.applied[5] == [b"a", b"x"]

    net.heal()
    net.crash(1)
    net.crash(2)
    net.tick_all(10 * ELECTION_TICK)
    assert len(net.leaders()) == 1 and net.leader() in (3, 4, 5)


def test_removed_follower_gets_nothing_and_quorum_shrinks():
    """After REMOVE_NODE 3 the leader sends 3 nothing more, and the quorum of
    {1, 2} is both of them."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    change(net, 1, REMOVE_NODE, 3)
    assert net.conf_states[1] == net.conf_states[2] == ConfState((1, 2), ())
    mark = len(net.sent)
    net.propose(1, b"x")
    net.stabilize()
    net.tick_all(3)
    assert net.sent_messages(lambda m: m.to == 3, since=mark) == []
    assert net.applied[2] == [b"x"] and net.applied[3] == []

    commit = net.commit(1)
    net.cut(1, 2)
    net.propose(1, b"y")
    net.stabilize()
    assert net.commit(1) == commit  # 1 of 2 voters is not a majority


def test_removed_node_does_not_campaign():
    """A node that applied its own removal never starts an election."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    change(net, 1, REMOVE_NODE, 3)
    assert net.conf_states[3] == ConfState((1, 2), ())
    net.crash(1)  # no leader left for 3 to hear from, either
    net.tick_all(10 * ELECTION_TICK)
    assert net.sent_messages(lambda m: CAMPAIGNS(m) and m.frm == 3) == []


def test_second_conf_change_is_refused_while_one_is_pending():
    """One change at a time: refused until the first is applied on the leader
    (committed is not enough)."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    net.add_node(4)
    net.add_node(5)
    net.propose_conf_change(1, ConfChange(ADD_LEARNER, 4))
    with pytest.raises(ProposalDroppedError):
        net.propose_conf_change(1, ConfChange(ADD_LEARNER, 5))
    net.flush([1])
    net.deliver(of_type(MT.APP, frm=1))
    net.flush([2, 3])
    net.deliver(of_type(MT.APP_RESP, to=1))
    assert net.commit(1) == net.last_index(1)  # committed, not yet applied
    with pytest.raises(ProposalDroppedError):
        net.propose_conf_change(1, ConfChange(ADD_LEARNER, 5))
    net.flush([1])  # applies it
    assert net.conf_states[1] == ConfState((1, 2, 3), (4,))
    net.propose_conf_change(1, ConfChange(ADD_LEARNER, 5))
    net.stabilize()
    assert net.conf_states[1] == ConfState((1, 2, 3), (4, 5))


def test_conf_change_is_refused_before_an_entry_of_the_leaders_term_is_applied():
    """A new leader accepts normal proposals at once, but no membership change
    until its empty entry is committed and applied."""
    net = Network(3)
    net.win_election_only(1)
    net.add_node(4)
    with pytest.raises(ProposalDroppedError):
        net.propose_conf_change(1, ConfChange(ADD_LEARNER, 4))
    net.propose(1, b"normal")
    net.deliver(of_type(MT.APP, frm=1))
    net.flush([2, 3])
    net.deliver(of_type(MT.APP_RESP, to=1))
    assert net.storages[1].term(net.commit(1)) == net.term(1)  # committed, not yet applied
    with pytest.raises(ProposalDroppedError):
        net.propose_conf_change(1, ConfChange(ADD_LEARNER, 4))
    net.stabilize()
    net.propose_conf_change(1, ConfChange(ADD_LEARNER, 4))
    net.stabilize()
    assert net.conf_states[1] == ConfState((1, 2, 3), (4,))
    assert net.applied[4] == [b"normal"]


def test_removed_leader_steps_down_and_the_rest_elect_a_leader():
    """The leader removes itself: once applied it hands leadership over or,
    failing that within an election timeout, steps down; it never
    campaigns, and the remaining two elect a leader and make progress."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    change(net, 1, REMOVE_NODE, 1)
    assert net.conf_states[2] == net.conf_states[3] == ConfState((2, 3), ())
    mark = len(net.sent)
    net.tick_all(10 * ELECTION_TICK)
    assert net.state(1) == StateType.FOLLOWER
    assert net.sent_messages(lambda m: CAMPAIGNS(m) and m.frm == 1, since=mark) == []
    new_leader = net.leader()
    assert new_leader in (2, 3)
    net.propose(new_leader, b"x")
    net.stabilize()
    assert net.applied[2] == net.applied[3] == [b"x"]
    assert net.applied[1] == []


def test_a_removed_leader_keeps_leading_until_the_last_voter_knows_the_removal_committed():
    """Two voters; leader 1 commits its own removal, and the appends that
    would tell 2 the new commit index are lost. Were 1 to step down at
    once, 2, under the old configuration, would need 1's vote, and 1 may
    stop for good (a removed member exits) or refuse it: 2 would wait
    forever (found by a 10,000-seed soak). So 1 keeps leading, without
    taking proposals, until it has handed leadership over or an election
    timeout passed (its heartbeats telling 2 the commit index meanwhile).
    Here 2 is up to date, so 1 hands over at once: 2 campaigns on
    TimeoutNow, wins with 1's vote, and commits the removal itself."""
    net = Network(2, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    lost = net.drop(lambda m: m.type == MT.APP and m.frm == 1 and m.commit > 0 and not m.entries)
    net.propose_conf_change(1, ConfChange(REMOVE_NODE, 1))
    removal = net.last_index(1)
    net.stabilize()
    net.undrop(lost)
    assert net.conf_states[1] == ConfState((2,), ())
    assert net.sent_messages(lambda m: m.type == MT.TIMEOUT_NOW and m.frm == 1 and m.to == 2)
    assert net.leaders() == [2] and net.state(1) == StateType.FOLLOWER
    assert net.commit(2) > removal and net.conf_states[2] == ConfState((2,), ())
    net.crash(1)  # removed: it leaves
    net.propose(2, b"y")
    net.stabilize()
    assert net.applied[2][-1] == b"y"


def test_a_removed_leader_whose_hand_over_fails_steps_down_after_an_election_timeout():
    """The TimeoutNow is lost too: 1 keeps leading (refusing proposals) and
    its heartbeats tell 2 the removal committed; after an election timeout
    1 steps down, and 2, now the only voter, elects itself."""
    net = Network(2, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    lost = net.drop(lambda m: m.frm == 1 and m.type == MT.TIMEOUT_NOW)
    net.propose_conf_change(1, ConfChange(REMOVE_NODE, 1))
    removal = net.last_index(1)
    net.stabilize()
    assert net.state(1) == StateType.LEADER
    with pytest.raises(ProposalDroppedError):
        net.propose(1, b"x")
    net.tick(1, 2)  # a heartbeat round carries the commit index
    net.stabilize()
    assert net.commit(2) >= removal and net.conf_states[2] == ConfState((2,), ())
    net.undrop(lost)
    net.tick_all(3 * ELECTION_TICK)
    net.stabilize()
    assert net.state(1) == StateType.FOLLOWER and net.leaders() == [2]
