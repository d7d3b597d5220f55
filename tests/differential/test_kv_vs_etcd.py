"""Our state machine against a real etcd 3.4.23, request by request.

Each seed runs ``OPS_PER_SEED`` random requests (``generator.Generator``) on
a fresh ``StoreStateMachine`` and on the module's etcd (reset and offset, see
``harness``), compares every response or error field by field, then compares
every revision still in history and the lease list. Only the differences
named in ``harness.DIFFERENCES`` are allowed, each with its reason.

A failure prints the seed, the step, both answers, all steps so far and the
command that replays just that seed, e.g.::

    .venv/bin/python -m pytest 'tests/differential/test_kv_vs_etcd.py::test_kv_matches_etcd[seed_17]'

``--seeds N`` runs N seeds instead of the default, ``--seed S`` one seed.
A few fixed scripts run against a fresh etcd of their own, for cases that
depend on etcd never having compacted (``test_fresh_etcd_scripts``).
"""
from __future__ import annotations

import pytest

from consensus.mvcc.api import (
    CompactionRequest,
    Compare,
    CompareTarget,
    DeleteRangeRequest,
    LeaseGrantRequest,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    PutRequest,
    RangeRequest,
    TxnRequest,
)
from consensus.mvcc.json_codec import LeaseLeasesRequest
from consensus.mvcc.state_machine import StoreStateMachine
from tests.differential.etcd import EtcdServer, find_etcd
from tests.differential.generator import Generator, StoreView
from tests.differential.harness import Differential, EtcdSide, OurStore, seed_id, seed_list

DEFAULT_SEEDS = 500
OPS_PER_SEED = 50


def pytest_generate_tests(metafunc):
    if "seed" in metafunc.fixturenames:
        metafunc.parametrize("seed", seed_list(metafunc.config, DEFAULT_SEEDS), ids=seed_id)


def replay_command(test: str, seed_or_case: str) -> str:
    return f".venv/bin/python -m pytest 'tests/differential/test_kv_vs_etcd.py::{test}[{seed_or_case}]'"


def test_kv_matches_etcd(etcd, tmp_path, seed):
    sm = StoreStateMachine.open(tmp_path / "store")
    try:
        ours = OurStore(sm)
        run = Differential(seed, ours, EtcdSide(etcd), replay=replay_command("test_kv_matches_etcd", seed_id(seed)))
        generator = Generator(seed, StoreView(lambda: ours.revision, lambda: ours.compact_revision))
        for _ in range(OPS_PER_SEED):
            request = generator.next_request()
            outcome = run.step(request)
            generator.observe(request, outcome.error is None)
        run.check_history()
    finally:
        sm.close()


# Scripts whose outcome depends on etcd's compact revision never having been
# set, which only a fresh etcd guarantees. Revisions here are absolute: our
# fresh store and a fresh etcd both start at revision 1.
FRESH_SCRIPTS = {
    "negative_revision_in_txn": [
        # etcd 3.4 checks a txn's range revision against its compact
        # revision, -1 until the first compaction: before it, -1 means "now";
        # after it, "required revision has been compacted".
        PutRequest(key=b"a", value=b"1"),
        TxnRequest(success=(RangeRequest(key=b"a", revision=-1),)),
        RangeRequest(key=b"a", revision=-1),
        CompactionRequest(revision=2),
        TxnRequest(success=(RangeRequest(key=b"a", revision=-1),)),
        RangeRequest(key=b"a", revision=-1),
        TxnRequest(success=(RangeRequest(key=b"a", revision=0),)),
    ],
    "compaction_at_zero_and_below": [
        PutRequest(key=b"a", value=b"1"),
        CompactionRequest(revision=0),
        CompactionRequest(revision=-1),
        RangeRequest(key=b"a", revision=1),
        CompactionRequest(revision=1),
        CompactionRequest(revision=1),
        RangeRequest(key=b"a", revision=1),
    ],
    "first_revisions": [
        RangeRequest(key=b"\x00", range_end=b"\x00", revision=1),
        RangeRequest(key=b"\x00", range_end=b"\x00", revision=2),
        CompactionRequest(revision=1),
        PutRequest(key=b"a", value=b"1"),
        TxnRequest(compare=(Compare(target=CompareTarget.MOD, key=b"a", operand=2),),
                   success=(DeleteRangeRequest(key=b"a", prev_kv=True),)),
        CompactionRequest(revision=3),
        RangeRequest(key=b"a", revision=2),
        RangeRequest(key=b"a", revision=3),
    ],
    "lease_ttl_edges": [
        LeaseGrantRequest(TTL=1, ID=1),
        LeaseGrantRequest(TTL=0, ID=2),
        LeaseGrantRequest(TTL=-5, ID=3),
        LeaseGrantRequest(TTL=9_000_000_000, ID=4),
        LeaseGrantRequest(TTL=9_000_000_001, ID=5),
        LeaseGrantRequest(TTL=60, ID=-7),
        LeaseLeasesRequest(),
        LeaseTimeToLiveRequest(ID=4),
        LeaseRevokeRequest(ID=1),
        LeaseRevokeRequest(ID=2),
        LeaseRevokeRequest(ID=3),
        LeaseRevokeRequest(ID=4),
        LeaseRevokeRequest(ID=-7),
        LeaseRevokeRequest(ID=1),
    ],
}


