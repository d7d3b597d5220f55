"""Resuming: the client's connection is cut again and again while releases
are published, and the node itself is restarted; the client ends with every
release applied exactly once, in order (each reaches ``on_change`` once,
with the content of that release), and the cache holds the last one."""
from __future__ import annotations

import json
import random
import time

from config_center_client import Backoff, ConfigClient

from .sdk_support import ChangeLog, CuttableProxy, restartable_node, wait_for

NS = "shop/prod"
SEED = 20240611


def content(n: int) -> str:
    return f"version: {n}\n"


def test_cut_connections_during_publishes_lose_and_repeat_nothing(tmp_path):
    rng = random.Random(SEED)
    with restartable_node(tmp_path / "data") as node:
        live = node.live
        live.namespace(NS)
        live.publish(NS, "app.yaml", content(0))
        token = live.token("shop/*", "read")
        proxy = CuttableProxy(node.port)
        try:
            client = ConfigClient([proxy.base_url], token, [NS], cache_dir=tmp_path / "cache",
                                  backoff=Backoff(0.02, 0.5, rng=random.Random(SEED)), rng=random.Random(SEED))
            changes = ChangeLog(client, "app.yaml")
            with client.start(timeout=15):
                client.on_change(changes)
                published = []
                for n in range(1, 31):
                    published.append(live.publish(NS, "app.yaml", content(n))["revision"])
                    # Cut after a seeded random share of the releases, at
                    # random moments: some while the change is on its way,
                    # some while the client is still resuming from a cut.
                    if rng.random() < 0.4:
                        time.sleep(rng.uniform(0, 0.05))
                        proxy.cut()
                wait_for(lambda: client.revision(NS) == published[-1] and len(changes.calls) >= 30,
                         timeout=30, what="the client catching up with every release")
                assert proxy.cuts >= 5, f"only {proxy.cuts} cuts: the test did not test resuming"
                assert client.client.reconnects >= 5
                assert changes.contents() == [content(n) for n in range(1, 31)], "lost, repeated or reordered"
                assert changes.revisions() == published
                assert all(names == frozenset({"app.yaml"}) for _, names, _, _ in changes.calls)
                cached = json.loads(client.client._cache.path(NS).read_text())
                assert cached["revision"] == published[-1]
                assert cached["items"]["app.yaml"]["content"] == content(30)
        finally:
            proxy.close()


def test_a_restarted_node_is_resumed_from_the_applied_revision(tmp_path):
    with restartable_node(tmp_path / "data") as node:
        live = node.live
        live.namespace(NS)
        live.publish(NS, "app.yaml", content(0))
        token = live.token("shop/*", "read")
        client = ConfigClient([node.base_url], token, [NS], backoff=Backoff(0.05, 0.5, rng=random.Random(SEED)),
                              rng=random.Random(SEED))
        changes = ChangeLog(client, "app.yaml")
        with client.start(timeout=15):
            client.on_change(changes)
            published = [live.publish(NS, "app.yaml", content(n))["revision"] for n in (1, 2, 3)]
            wait_for(lambda: client.revision(NS) == published[-1], what="the first releases")
            node.stop()
            wait_for(lambda: not client.connected, what="the client noticing the stop")
            assert client.stale and client.get(NS, "app.yaml") == content(3), "the last content stays readable"
            live = node.start()
            published += [live.publish(NS, "app.yaml", content(n))["revision"] for n in (4, 5, 6)]
            wait_for(lambda: client.revision(NS) == published[-1], timeout=30, what="the client resuming")
            assert client.connected and not client.stale
            assert changes.contents() == [content(n) for n in range(1, 7)]
            assert changes.revisions() == published
