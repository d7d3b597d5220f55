"""The KV differential run of ``test_kv_vs_etcd`` with "ours" a running
node over HTTP: the same generator and harness, the same ``GatewayClient``
for both sides — what a client of the JSON API sees of our store (gateway,
Raft, ReadIndex, lease clock and all) against what it sees of etcd 3.4.23.

Per seed: both sides are reset (``http_side``), ``OPS_PER_SEED`` random
requests are compared answer by answer, then every revision still in
history and the lease list. The differences allowed are the harness's
(``harness.DIFFERENCES``); both remaining TTLs now come from a wall clock,
so the TTL window is two-sided as in ``test_harness_vs_fresh_etcd``.

``DEFAULT_SEEDS`` seeds by default (about 0.3 s each); ``--seeds N`` / ``--seed S``
as in ``test_kv_vs_etcd``. A failure prints the replay command, e.g.::

    .venv/bin/python -m pytest 'tests/differential/test_kv_over_http_vs_etcd.py::test_kv_over_http_matches_etcd[seed_17]'
"""
from __future__ import annotations

import pytest

from tests.differential.etcd import GatewayClient
from tests.differential.generator import Generator, StoreView
from consensus.mvcc.api import PutRequest, RangeRequest
from tests.differential.harness import Differential, EtcdSide, Mismatch, seed_id, seed_list
from tests.differential.http_side import NodeOverHttp, node_on_tmpfs

DEFAULT_SEEDS = 100
OPS_PER_SEED = 50


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", seed_list(metafunc.config, DEFAULT_SEEDS), ids=seed_id)


@pytest.fixture(scope="module")
def node_client():
    with node_on_tmpfs() as node:
        client = GatewayClient(node.host, node.port)
        yield client
        client.close()


def test_kv_over_http_matches_etcd(etcd, node_client, seed):
    ours = NodeOverHttp(node_client)
    ours.reset()
    run = Differential(
        seed, ours, EtcdSide(etcd), ttl_window=(-2, 2),
        replay=".venv/bin/python -m pytest "
               f"'tests/differential/test_kv_over_http_vs_etcd.py::test_kv_over_http_matches_etcd[{seed_id(seed)}]'",
    )
    # No short leases: each server expires them on its own clock, and which
    # side has dropped one a few steps later is a race, not a difference
    # (the in-process run covers short TTLs with a clock it controls).
    generator = Generator(
        seed, StoreView(lambda: ours.revision, lambda: ours.compact_revision), short_ttls=(),
    )
    for _ in range(OPS_PER_SEED):
        request = generator.next_request()
        outcome = run.step(request)
        generator.observe(request, outcome.error is None)
    run.check_history()


def test_a_difference_is_caught(etcd, node_client):
    """The run over HTTP is not vacuous: a node whose revisions read one
    off fails at once, naming the field."""
    ours = NodeOverHttp(node_client)
    ours.reset()
    run = Differential(0, ours, EtcdSide(etcd), replay="(planted difference)")
    run.step(PutRequest(key=b"a", value=b"1"))
    ours.offset += 1
    with pytest.raises(Mismatch, match=r"first difference: header.revision: ours .1. != etcd .2."):
        run.step(RangeRequest(key=b"a"))
