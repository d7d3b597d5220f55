"""One store member, assembled: WAL + Raft node + MVCC state machine +
lease clock + watch hub, run as tasks on the process's event loop.

This is the composition root of the store; ``runnode`` calls
``serve_member`` and everything else reaches the running store through
``local_store()``.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time

from consensus.mvcc.api import Limits, ResponseHeader
from consensus.mvcc.lease_clock import LeaseClock
from consensus.mvcc.replicated_store import ReplicatedStore, StoreApplier
from consensus.mvcc.state_machine import StoreStateMachine
from consensus.mvcc.watch_hub import WatchHub
from consensus.node import RaftNode, member_dir, register_local_node
from consensus.storage.durable import DurableStorage

logger = logging.getLogger(__name__)

STORE_FILE = "store.sqlite3"
# etcd sweeps lagging watchers every 100 ms.
WATCH_SYNC_INTERVAL = 0.1
# etcd's default is 10 minutes; a config center wants idle clients to know
# they are current much sooner.
WATCH_PROGRESS_INTERVAL = 5.0

_local_store: ReplicatedStore | None = None


def local_store() -> ReplicatedStore | None:
    """The store served by this process, while it runs."""
    return _local_store


# Young-generation collections every 100,000 allocations instead of 700: the
# watch hub and the apply loop allocate many short-lived objects per event,
# and with the default threshold the collector ran often enough to dominate
# the fan-out tail (bench/README.md: 10,000 watchers, p99 65 ms -> 18 ms).
GC_THRESHOLDS = (100_000, 50, 1000)


def tune_gc() -> None:
    """Collector settings for a long-running member: move everything alive
    now (the key index just built, modules) out of the collector's sight,
    since it lives as long as the process, and collect young objects less
    often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve_member(
    storage: DurableStorage, *, data_dir, node_id: int, peers: tuple[int, ...], heartbeat_ms: int,
    election_ms: int, snapshot_count: int, limits: Limits = Limits(),
) -> None:
    """Run this process's member until cancelled; closes what it opened."""
    global _local_store
    machine = StoreStateMachine.open(member_dir(data_dir) / STORE_FILE, limits=limits)
    tune_gc()
    clock = LeaseClock()
    applier = StoreApplier(machine, clock, time.monotonic)
    node_ref: list[RaftNode] = []

    def header(revision: int) -> ResponseHeader:
        status = node_ref[0].status() if node_ref else None
        return ResponseHeader(
            member_id=status.id if status else node_id, revision=revision, raft_term=status.term if status else 0,
        )

    hub = WatchHub.attach(machine, header=header)
    node = RaftNode(
        node_id=node_id, peers=peers, storage=storage, state_machine=applier, heartbeat_ms=heartbeat_ms,
        election_ms=election_ms, snapshot_count=snapshot_count,
    )
    node_ref.append(node)
    store = ReplicatedStore(node, machine, applier, hub, limits=limits)
    register_local_node(node)
    _local_store = store
    tasks = [
        asyncio.create_task(node.run(), name="raft-node"),
        asyncio.create_task(store.run_lease_expiry(), name="lease-expiry"),
        asyncio.create_task(_watch_upkeep(hub), name="watch-upkeep"),
    ]
    try:
        # The first task to end (they only end by failing) ends the member.
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            task.result()
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        _local_store = None
        register_local_node(None)
        hub.close()
        machine.close()
        storage.close()


async def _watch_upkeep(hub: WatchHub) -> None:
    """Catch lagging watchers up and send progress notifications."""
    since_progress = 0.0
    while True:
        await asyncio.sleep(WATCH_SYNC_INTERVAL)
        hub.sync_watchers()
        since_progress += WATCH_SYNC_INTERVAL
        if since_progress >= WATCH_PROGRESS_INTERVAL:
            since_progress = 0.0
            hub.progress()
