"""The registry helpers against real node processes: an instance that
``register`` keeps alive outlives several TTLs, ``close`` removes it from
a discoverer's live list at once, and one whose process is killed goes
with its TTL; an instance whose lease really expired (its member cut off
for longer than the TTL) is registered again by the SDK on its own, and
the discoverer sees it again; both outlive a stopped and restarted node."""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from config_center_client import Backoff, ConfigClient, RegistrationError, SubscriptionError
from tests.live.live_support import live_node
from tests.test_skeleton_runnode import REPO

from .sdk_support import CuttableProxy, restartable_node, wait_for

SERVICE = "pay/api"
TTL = 3

# A process that registers an instance with the asyncio client and keeps it
# alive until it is killed.
REGISTRANT = textwrap.dedent("""
    import asyncio, sys
    from config_center_client import AsyncConfigClient

    async def main(url, token, instance_id):
        async with AsyncConfigClient([url], token, instance_id=instance_id) as client:
            registration = await client.register("pay/api", "10.0.0.9", 9000, ttl=3)
            assert registration.registered, registration
            print("registered", registration.lease, flush=True)
            await asyncio.Event().wait()

    asyncio.run(main(*sys.argv[1:]))
""")


class InstancesLog:
    """The ids of each list ``on_change`` reported, in order."""

    def __init__(self) -> None:
        self.lists: list[list[str]] = []

    def __call__(self, service, instances, revision) -> None:
        self.lists.append([instance.id for instance in instances])


def test_register_keepalive_close_and_a_killed_process(tmp_path):
    with live_node(tmp_path / "data") as node:
        url = node.node.base_url
        writer, reader = node.token("pay/*", "write"), node.token("pay/*", "read")
        with ConfigClient([url], reader) as b:
            view = b.discover(SERVICE, timeout=10)
            assert view.instances() == [] and view.revision > 0
            log = InstancesLog()
            view.on_change(log)

            a = ConfigClient([url], writer, instance_id="a-1").start()
            try:
                registration = a.register(SERVICE, "10.0.0.1", 8080, ttl=TTL, metadata={"version": "1.2"})
                assert registration.registered and registration.lease > 0 and registration.ttl == TTL
                wait_for(lambda: "a-1" in view, timeout=5, what="B seeing A's instance")
                seen = view.get("a-1")
                assert (seen.address, seen.port, seen.metadata["version"], seen.health) == \
                    ("10.0.0.1", 8080, "1.2", "passing")
                assert seen.lease == registration.lease and seen.revision <= view.revision

                # Keep-alives: well past two TTLs, still the first registration.
                time.sleep(2 * TTL + 1)
                assert "a-1" in view and registration.registered
                assert registration.registrations == 1 and view.get("a-1").lease == registration.lease
            finally:
                a.close()
            assert not registration.registered and registration.closed
            closed_at = time.monotonic()
            wait_for(lambda: "a-1" not in view, timeout=TTL, what="A's instance leaving B's list on close")
            assert time.monotonic() - closed_at < TTL - 1, "close() did not deregister: it expired instead"
            assert log.lists[-2:] == [["a-1"], []]

            # A process that registered and then died: its instance goes with its TTL.
            registrant = subprocess.Popen([sys.executable, "-c", REGISTRANT, url, writer, "k-1"], cwd=REPO,
                                          stdout=subprocess.PIPE, text=True)
            try:
                assert registrant.stdout.readline().startswith("registered"), "the registrant did not register"
                wait_for(lambda: "k-1" in view, timeout=5, what="B seeing the registrant")
                os.kill(registrant.pid, signal.SIGKILL)
                killed_at = time.monotonic()
            finally:
                registrant.kill()
                registrant.wait(10)
            wait_for(lambda: "k-1" not in view, timeout=TTL + 5, what="the killed registrant expiring")
            # Renewed at most ttl/3 before the kill: gone no sooner than 2/3 of a TTL later.
            assert time.monotonic() - killed_at > TTL * 2 / 3 - 0.5
            assert view.instances() == []


def test_an_expired_lease_is_registered_again_and_survives_a_restart(tmp_path):
    with restartable_node(tmp_path / "data") as node:
        writer, reader = node.live.token("pay/*", "write"), node.live.token("pay/*", "read")
        proxy = CuttableProxy(node.port)
        a = ConfigClient([proxy.base_url], writer, instance_id="a-1", rng=random.Random(7))
        b = ConfigClient([node.base_url], reader, backoff=Backoff(0.05, 0.5, rng=random.Random(8)))
        try:
            a.start()
            b.start()
            view = b.discover(SERVICE)
            registration = a.register(SERVICE, "10.0.0.1", 8080, ttl=TTL)
            first_lease = registration.lease
            wait_for(lambda: "a-1" in view, timeout=5, what="B seeing A's instance")

            # A is cut off from its member for longer than the TTL: the lease
            # really expires and the instance leaves B's list.
            proxy.block()
            wait_for(lambda: "a-1" not in view, timeout=TTL + 5, what="A's lease expiring while it is cut off")
            assert not registration.registered
            proxy.unblock()
            # B can see the new instance (pushed) a moment before A has read
            # its own answer to the PUT: wait for both.
            wait_for(lambda: "a-1" in view and registration.registered, timeout=TTL + 5,
                     what="A registering again and B seeing it")
            assert registration.registrations == 2
            assert registration.lease != first_lease and view.get("a-1").lease == registration.lease

            # The node is down for longer than the TTL: when it is back, A is
            # registered again (its lease renewed or replaced) and B, resumed,
            # sees it.
            revision_before = view.revision
            node.stop()
            time.sleep(TTL + 1)
            node.start()
            wait_for(lambda: registration.registered and b.connected, timeout=15,
                     what="A renewing or registering again after the restart")
            wait_for(lambda: view.get("a-1") is not None and view.get("a-1").lease == registration.lease,
                     timeout=10, what="B seeing A's current registration after the restart")
            assert view.revision >= revision_before
        finally:
            a.close()
            b.close()
            proxy.close()


def test_refusals_are_errors_that_say_so(tmp_path):
    with live_node(tmp_path / "data") as node:
        url = node.node.base_url
        reader = node.token("pay/*", "read")
        with ConfigClient([url], reader) as client:
            with pytest.raises(RegistrationError) as refused:
                client.register(SERVICE, "10.0.0.1", 8080, ttl=TTL)  # a read token may not register
            assert refused.value.status == 403
            with pytest.raises(SubscriptionError) as forbidden:
                client.discover("bank/api", timeout=10)
            assert forbidden.value.code == "forbidden" and forbidden.value.kind == "service"
            with pytest.raises(ValueError, match="ttl"):
                client.register(SERVICE, "10.0.0.1", ttl=1)
