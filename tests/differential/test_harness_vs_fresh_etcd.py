"""The harness checked against itself: a fresh etcd per seed stands in for
our store, the module's shared etcd is reset and offset as in every
differential test. If resetting and shifting revisions made the shared etcd
distinguishable from a fresh store, these seeds would fail; they pass, so a
mismatch in ``test_kv_vs_etcd`` is our store's and not an artefact of the
isolation (``harness`` module docstring).
"""
from __future__ import annotations

from consensus.mvcc.api import CompactionRequest, StoreError
from tests.differential.etcd import EtcdServer, find_etcd
from tests.differential.generator import Generator, StoreView
from tests.differential.harness import Differential, EtcdSide, Outcome, seed_id

SEEDS = 8  # each starts an etcd of its own (~0.7 s with its shutdown); 150 passed when written
OPS_PER_SEED = 40


def pytest_generate_tests(metafunc):
    # ``--seed S`` replays one seed; ``--seeds N`` is ignored here (N fresh
    # etcds would take minutes), so the differential runs stay cheap.
    if "seed" in metafunc.fixturenames:
        single = metafunc.config.getoption("--seed")
        metafunc.parametrize("seed", [single] if single is not None else range(SEEDS), ids=seed_id)


class FreshEtcdStore:
    """A fresh etcd playing our store's part (revision 1, nothing compacted)."""

    def __init__(self, client) -> None:
        self.client = client
        self.revision = 1
        self.compact_revision = 0

    def execute(self, request) -> Outcome:
        try:
            response = self.client.call(request)
        except StoreError as error:
            return Outcome.failed(error)
        if response.header.revision:
            self.revision = response.header.revision
        if isinstance(request, CompactionRequest):
            self.compact_revision = request.revision
        return Outcome(response)


def test_reset_and_offset_etcd_is_indistinguishable_from_a_fresh_one(etcd, seed):
    fresh = EtcdServer(find_etcd()).start()
    client = fresh.client()
    try:
        ours = FreshEtcdStore(client)
        run = Differential(
            seed, ours, EtcdSide(etcd),
            replay=f".venv/bin/python -m pytest 'tests/differential/test_harness_vs_fresh_etcd.py"
                   f"::test_reset_and_offset_etcd_is_indistinguishable_from_a_fresh_one[{seed_id(seed)}]'",
            ttl_window=(-2, 2),  # both remaining TTLs are read off a wall clock
        )
        assert run.offset > 0 or seed == 0
        generator = Generator(seed, StoreView(lambda: ours.revision, lambda: ours.compact_revision))
        for _ in range(OPS_PER_SEED):
            request = generator.next_request()
            outcome = run.step(request)
            generator.observe(request, outcome.error is None)
        run.check_history()
    finally:
        client.close()
        fresh.stop()
