"""ReadIndex (thesis §6.4): linearizable reads without writing to the log.

The harness also checks, for every released ReadState, that its index is
already applied on the node releasing it (the Ready contract)."""
from __future__ import annotations

from consensus.raft.messages import ConfChange, ConfChangeType, MessageType as MT, ReadState, StateType

from .harness import Network, is_empty, of_type

ELECTION_TICK = 10


def with_context(context: bytes):
    """Filter: heartbeats carrying a ReadIndex round's context."""
    return lambda m: m.type == MT.HEARTBEAT and m.context == context


def test_leader_releases_read_only_after_a_quorum_acknowledges_a_heartbeat_round():
    """Heartbeats delivered to nobody -> no ReadState; delivered to one
    follower of two (a quorum with the leader) -> the ReadState at the commit
    index the leader had when the read arrived."""
    net = Network(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    commit = net.commit(1)

    net.node(1).read_index(b"r1")
    net.flush([1])
    round1 = net.pending_messages(with_context(b"r1"))
    assert sorted(m.to for m in round1) == [2, 3]
    net.discard()  # delivered to nobody
    net.flush()
    assert net.read_states[1] == []

    net.tick(1)  # the next heartbeat round carries the pending read's context
    net.flush([1])
    assert sorted(m.to for m in net.pending_messages(with_context(b"r1"))) == [2, 3]
    net.discard(lambda m: m.to == 3)
    net.deliver(lambda m: m.to == 2)
    net.flush()
    assert net.read_states[1] == []  # the answer has not reached the leader yet
    net.deliver(of_type(MT.HEARTBEAT_RESP, frm=2, to=1))
    net.flush()
    assert net.read_states[1] == [ReadState(commit, b"r1")]


def test_one_acknowledgement_is_not_a_quorum_of_five():
    """In a 5-node cluster the leader plus one follower is not enough; plus two is."""
    net = Network(5)
    net.elect(1)
    net.stabilize()
    net.node(1).read_index(b"r")
    net.flush([1])
    net.discard(lambda m: m.to in (3, 4, 5))
    net.stabilize()
    assert net.read_states[1] == []
    net.tick(1)
    net.flush([1])
    net.discard(lambda m: m.to in (4, 5))
    net.stabilize()
    assert [rs.context for rs in net.read_states[1]] == [b"r"]


def test_new_leader_holds_reads_until_an_entry_of_its_term_is_committed():
    """Until its empty entry commits, a new leader's commit index may be stale:
    it starts no heartbeat round for the read, and releases it only after
    that entry is committed, at an index that includes it."""
    net = Network(3)
    net.win_election_only(1)
    noop_index = net.last_index(1)
    assert net.storages[1].term(noop_index) == net.term(1)
    assert net.commit(1) < noop_index

    net.node(1).read_index(b"early")
    net.flush([1])
    assert net.pending_messages(lambda m: m.context == b"early") == []
    assert net.read_states[1] == []

    net.stabilize()
    assert net.commit(1) == noop_index
    assert net.read_states[1] == [ReadState(noop_index, b"early")]


def test_read_on_a_follower_is_forwarded_and_answered():
    """A follower forwards the read to the leader and releases the answer."""
    net = Network(3)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    net.node(2).read_index(b"f")
    net.flush([2])
    assert [m.to for m in net.pending_messages(of_type(MT.READ_INDEX, frm=2))] == [1]
    net.stabilize()
    assert net.read_states[2] == [ReadState(net.commit(1), b"f")]
    assert net.read_states[1] == []


def read_answered_before_follower_knows_commit(net: Network):
    """Leave node 2 holding entry "y" without knowing it is committed, and
    have it ask for a read that the leader answers with y's index. Returns
    the drop filter that keeps the leader's appends/heartbeats from 2."""
    net.elect(1)
    net.stabilize()
    net.propose(1, b"y")
    net.flush([1])
    net.deliver(of_type(MT.APP, frm=1))  # 2 and 3 store "y"
    net.flush()
    # From now on 2 hears nothing from the leader: it never learns "y" committed.
    hold = net.drop(lambda m: m.to == 2 and m.type in (MT.APP, MT.HEARTBEAT))
    net.stabilize()
    assert net.applied[1] == [b"y"] and net.applied[2] == []
    commit = net.commit(1)
    assert net.last_index(2) == commit and net.commit(2) < commit

    net.node(2).read_index(b"f")
    net.stabilize()
    assert net.sent_messages(of_type(MT.READ_INDEX_RESP, to=2))[-1].index == commit
    return hold


def test_read_state_waits_until_its_index_is_applied_on_the_follower():
    """The leader answers a follower's read with an index the follower has not
    yet learned is committed: the ReadState is held until it has applied it."""
    net = Network(3)
    hold = read_answered_before_follower_knows_commit(net)
    commit = net.commit(1)
    assert net.read_states[2] == []  # not applied yet: held back
    net.undrop(hold)
    net.tick(1)  # a heartbeat tells 2 the commit index
    net.stabilize()
    assert net.applied[2] == [b"y"]
    assert net.read_states[2] == [ReadState(commit, b"f")]


def test_isolated_leader_never_releases_a_read():
    """A leader cut off from the quorum cannot confirm it still leads: the read
    is never answered (it steps down, and the read is dropped)."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    net.isolate(1)
    net.node(1).read_index(b"stale?")
    for _ in range(3 * ELECTION_TICK):
        net.tick_all(1)
        assert net.read_states[1] == []
    assert net.state(1) == StateType.FOLLOWER
    net.heal()
    net.tick_all(3 * ELECTION_TICK)
    assert net.read_states[1] == []


def test_has_ready_is_false_while_the_only_pending_work_is_a_read_waiting_for_apply():
    """A ReadState held back because its index is not applied yet is no work
    the caller can do. has_ready() must not announce it: the Ready would be
    empty, and a runtime that handles readies while has_ready() is true would
    spin forever (no input can get in to let the read through)."""
    net = Network(3)
    read_answered_before_follower_knows_commit(net)
    raw = net.node(2)
    assert net.read_states[2] == []
    rd = raw.ready()
    raw.advance(rd)
    assert is_empty(rd)
    assert not raw.has_ready(), "has_ready() is true but ready() has nothing in it"


def test_learner_acknowledgements_do_not_confirm_leadership():
    """Learners answer heartbeats too, but only voters make a read quorum:
    with both other voters cut off, two learners' answers release nothing."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    for learner in (4, 5):
        net.add_node(learner)
        net.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER, learner))
        net.stabilize()
    net.cut(1, 2)
    net.cut(1, 3)
    net.node(1).read_index(b"r")
    net.stabilize()
    assert sorted(m.frm for m in net.sent_messages(of_type(MT.HEARTBEAT_RESP, to=1)) if m.context == b"r") == [4, 5]
    assert net.read_states[1] == []
    net.heal()
    net.tick(1)
    net.stabilize()
    assert [rs.context for rs in net.read_states[1]] == [b"r"]
