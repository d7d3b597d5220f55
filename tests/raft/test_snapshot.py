"""Snapshots and log compaction (§7): catching up a follower the log no
longer covers, and restarting from a snapshot."""
from __future__ import annotations

from consensus.raft.messages import MessageType as MT

from .harness import Network, of_type

ELECTION_TICK = 10


def datas(prefix: str, n: int, start: int = 0) -> list[bytes]:
    """``[b"prefix<start>", ...]``, n of them."""
    return [f"{prefix}{i}".encode() for i in range(start, start + n)]


def test_follower_behind_the_compaction_point_is_sent_a_snapshot_then_entries():
    """Node 3 is down while the leader appends and compacts its log past what
    3 has. On return it gets a SNAP, installs it (its Ready carries the
    snapshot), then receives the entries after it, and keeps up afterwards."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    net.crash(3)
    behind = net.last_index(3)
    for data in datas("a", 10):
        net.propose(1, data)
        net.stabilize()
    snapshot = net.compact(1)
    assert net.storages[1].first_index() == snapshot.metadata.index + 1 > behind + 1
    for data in datas("b", 3):  # entries after the snapshot point
        net.propose(1, data)
        net.stabilize()

    net.restart(3)
    net.tick_all(3)
    snaps = net.sent_messages(of_type(MT.SNAP, frm=1, to=3))
    assert [m.snapshot.metadata.index for m in snaps] == [snapshot.metadata.index]
    installed = [rd.snapshot for rd in net.readies(3) if rd.snapshot is not None]
    assert installed == [snapshot]
    assert net.storages[3].snapshot().metadata.index == snapshot.metadata.index
    assert net.applied[3] == datas("a", 10) + datas("b", 3)
    assert net.log_entries(3, snapshot.metadata.index + 1) == net.log_entries(1, snapshot.metadata.index + 1)

    net.propose(1, b"later")
    net.stabilize()
    assert net.applied[3] == net.applied[1] == datas("a", 10) + datas("b", 3) + [b"later"]
    assert len(net.sent_messages(of_type(MT.SNAP))) == 1


def test_follower_not_behind_the_compaction_point_gets_entries_not_a_snapshot():
    """Control: compacting only what every follower has means no SNAP at all."""
    net = Network(3)
    net.elect(1)
    for data in datas("a", 5):
        net.propose(1, data)
    net.stabilize()
    net.compact(1, keep=0)
    net.propose(1, b"next")
    net.stabilize()
    assert net.sent_messages(of_type(MT.SNAP)) == []
    assert net.applied[3] == datas("a", 5) + [b"next"]


def test_node_restarted_from_a_snapshot_resumes_with_the_right_applied_and_commit():
    """After a restart the node's application starts from the snapshot, only
    the entries after it are applied again, and commit is what was persisted."""
    net = Network(3)
    net.elect(1)
    for data in datas("a", 10):
        net.propose(1, data)
    net.stabilize()
    snapshot = net.compact(2, keep=2)  # entries kept before the snapshot point
    for data in datas("b", 3):
        net.propose(1, data)
    net.stabilize()
    applied_before = list(net.applied[2])
    commit_before = net.commit(2)
    assert commit_before > snapshot.metadata.index

    net.crash(2)
    raw = net.restart(2)
    first = net.readies(2)[-1]
    indexes = [e.index for e in first.committed_entries]
    assert indexes == list(range(snapshot.metadata.index + 1, commit_before + 1))
    status = raw.status()
    assert status.commit == commit_before
    assert status.applied == commit_before
    assert status.voters == (1, 2, 3)
    assert net.applied[2] == applied_before

    net.propose(1, b"after-restart")
    net.stabilize()
    assert net.applied[2] == applied_before + [b"after-restart"]


def test_node_that_installed_a_snapshot_restarts_with_its_membership():
    """A node whose log holds no membership entry (all compacted into the
    snapshot) learns the voters from the snapshot on restart, and can lead."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.crash(3)
    for data in datas("a", 4):
        net.propose(1, data)
    net.stabilize()
    net.compact(1)
    net.restart(3)
    net.tick_all(3)
    assert net.sent_messages(of_type(MT.SNAP, to=3))
    net.crash(3)
    raw = net.restart(3)
    assert raw.status().voters == (1, 2, 3)
    assert raw.status().applied == net.commit(1)
    assert net.applied[3] == datas("a", 4)
    net.node(1).transfer_leader(3)
    net.stabilize()
    assert net.leaders() == [3]


def test_a_snapshot_the_transport_failed_to_send_is_retried_within_a_heartbeat_round():
    """The transport reports a failed snapshot send (issue 16, defect 4): the
    leader goes back to probing at once, and the next heartbeat answer makes
    it send the snapshot again, not an election timeout later."""
    net = Network(3, election_tick=ELECTION_TICK)
    net.elect(1)
    net.stabilize()
    net.crash(3)
    for data in datas("a", 10):
        net.propose(1, data)
        net.stabilize()
    snapshot = net.compact(1)
    net.restart(3)
    lost = net.drop(of_type(MT.SNAP, frm=1, to=3))  # the stream breaks on the way
    net.tick_all(2)
    assert len(net.sent_messages(of_type(MT.SNAP, frm=1, to=3))) == 1
    net.undrop(lost)
    net.node(1).report_snapshot(3, delivered=False)
    assert net.node(1).raft.prs[3].state.name == "PROBE"
    net.tick_all(2)  # a heartbeat and its answer
    snaps = net.sent_messages(of_type(MT.SNAP, frm=1, to=3))
    assert len(snaps) == 2, "sent again within a heartbeat round, well inside an election timeout"
    assert net.storages[3].snapshot().metadata.index == snapshot.metadata.index
    assert net.applied[3] == datas("a", 10)
