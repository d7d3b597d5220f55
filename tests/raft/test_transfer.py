"""Leadership transfer (thesis §3.10): TimeoutNow to an up-to-date target."""
from __future__ import annotations

import pytest

from consensus.raft.messages import ConfChange, ConfChangeType, MessageType as MT
from consensus.raft.raft import ProposalDroppedError

from .harness import Network, of_type

ELECTION_TICK = 10


def test_transfer_to_up_to_date_follower():
    """The target gets TimeoutNow at once and wins the next term, despite the
    other follower's leader lease (the request is marked as a transfer)."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    term = net.term(1)
    net.node(1).transfer_leader(2)
    net.flush([1])
    assert [m.to for m in net.pending_messages(of_type(MT.TIMEOUT_NOW))] == [2]
    net.stabilize()
    assert net.leaders() == [2]
    assert net.term(2) == term + 1
    net.propose(2, b"y")
    net.stabilize()
    assert all(net.applied[i] == [b"x", b"y"] for i in (1, 2, 3))


def test_transfer_request_made_on_a_follower_is_forwarded():
    """A transfer asked of a follower reaches the leader and completes."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    net.node(3).transfer_leader(3)
    net.stabilize()
    assert net.leaders() == [3]


def test_transfer_to_lagging_follower_catches_it_up_first():
    """TimeoutNow is sent only once the target's log matches the leader's; the
    target then wins with the whole log."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    net.isolate(3)
    for i in range(5):
        net.propose(1, f"v{i}".encode())
        net.stabilize()
    net.heal()
    assert net.last_index(3) < net.last_index(1)

    net.node(1).transfer_leader(3)
    net.flush([1])
    first = net.pending_messages(lambda m: m.frm == 1 and m.to == 3)
    assert [m.type for m in first] == [MT.APP]
    for _ in range(100):
        if net.pending_messages(of_type(MT.TIMEOUT_NOW)):
            break
        net.deliver()
        net.flush()
    else:
        raise AssertionError("TimeoutNow never sent")
    assert net.log_entries(3) == net.log_entries(1)
    net.stabilize()
    assert net.leaders() == [3]
    assert net.applied[3] == [f"v{i}".encode() for i in range(5)]


def test_proposals_are_dropped_while_transferring():
    """During a transfer the leader refuses proposals so the target can catch up."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    net.isolate(3)
    net.node(1).transfer_leader(3)
    with pytest.raises(ProposalDroppedError):
        net.propose(1, b"x")
    with pytest.raises(ProposalDroppedError):
        net.propose_conf_change(1, ConfChange(ConfChangeType.ADD_LEARNER, 4))
    net.stabilize()
    assert net.applied[1] == []


def test_transfer_to_unreachable_target_is_aborted_after_an_election_timeout():
    """An unreachable target never catches up: after election_tick ticks the
    leader gives up, keeps leading in the same term and accepts proposals."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    term = net.term(1)
    net.isolate(3)
    net.node(1).transfer_leader(3)
    for _ in range(ELECTION_TICK - 1):
        net.tick_all(1)
        with pytest.raises(ProposalDroppedError):
            net.propose(1, b"x")
    net.tick_all(1)
    assert net.node(1).status().lead_transferee == 0
    net.propose(1, b"x")
    net.stabilize()
    assert net.leaders() == [1] and net.term(1) == term
    assert net.applied[2] == [b"x"]
