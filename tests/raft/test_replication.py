"""Log replication (§5.3): fast backtracking, flow control, pipelining,
proposal batching, and the consistency check."""
from __future__ import annotations

import pytest

from consensus.raft.messages import Entry, Message, MessageType as MT
from consensus.raft.progress import ProgressState

from .harness import Network, of_type, preloaded_storage

LEADER_LOG = [1] * 5 + [3] * 50


@pytest.mark.parametrize(
    "follower_log",
    [
        pytest.param([1] * 5 + [2] * 50, id="diverged-by-a-term-of-50"),
        pytest.param([1] * 5 + [2] * 90, id="longer-and-diverged"),
        pytest.param([1] * 5, id="missing-50"),
        pytest.param([1] * 3 + [2] * 60, id="diverged-inside-the-leaders-term-1"),
    ],
)
def test_fast_backtracking_repairs_a_long_divergence_in_few_round_trips(follower_log):
    """The follower's rejection hint (its term at the conflict) lets the leader
    skip a whole term at once instead of one entry per round trip."""
    voters = (1, 2, 3)
    storages = {
        1: preloaded_storage(LEADER_LOG, voters=voters),
        2: preloaded_storage(LEADER_LOG, voters=voters),
        3: preloaded_storage(follower_log, voters=voters),
    }
    net = Network(storages=storages)
    net.elect(1)
    net.stabilize()
    rejections = net.sent_messages(lambda m: m.type == MT.APP_RESP and m.reject and m.frm == 3)
    appends = net.sent_messages(of_type(MT.APP, frm=1, to=3))
    assert 1 <= len(rejections) <= 3
    assert len(appends) <= 4
    assert net.log_terms(3) == net.log_terms(1) == LEADER_LOG + [4]
    assert net.applied[3] == net.applied[1]


def test_follower_rejects_append_whose_previous_entry_does_not_match():
    """The consistency check: an append is refused unless the follower holds
    the entry before it with the same term; nothing is written."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    last = net.last_index(2)
    bogus = Message(
        MT.APP, to=2, frm=1, term=2, index=last, log_term=1,  # the entry at `last` has term 2
        entries=(Entry(2, last + 1, data=b"bogus"),), commit=last,
    )
    net.node(2).step(bogus)
    net.flush([2])
    [answer] = net.pending_messages(of_type(MT.APP_RESP, frm=2))
    assert answer.reject and answer.index == last
    assert net.last_index(2) == last
    net.discard()


def test_flow_control_bounds_appends_in_flight_to_a_silent_follower():
    """With max_inflight_msgs=2, a replicating follower whose answers are lost
    has at most 2 appends in flight, however much the leader appends; once
    it answers again it catches up."""
    net = Network(3, max_inflight_msgs=2, max_size_per_msg=1)
    net.elect(1)
    net.stabilize()
    assert net.node(1).status().progress[3].state == ProgressState.REPLICATE
    net.cut_one_way(3, 1)
    mark = len(net.sent)
    for i in range(10):
        net.propose(1, f"e{i}".encode())
    net.stabilize()
    net.tick_all(3)  # heartbeats: 3 answers, but the answers are lost too
    to3 = net.sent_messages(of_type(MT.APP, frm=1, to=3), since=mark)
    assert len(to3) == 2
    assert [len(m.entries) for m in to3] == [1, 1]
    assert net.applied[2] == [f"e{i}".encode() for i in range(10)]  # 2 was not held back
    assert net.node(1).status().progress[3].inflights.count() == 2

    net.heal()
    net.tick_all(3)
    assert net.applied[3] == net.applied[1]


def test_replicating_follower_gets_pipelined_appends():
    """Once a follower is caught up (REPLICATE), each new proposal goes out at
    once, without waiting for the previous append to be answered."""
    net = Network(3, max_size_per_msg=1)
    net.elect(1)
    net.stabilize()
    assert net.node(1).status().progress[2].state == ProgressState.REPLICATE
    for i in range(3):
        net.propose(1, f"p{i}".encode())
        net.flush([1])
    queued = net.pending_messages(of_type(MT.APP, frm=1, to=2))
    assert [[e.data for e in m.entries] for m in queued] == [[b"p0"], [b"p1"], [b"p2"]]
    assert net.pending_messages(of_type(MT.APP_RESP)) == []  # none was answered yet
    # And several entries at once are split into back-to-back messages.
    net.discard()
    net.propose(1, b"q0")
    net.propose(1, b"q1")
    net.propose(1, b"q2")
    net.flush([1])
    queued = net.pending_messages(of_type(MT.APP, frm=1, to=2))
    assert [[e.data for e in m.entries] for m in queued] == [[b"q0"], [b"q1"], [b"q2"]]


def test_probing_follower_gets_one_append_at_a_time():
    """Control for pipelining: right after an election the leader does not know
    where followers' logs end (PROBE) and sends one append until answered."""
    net = Network(3, max_size_per_msg=1)
    net.win_election_only(1)
    assert net.node(1).status().progress[2].state == ProgressState.PROBE
    for i in range(3):
        net.propose(1, f"p{i}".encode())
        net.flush([1])
    assert len(net.pending_messages(of_type(MT.APP, frm=1, to=2))) == 1
    net.stabilize()
    assert net.applied[2] == [b"p0", b"p1", b"p2"]


