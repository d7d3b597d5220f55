"""In-process 3-node Raft throughput: proposals committed per second.

Three RawNodes with in-memory storage exchange messages directly (no network,
no disk): this measures the consensus core's own cost per proposal. A proposal
counts when the leader has applied it (it is committed on a quorum).

    python bench/raft_bench.py            # full run (~20 s)
    python bench/raft_bench.py --quick    # a few seconds

Modes:
- unbatched: one proposal, then drive the cluster until it is applied;
- batched:   B proposals between ready cycles, the way the node runtime
             collects client writes that arrive while a batch is in flight.
"""
from __future__ import annotations

import argparse
import logging
import os
import random
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from consensus.raft.log_storage import MemoryStorage  # noqa: E402
from consensus.raft.messages import ConfChange, EntryType  # noqa: E402
from consensus.raft.raft import Config  # noqa: E402
from consensus.raft.raw_node import RawNode  # noqa: E402

PAYLOAD = b"x" * 128


class Cluster:
    def __init__(self, size: int = 3) -> None:
        logger = logging.getLogger("raft-bench")
        logger.setLevel(logging.WARNING)
        ids = tuple(range(1, size + 1))
        self.storages = {i: MemoryStorage() for i in ids}
        self.nodes = {
            i: RawNode(
                Config(id=i, peers=ids, max_size_per_msg=64 << 20, max_inflight_msgs=256),
                self.storages[i], rng=random.Random(i), logger=logger,
            )
            for i in ids
        }
        self.applied = 0
        self.drive()  # apply the bootstrap membership entries first
        self.nodes[1].campaign()
        self.drive()
        assert self.nodes[1].is_leader

    def drive(self) -> None:
        nodes, storages = self.nodes, self.storages
        moved = True
        while moved:
            moved = False
            for node_id, node in nodes.items():
                if not node.has_ready():
                    continue
                moved = True
                rd = node.ready()
                storage = storages[node_id]
                if rd.hard_state is not None:
                    storage.set_hard_state(rd.hard_state)
                if rd.entries:
                    storage.append(rd.entries)
                for m in rd.messages:
                    nodes[m.to].step(m)
                for entry in rd.committed_entries:
                    if entry.type == EntryType.CONF_CHANGE:
                        node.apply_conf_change(ConfChange.decode(entry.data))
                if node_id == 1 and rd.committed_entries:
                    self.applied += sum(1 for e in rd.committed_entries if e.type == EntryType.NORMAL and e.data)
                node.advance(rd)
                # Keep memory flat: compact what every node has applied.
                if node_id == 1 and storage.last_index() - storage.first_index() > 200_000:
                    self._compact()

    def _compact(self) -> None:
        floor = min(n.raft.raft_log.applied for n in self.nodes.values())
        for node_id, storage in self.storages.items():
            point = min(floor, storage.last_index()) - 1000
            if point > storage.first_index():
                storage.compact(point)


def run(batch: int, seconds: float) -> float:
    cluster = Cluster()
    leader = cluster.nodes[1]
    proposals = [PAYLOAD] * batch
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        leader.propose_many(proposals)
        cluster.drive()
    elapsed = time.perf_counter() - start
    return cluster.applied / elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    seconds = 1.5 if args.quick else 5.0
    print(f"in-process 3-node Raft, {len(PAYLOAD)}-byte proposals, {seconds:.1f} s per mode")
    print(f"{'mode':<22}{'committed proposals/s':>24}")
    for label, batch in (("unbatched (1)", 1), ("batched (64)", 64), ("batched (1024)", 1024)):
        rate = run(batch, seconds)
        print(f"{label:<22}{rate:>24,.0f}")


if __name__ == "__main__":
    main()
