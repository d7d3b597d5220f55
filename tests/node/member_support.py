"""A whole member in-process (WAL + Raft + MVCC store + lease clock + watch
hub over real files), started and stopped on the test's own event loop."""
import asyncio

import pytest

from consensus import member
from consensus.node import open_member_storage


async def start(data_dir, *, store_auth: bool = True):
    """Start a one-member store on ``data_dir``; (task, store) once it leads."""
    task = asyncio.create_task(member.serve_member(
        open_member_storage(data_dir), data_dir=data_dir, node_id=1, peers=(1,), heartbeat_ms=10,
        election_ms=100, snapshot_count=10_000, store_auth=store_auth,
    ))
    for _ in range(500):
        store = member.local_store()
        if store is not None and store.node.is_leader:
            return task, store
        await asyncio.sleep(0.01)
    raise AssertionError("member did not become leader")


async def stop(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))