def test_proposals_before_one_ready_are_batched_into_one_append_per_follower():
    """100 proposals made before the leader's next ready leave as ONE append
    per follower carrying all 100 entries, in order."""
    net = Network(3, max_size_per_msg=1 << 20)
    net.elect(1)
    net.stabilize()
    datas = [f"b{i}".encode() for i in range(100)]
    for data in datas:
        net.propose(1, data)
    net.flush([1])
    rd = net.readies(1)[-1]
    assert [e.data for e in rd.entries] == datas
    appends = net.pending_messages(of_type(MT.APP, frm=1))
    assert sorted(m.to for m in appends) == [2, 3]
    for m in appends:
        assert [e.data for e in m.entries] == datas
    net.stabilize()
    assert net.applied[2] == net.applied[3] == datas


def test_commit_index_reaches_followers():
    """Followers learn the commit index from the leader and apply up to it."""
    net = Network(5)
    net.elect(1)
    net.propose(1, b"x")
    net.stabilize()
    assert {net.commit(i) for i in range(1, 6)} == {net.last_index(1)}
    assert all(net.applied[i] == [b"x"] for i in range(1, 6))


def test_a_caught_up_follower_answering_a_probe_goes_back_to_replicating():
    """After the leader falls back to probing a follower that was in step
    (the transport reported it unreachable), the follower's answer names
    the match the leader already knew: it is back in step, and the leader
    pipelines to it again instead of probing once per heartbeat."""
    net = Network(3)
    net.elect(1)
    net.propose(1, b"a")
    net.stabilize()
    leader = net.node(1)
    progress = leader.raft.prs[2]
    assert progress.state == ProgressState.REPLICATE
    leader.report_unreachable(2)
    assert progress.state == ProgressState.PROBE
    # The probe's answer: the follower has exactly what the leader knew it had.
    leader.step(Message(MT.APP_RESP, frm=2, to=1, term=leader.raft.term, index=progress.match))
    assert progress.state == ProgressState.REPLICATE
    for n in range(5):
        net.propose(1, b"more %d" % n)
    appends_before = len(net.sent_messages(of_type(MT.APP, frm=1, to=2)))
    net.stabilize()
    assert net.log_terms(2) == net.log_terms(1)
    assert len(net.sent_messages(of_type(MT.APP, frm=1, to=2))) > appends_before


def test_the_leader_counts_its_own_entries_only_once_persisted():
    """In a 3-member cluster one follower's acknowledgement is not a quorum
    while the leader has not persisted the entry itself: its own vote
    toward commit comes with ``advance`` (after the fsync), never with the
    append."""
    net = Network(3)
    net.elect(1)
    net.stabilize()
    leader = net.node(1)
    leader.propose(b"not yet durable on the leader")
    last = leader.raft.raft_log.last_index()
    committed = leader.raft.raft_log.committed
    # Follower 2 acknowledges it before the leader has handled its Ready.
    leader.step(Message(MT.APP_RESP, frm=2, to=1, term=leader.raft.term, index=last))
    assert leader.raft.raft_log.committed == committed < last
    net.stabilize()  # the leader persists, and counts itself
    assert leader.raft.raft_log.committed == last
