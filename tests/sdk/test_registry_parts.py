"""The pure parts of the registry helpers, without sockets: when renewals
and retries are due, how instance messages change the live list, and the
REST paths and URLs."""
from __future__ import annotations

import asyncio
import random

import pytest

from config_center_client import Backoff, ProtocolError, ServiceInstances
from config_center_client.protocol import rest_url, subscribe_service
from config_center_client.registration import RenewalSchedule
from config_center_client.rest import instance_path
from config_center_client.service_instances import apply_instance_change, apply_listing


def record(instance_id: str, revision: int, address: str = "10.0.0.1", lease: int = 7) -> dict:
    return {"service": "pay/api", "id": instance_id, "address": address, "port": 80, "metadata": {"v": "1"},
            "health": "passing", "ttl": 9, "lease": lease, "revision": revision}


def test_renewals_come_three_times_per_ttl_and_follow_the_servers_ttl():
    schedule = RenewalSchedule(9, RenewalSchedule.retry_backoff(9, random.Random(1)))
    assert not schedule.alive(0.0)
    assert schedule.renewed(100.0) == 3.0
    assert schedule.alive(108.9) and not schedule.alive(109.0)
    assert schedule.renewed(103.0, ttl=6) == 2.0 and schedule.ttl == 6
    assert schedule.alive(108.9) and not schedule.alive(109.0)
    schedule.lost()
    assert not schedule.alive(103.0)


def test_retries_back_off_but_land_before_the_lease_runs_out():
    schedule = RenewalSchedule(30, Backoff(1.0, 64.0, rng=random.Random(2)))
    schedule.renewed(0.0)
    # Nominal delays 1, 2, 4, 8, 16...: each capped at half of what is left.
    now, delays = 10.0, []
    while schedule.alive(now):
        delay = schedule.failed(now)
        assert delay <= max((30.0 - now) / 2, 0.05) + 1e-9
        delays.append(delay)
        now += delay
    assert len(delays) >= 5, delays
    # Once the lease is past saving, the plain backoff: up to its maximum.
    assert schedule.failed(now) <= 64.0
    # A success starts the backoff over.
    schedule.renewed(now)
    assert schedule.failed(now) <= 1.0


def test_the_retry_backoff_is_capped_at_one_renewal_interval():
    assert RenewalSchedule.retry_backoff(3).maximum == 1.0
    assert RenewalSchedule.retry_backoff(2).maximum == 2 / 3
    assert RenewalSchedule.retry_backoff(3600).maximum == 10.0
    with pytest.raises(ValueError):
        RenewalSchedule(0, Backoff())


def test_listing_and_changes_build_the_list():
    by_id, revision = apply_listing("pay/api", {"type": "instances", "service": "pay/api", "revision": 10,
                                                "instances": [record("b", 8), record("a", 9)]})
    assert revision == 10 and sorted(by_id) == ["a", "b"] and by_id["a"].metadata == {"v": "1"}
    change = {"type": "instance_change", "service": "pay/api", "revision": 11,
              "put": [record("c", 11), record("a", 11, address="10.0.0.2")], "removed": ["b"]}
    after = apply_instance_change("pay/api", by_id, revision, change)
    assert sorted(after) == ["a", "c"] and after["a"].address == "10.0.0.2"
    assert sorted(by_id) == ["a", "b"], "the old mapping changed in place"
    assert apply_instance_change("pay/api", after, 11, change) is None, "a change applied already was applied again"
    with pytest.raises(ProtocolError):
        apply_listing("pay/api", {"type": "instances", "revision": 1})
    with pytest.raises(ProtocolError):
        apply_instance_change("pay/api", after, 11, {"type": "instance_change", "revision": 12, "put": [{"id": "x"}]})


def test_the_live_view_swaps_lists_resyncs_and_calls_back_on_changes_only():
    view = ServiceInstances("pay/api")
    calls = []
    view.on_change(lambda service, instances, revision: calls.append(([i.id for i in instances], revision)))

    async def feed():
        with pytest.raises(ProtocolError):
            await view.apply("instance_change", {"revision": 3, "put": [], "removed": []})
        await view.apply("instances", {"revision": 5, "instances": [record("a", 4)]})
        await view.wait_loaded(0.1)
        await view.apply("progress", {"revision": 8})
        assert not await view.apply("instance_change", {"revision": 7, "put": [record("z", 7)], "removed": []})
        await view.apply("instance_change", {"revision": 9, "put": [record("b", 9)], "removed": []})
        # A resync with the same list: no callback; with another list: the list is replaced.
        await view.apply("resync", {"revision": 12, "instances": [record("a", 4), record("b", 9)]})
        await view.apply("resync", {"revision": 20, "instances": [record("c", 19)]})

    asyncio.run(feed())
    assert calls == [(["a"], 5), (["a", "b"], 9), (["c"], 20)]
    assert view.revision == 20 and [i.id for i in view.instances()] == ["c"] and "c" in view and len(view) == 1


def test_rest_urls_and_paths():
    assert rest_url("http://10.0.0.5:8000") == "http://10.0.0.5:8000/api/v1"
    assert rest_url("https://cc.example/prefix/") == "https://cc.example/prefix/api/v1"
    assert rest_url("wss://cc.example/ws/v1/config") == "https://cc.example/api/v1"
    assert instance_path("pay/api") == "/services/pay/api/-/instances"
    assert instance_path("pay/api", "host-1.a_b") == "/services/pay/api/-/instances/host-1.a_b"
    assert subscribe_service("pay/api", None) == '{"type":"subscribe","service":"pay/api"}'
    assert subscribe_service("pay/api", 4) == '{"type":"subscribe","service":"pay/api","since":4}'
