"""Leases: the replicated lessor (grant, revoke, attachments, persistence)
and the leader-local LeaseClock."""
import pytest

from consensus.mvcc.api import (
    EventType,
    LeaseExistsError,
    LeaseGrantRequest,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    LeaseTimeToLiveRequest,
    LeaseTTLTooLargeError,
    Limits,
    PutRequest,
    TxnRequest,
)
from consensus.mvcc.lease_clock import LeaseClock

from .store_support import Log


@pytest.fixture
def log(tmp_path):
    log = Log(tmp_path / "store.db")
    yield log
    log.close()


def ttl_of(log: Log, lease_id: int, keys: bool = True):
    return log.sm.lease_time_to_live(LeaseTimeToLiveRequest(ID=lease_id, keys=keys), None)


# -- grant ------------------------------------------------------------------------------------


def test_grant_with_a_given_id(log):
    resp = log(LeaseGrantRequest(TTL=30, ID=7))
    assert (resp.ID, resp.TTL, resp.header.revision) == (7, 30, 1)
    assert log.sm.revision == 1  # a grant takes no revision
    with pytest.raises(LeaseExistsError) as e:
        log(LeaseGrantRequest(TTL=30, ID=7))
    assert str(e.value) == "etcdserver: lease already exists"


def test_generated_ids_are_positive_distinct_and_the_same_on_every_member(tmp_path):
    a, b = Log(tmp_path / "a.db"), Log(tmp_path / "b.db")
    ids_a = [a.grant() for _ in range(20)]
    ids_b = [b.grant() for _ in range(20)]
    assert ids_a == ids_b
    assert len(set(ids_a)) == 20 and all(0 < i < 2**63 for i in ids_a)
    a.close()
    b.close()


def test_ttl_below_the_minimum_is_raised_and_above_the_maximum_refused(tmp_path):
    log = Log(tmp_path / "s.db", limits=Limits(min_lease_ttl=5, max_lease_ttl=100))
    assert log(LeaseGrantRequest(TTL=1)).TTL == 5
    assert log(LeaseGrantRequest(TTL=-3)).TTL == 5
    assert log(LeaseGrantRequest(TTL=100)).TTL == 100
    with pytest.raises(LeaseTTLTooLargeError) as e:
        log(LeaseGrantRequest(TTL=101, ID=55))
    assert str(e.value) == "etcdserver: too large lease TTL"
    assert len(log.sm.lease_leases().leases) == 3
    log.close()


# -- attachments ---------------------------------------------------------------------------------


def test_put_attaches_switches_and_detaches(log):
    one, two = log.grant(), log.grant()
    log.put(b"k", lease=one)
    log.put(b"j", lease=one)
    assert ttl_of(log, one).keys == (b"j", b"k")  # sorted
    log.put(b"k", lease=two)
    assert ttl_of(log, one).keys == (b"j",) and ttl_of(log, two).keys == (b"k",)
    log.put(b"k")  # no lease: detached
    assert ttl_of(log, two).keys == ()
    log.delete(b"j")
    assert ttl_of(log, one).keys == ()
    assert ttl_of(log, one, keys=False).keys == ()


def test_revoke_deletes_every_attached_key_at_one_revision(log):
    lease = log.grant()
    other = log.grant()
    for key in (b"c", b"a", b"b"):
        log.put(key, lease=lease)
    log.put(b"keep", lease=other)
    log.put(b"plain")
    seen = []
    log.sm.add_apply_listener(lambda rev, events: seen.append((rev, events)))
    resp = log.revoke(lease)
    assert resp.header.revision == 7 and log.sm.revision == 7
    assert [(e.type, e.kv.key) for e in seen[0][1]] == [(EventType.DELETE, k) for k in (b"a", b"b", b"c")]
    assert set(log.all()) == {b"keep", b"plain"}
    assert [s.ID for s in log.sm.lease_leases().leases] == [other]


def test_revoke_of_a_lease_without_keys_takes_no_revision_and_unknown_fails(log):
    lease = log.grant()
    assert log.revoke(lease).header.revision == 1
    with pytest.raises(LeaseNotFoundError) as e:
        log.revoke(lease)
    assert str(e.value) == "etcdserver: requested lease not found"


