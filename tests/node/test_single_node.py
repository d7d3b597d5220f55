"""The node runtime with a real WAL on disk: a one-member cluster that
persists before it applies, batches proposals into shared fsyncs, snapshots,
and recovers everything it acknowledged after a restart."""
import asyncio
import random

import pytest

from consensus.node import AppliedEntryCounter, RaftNode, open_member_storage


def make_node(data_dir, *, snapshot_count=10_000, machine=None):
    storage = open_member_storage(data_dir)
    node = RaftNode(
        node_id=1, peers=(1,), storage=storage, state_machine=machine or AppliedEntryCounter(),
        heartbeat_ms=10, election_ms=100, snapshot_count=snapshot_count, rng=random.Random(7),
    )
    return node, storage


async def with_running(node, storage, body):
    task = asyncio.create_task(node.run())
    try:
        for _ in range(200):
            if node.is_leader:
                break
            await asyncio.sleep(0.01)
        assert node.is_leader, "a one-member cluster must elect itself"
        return await body(node)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        storage.close()


def test_proposals_are_applied_in_order_and_share_fsyncs(tmp_path):
    node, storage = make_node(tmp_path)

    async def body(node):
        results = await asyncio.gather(*(node.propose(f"v{i}".encode()) for i in range(300)))
        return results, storage.wal_stats

    results, stats = asyncio.run(with_running(node, storage, body))
    assert results == sorted(results) and len(set(results)) == 300
    assert node.state_machine.entries == 300
    # Proposals that arrive while an fsync is running go into the next batch.
    assert stats.fsyncs < 300, f"expected batching, got {stats.fsyncs} fsyncs for 300 proposals"


def test_restart_recovers_every_acknowledged_entry_and_the_term(tmp_path):
    node, storage = make_node(tmp_path)

    async def first(node):
        await asyncio.gather(*(node.propose(b"x" * 10) for _ in range(50)))
        return node.status()

    before = asyncio.run(with_running(node, storage, first))

    node2, storage2 = make_node(tmp_path)

    async def second(node):
        index = await node.propose(b"after restart")
        return node.status(), index

    after, index = asyncio.run(with_running(node2, storage2, second))
    assert node2.state_machine.entries == 51  # 50 replayed from the WAL + 1 new
    assert after.term > before.term  # the old term was persisted; a new election followed
    assert index > before.applied


def test_snapshot_then_restart_restores_state_and_releases_log(tmp_path):
    node, storage = make_node(tmp_path, snapshot_count=40)

    async def body(node):
        for _ in range(5):
            await asyncio.gather(*(node.propose(b"y") for _ in range(30)))
        return storage.snapshot().metadata.index, storage.first_index()

    snap_index, first_index = asyncio.run(with_running(node, storage, body))
    assert snap_index >= 40
    # Below the snapshot only the catch-up window stays in memory (5,000
    # entries: here the whole log, which is shorter).
    assert first_index <= snap_index + 1
    assert list((tmp_path / "member" / "snap").glob("*.snap")), "a snapshot file was written"

    node2, storage2 = make_node(tmp_path, snapshot_count=40)

    async def check(node):
        return node.state_machine.entries

    assert asyncio.run(with_running(node2, storage2, check)) == 150
    assert storage2.first_index() == storage2.snapshot().metadata.index + 1  # the window is memory only


def test_read_index_covers_every_completed_write(tmp_path):
    node, storage = make_node(tmp_path)

    async def body(node):
        last = 0
        for i in range(20):
            last = await node.propose(b"w")
            read_at = await node.read_index()
            assert read_at >= last, f"read {i} at {read_at} misses write applied at {last}"
        return last

    assert asyncio.run(with_running(node, storage, body)) > 0


def test_a_stopped_node_refuses_requests_at_once(tmp_path):
    """Once the owner task has ended nothing drains the inbox: a request
    made then must fail at once (retryable), not wait out its timeout."""
    from consensus.node import NotLeaderError

    node, storage = make_node(tmp_path)

    async def body(node):
        task = asyncio.create_task(node.run())
        for _ in range(200):
            if node.is_leader:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert node.stopped
        for call in (lambda: node.propose(b"late", timeout=30), lambda: node.read_index(timeout=30)):
            async with asyncio.timeout(1):
                with pytest.raises(NotLeaderError, match="shutting down"):
                    await call()

    try:
        asyncio.run(body(node))
    finally:
        storage.close()
