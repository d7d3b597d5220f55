"""A whole member in-process: WAL + Raft + MVCC store + lease clock + watch
hub, over real files. Writes go through the log; leases expire only through
revokes proposed by the leader and applied like any write."""
import asyncio

import pytest

from consensus import member
from consensus.mvcc.api import (
    DeleteRangeRequest,
    EventType,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseNotFoundError,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    WatchCreateRequest,
)
from consensus.node import open_member_storage
from consensus.raft.messages import Message, MessageType
from tests.node.member_support import run, start, stop



def test_writes_go_through_the_log_and_survive_a_restart(tmp_path):
    async def first():
        task, store = await start(tmp_path)
        put = await store.put(PutRequest(key=b"a", value=b"1"))
        await store.put(PutRequest(key=b"a", value=b"2"))
        got = await store.range(RangeRequest(key=b"a"))
        with pytest.raises(LeaseNotFoundError):
            await store.put(PutRequest(key=b"b", value=b"x", lease=12345))
        await stop(task)
        return put.header.revision, got

    first_revision, got = run(first())
    assert got.kvs[0].value == b"2" and got.kvs[0].version == 2 and got.header.revision == first_revision + 1

    async def second():
        task, store = await start(tmp_path)
        got = await store.range(RangeRequest(key=b"a"))
        deleted = await store.delete_range(DeleteRangeRequest(key=b"a"))
        await stop(task)
        return got, deleted

    got, deleted = run(second())
    # The store reopened at the same revision: the log replay was idempotent.
    assert got.kvs[0].value == b"2" and got.header.revision == first_revision + 1
    assert deleted.deleted == 1 and deleted.header.revision == first_revision + 2


def test_an_expired_lease_is_revoked_through_the_log_and_watchers_see_the_delete(tmp_path):
    async def body():
        task, store = await start(tmp_path)
        lease = await store.lease_grant(LeaseGrantRequest(TTL=2))
        put = await store.put(PutRequest(key=b"svc/a", value=b"up", lease=lease.ID))
        watcher = store.watch(WatchCreateRequest(key=b"svc/", range_end=b"svc0", start_revision=put.header.revision + 1))
        response = await asyncio.wait_for(_next_event_response(watcher), 10)
        gone = await store.range(RangeRequest(key=b"svc/a"))
        ttl = await store.lease_time_to_live(LeaseTimeToLiveRequest(ID=lease.ID))
        await stop(task)
        return put, response, gone, ttl

    put, response, gone, ttl = run(body())
    event = response.events[0]
    assert event.type == EventType.DELETE and event.kv.key == b"svc/a"
    assert response.events and event.kv.mod_revision == put.header.revision + 1  # one revision for the revoke
    assert gone.kvs == () and ttl.TTL == -1


def test_keepalive_holds_a_lease_and_a_new_leader_refreshes_ttls(tmp_path):
    async def first():
        task, store = await start(tmp_path)
        lease = await store.lease_grant(LeaseGrantRequest(TTL=2))
        await store.put(PutRequest(key=b"k", value=b"v", lease=lease.ID))
        for _ in range(6):  # 3 s: well past the TTL, kept alive all along
            await asyncio.sleep(0.5)
            kept = await store.lease_keepalive(LeaseKeepAliveRequest(ID=lease.ID))
            assert kept.TTL == 2
        alive = await store.range(RangeRequest(key=b"k"))
        await asyncio.sleep(1.5)  # most of a TTL without keep-alive, then a leader change
        await stop(task)
        return lease.ID, alive

    lease_id, alive = run(first())
    assert alive.count == 1

    async def second():
        task, store = await start(tmp_path)
        # The restarted member is a new leader: it counts a full TTL again
        # instead of expiring the lease half a second after start.
        ttl = await store.lease_time_to_live(LeaseTimeToLiveRequest(ID=lease_id))
        await asyncio.sleep(0.8)
        still = await store.range(RangeRequest(key=b"k"))
        await stop(task)
        return ttl, still

    ttl, still = run(second())
    assert ttl.TTL >= 2 and still.count == 1


async def _next_event_response(watcher):
    while True:
        response = await watcher.next()
        if response.events:
            return response


def test_raft_snapshots_of_the_store_and_restart_from_them(tmp_path):
    async def first():
        task = asyncio.create_task(member.serve_member(
            open_member_storage(tmp_path), data_dir=tmp_path, node_id=1, peers=(1,), heartbeat_ms=10,
            election_ms=100, snapshot_count=20,
        ))
        while member.local_store() is None or not member.local_store().node.is_leader:
            await asyncio.sleep(0.01)
        store = member.local_store()
        for i in range(60):
            await store.put(PutRequest(key=f"k{i:02d}".encode(), value=b"v"))
        snapshot_index = store.node.storage.snapshot().metadata.index
        hash_before = store.machine.hash_kv().hash
        await stop(task)
        return snapshot_index, hash_before

    snapshot_index, hash_before = run(first())
    assert snapshot_index >= 40, "the member took Raft snapshots of the store"

    async def second():
        task, store = await start(tmp_path)
        got = await store.range(RangeRequest(key=b"k", range_end=b"l", count_only=True))
        h = store.machine.hash_kv().hash
        await stop(task)
        return got, h

    got, hash_after = run(second())
    assert got.count == 60 and hash_after == hash_before


def test_a_leader_that_loses_and_wins_again_refreshes_its_lease_deadlines_at_once(tmp_path):
    """Leadership lost and won again quicker than any polling interval: the
    lease clock is demoted and promoted with it (issue 16, defect 5), so the
    new term starts every lease from a full TTL instead of the old term's
    deadlines, which another leader may have renewed meanwhile."""
    async def body():
        task, store = await start(tmp_path)
        try:
            changes: list[tuple[bool, int]] = []
            store.node.add_leadership_listener(lambda leads: changes.append((leads, store.node.term)))
            lease = await store.lease_grant(LeaseGrantRequest(TTL=3))
            await asyncio.sleep(1.5)  # half the lease's time gone in this term
            old = store.clock.remaining(lease.ID, store.now())
            term = store.node.term
            # A message of a later term makes the member step down; alone, it
            # wins the next election within an election timeout.
            store.node.deliver(Message(MessageType.HEARTBEAT, frm=99, to=1, term=term + 1))
            for _ in range(200):
                if store.node.is_leader and store.node.term > term + 1:
                    break
                await asyncio.sleep(0.01)
            assert store.node.is_leader and changes and changes[-1][0] is True and changes[-1][1] > term
            assert False in [leads for leads, _ in changes], changes
            fresh = store.clock.remaining(lease.ID, store.now())
            assert fresh > old + 1.0, (old, fresh)
        finally:
            await stop(task)

    run(body())