@pytest.mark.parametrize("case", sorted(FRESH_SCRIPTS))
def test_fresh_etcd_scripts(tmp_path, case):
    binary = find_etcd()
    if binary is None:
        from tests.differential.etcd import INSTALL_HINT

        pytest.fail(INSTALL_HINT, pytrace=False)
    server = EtcdServer(binary).start()
    client = server.client()
    sm = StoreStateMachine.open(tmp_path / "store")
    try:
        run = Differential(0, OurStore(sm), EtcdSide(client), fresh=True,
                           replay=replay_command("test_fresh_etcd_scripts", case))
        for request in FRESH_SCRIPTS[case]:
            run.step(request)
    finally:
        sm.close()
        client.close()
        server.stop()


# Scripts that need no fresh etcd: limits and sizes the random sequences do
# not reach. Revisions are ours.
SCRIPTS = {
    "txn_op_limits": [
        TxnRequest(success=tuple(PutRequest(key=b"k%03d" % i) for i in range(128))),
        TxnRequest(success=tuple(RangeRequest(key=b"k%03d" % i) for i in range(129))),
        TxnRequest(failure=tuple(RangeRequest(key=b"k%03d" % i) for i in range(129))),
        TxnRequest(compare=tuple(Compare(key=b"k%03d" % i) for i in range(129))),
        TxnRequest(success=(TxnRequest(success=tuple(RangeRequest(key=b"k%03d" % i) for i in range(129))),)),
        TxnRequest(compare=tuple(Compare(key=b"k%03d" % i) for i in range(128)),
                   success=(RangeRequest(key=b"k", range_end=b"l", count_only=True),)),
    ],
    "request_too_large": [
        PutRequest(key=b"big", value=b"v" * 1_000_000),
        PutRequest(key=b"big", value=b"v" * 1_700_000),
        TxnRequest(success=(PutRequest(key=b"big1", value=b"v" * 900_000), PutRequest(key=b"big2", value=b"v" * 800_000))),
        RangeRequest(key=b"big", keys_only=True),
    ],
    "lease_revoke_deletes_keys": [
        LeaseGrantRequest(TTL=600, ID=9),
        PutRequest(key=b"a", value=b"1", lease=9),
        PutRequest(key=b"b", value=b"2", lease=9),
        PutRequest(key=b"c", value=b"3", lease=9),
        PutRequest(key=b"b", value=b"4", ignore_lease=True),
        PutRequest(key=b"c", value=b"5"),  # detaches c from the lease
        LeaseTimeToLiveRequest(ID=9, keys=True),
        LeaseRevokeRequest(ID=9),
        RangeRequest(key=b"\x00", range_end=b"\x00"),
        RangeRequest(key=b"\x00", range_end=b"\x00", revision=6),
        LeaseTimeToLiveRequest(ID=9, keys=True),
        PutRequest(key=b"d", lease=9),
    ],
}


@pytest.mark.parametrize("case", sorted(SCRIPTS))
def test_scripts(etcd, tmp_path, case):
    sm = StoreStateMachine.open(tmp_path / "store")
    try:
        run = Differential(0, OurStore(sm), EtcdSide(etcd), replay=replay_command("test_scripts", case))
        for request in SCRIPTS[case]:
            run.step(request)
        run.check_history()
    finally:
        sm.close()


class _OffByOneCount:
    """Our state machine with one planted bug: every range counts one key
    too many."""

    def __init__(self, sm) -> None:
        self._sm = sm

    def __getattr__(self, name):
        return getattr(self._sm, name)

    def range(self, request):
        import dataclasses

        response = self._sm.range(request)
        return dataclasses.replace(response, count=response.count + 1)


def test_a_planted_bug_is_caught(etcd, tmp_path):
    """The comparison is not vacuous: a store that miscounts fails at once,
    naming the field."""
    sm = StoreStateMachine.open(tmp_path / "store")
    try:
        ours = OurStore(_OffByOneCount(sm))
        run = Differential(0, ours, EtcdSide(etcd), replay="(planted bug)")
        run.step(PutRequest(key=b"a", value=b"1"))
        with pytest.raises(AssertionError, match=r"first difference: count: ours '2' != etcd '1'"):
            run.step(RangeRequest(key=b"a"))
    finally:
        sm.close()
