"""A real one-member store in-process (WAL, Raft, SQLite, on the test's
event loop) and a service context over it, for service-layer tests."""
from __future__ import annotations

import asyncio
import itertools

from config_center.service.context import Actor, Limits, ServiceContext
from tests.node import member_support

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
    """A one-member store without store auth (the service reaches it in-process)."""
    return await member_support.start(data_dir, store_auth=False)


stop_store = member_support.stop


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
