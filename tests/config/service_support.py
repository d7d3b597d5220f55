"""A real one-member store in-process (WAL, Raft, SQLite, on the test's
event loop) and a service context over it, for service-layer tests."""
from __future__ import annotations

import asyncio
import itertools

import pytest

from consensus import member
from consensus.node import open_member_storage
from config_center.service.context import Actor, Limits, ServiceContext

ALICE = Actor("alice", "10.0.0.1")
BOB = Actor("bob", "10.0.0.2")


class SteppingClock:
    """Wall time that advances one second per reading, from a fixed start."""

    def __init__(self, start: float = 1_790_000_000.0) -> None:
        self.now = start
        self._ticks = itertools.count()

    def __call__(self) -> float:
        return self.now + next(self._ticks)


async def start_store(data_dir):
    task = asyncio.create_task(member.serve_member(
        open_member_storage(data_dir), data_dir=data_dir, node_id=1, peers=(1,), heartbeat_ms=10,
        election_ms=100, snapshot_count=10_000, store_auth=False,
    ))
    for _ in range(500):
        store = member.local_store()
        if store is not None and store.node.is_leader:
            return task, store
        await asyncio.sleep(0.01)
    raise AssertionError("member did not become leader")


async def stop_store(task):
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def with_service(tmp_path, body, *, limits: Limits | None = None, clock=None):
    """Run ``body(ctx, store)`` against a fresh store; its result."""

    async def run():
        task, store = await start_store(tmp_path / "data")
        try:
            ctx = ServiceContext(store, limits=limits or Limits(), clock=clock or SteppingClock())
            return await body(ctx, store)
        finally:
            await stop_store(task)

    return asyncio.run(asyncio.wait_for(run(), 120))