def test_time_to_live_and_leases(log):
    lease = log.grant(ttl=40)
    log.put(b"x", lease=lease)
    resp = log.sm.lease_time_to_live(LeaseTimeToLiveRequest(ID=lease, keys=True), remaining=17)
    assert (resp.ID, resp.TTL, resp.grantedTTL, resp.keys, resp.header.revision) == (lease, 17, 40, (b"x",), 2)
    assert ttl_of(log, lease).TTL == 40  # no clock: the granted TTL
    missing = ttl_of(log, 424242)
    assert (missing.ID, missing.TTL, missing.grantedTTL, missing.keys) == (424242, -1, 0, ())
    ids = sorted(log.grant() for _ in range(3))
    assert [s.ID for s in log.sm.lease_leases().leases] == sorted(ids + [lease])


def test_leases_and_attachments_survive_a_restart(log):
    lease = log.grant(ttl=33)
    log.put(b"a", lease=lease)
    log.put(b"b", lease=lease)
    log.put(b"b")  # detached again
    log.reopen()
    assert ttl_of(log, lease).keys == (b"a",) and ttl_of(log, lease).grantedTTL == 33
    log.revoke(lease)
    assert log.all() == {b"b": log.get(b"b")}


def test_txn_put_with_lease(log):
    lease = log.grant()
    log(TxnRequest(success=(PutRequest(key=b"t", lease=lease),)))
    assert ttl_of(log, lease).keys == (b"t",)
    with pytest.raises(LeaseNotFoundError):
        log(TxnRequest(success=(PutRequest(key=b"u", lease=lease + 1),)))
    assert log.get(b"u") is None


def test_lease_id_zero_revoke_is_not_found(log):
    with pytest.raises(LeaseNotFoundError):
        log(LeaseRevokeRequest(ID=0))


# -- the leader-local clock --------------------------------------------------------------------------


def test_clock_counts_only_as_leader():
    clock = LeaseClock()
    clock.on_grant(1, 10, now=0.0)
    assert clock.remaining(1, 5.0) is None and clock.expired(100.0) == []
    with pytest.raises(RuntimeError):
        clock.keepalive(1, 0.0)
    clock.promote(now=100.0)
    assert clock.remaining(1, 100.0) == 10
    assert clock.remaining(1, 103.5) == 6  # truncated
    assert clock.expired(109.9) == []
    assert clock.expired(110.0) == [1]


def test_keepalive_renews_and_returns_the_ttl():
    clock = LeaseClock()
    clock.promote(now=0.0)
    clock.on_grant(1, 10, now=0.0)
    assert clock.keepalive(1, now=8.0) == 10
    assert clock.expired(12.0) == [] and clock.remaining(1, 12.0) == 6
    with pytest.raises(LeaseNotFoundError):
        clock.keepalive(2, now=8.0)


def test_expired_are_returned_once_per_retry_interval_earliest_first():
    clock = LeaseClock(retry_interval=3.0)
    clock.promote(now=0.0)
    clock.on_grant(1, 5, now=0.0)
    clock.on_grant(2, 2, now=0.0)
    clock.on_grant(3, 50, now=0.0)
    assert clock.expired(6.0) == [2, 1]
    assert clock.expired(7.0) == []  # revokes are in flight
    clock.on_revoke(2)
    assert clock.expired(9.0) == [1]  # lost proposal: proposed again
    assert clock.expired(100.0, limit=1) == [1]


def test_promote_gives_every_lease_a_fresh_deadline_and_demote_stops():
    clock = LeaseClock()
    clock.promote(now=0.0)
    clock.on_grant(1, 10, now=0.0)
    clock.demote()
    assert clock.expired(1000.0) == []
    clock.promote(now=1000.0, extend=2.0)  # a failover does not mass-expire
    assert clock.remaining(1, 1000.0) == 12
    assert clock.expired(1011.0) == [] and clock.expired(1012.0) == [1]


def test_reset_after_restore():
    clock = LeaseClock()
    clock.promote(now=0.0)
    clock.on_grant(1, 10, now=0.0)
    clock.reset([(2, 4), (3, 8)], now=50.0)
    assert 1 not in clock and clock.remaining(2, 50.0) == 4 and clock.expired(54.0) == [2]
