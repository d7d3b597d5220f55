"""``AsyncConfigClient`` against a real node process: ``async with`` starts
and closes it, async and plain callbacks both run, in revision order, and
reads see each change whole (every item of a release at once)."""
from __future__ import annotations

import asyncio
import random

from config_center_client import AsyncConfigClient
from tests.live.live_support import live_node

NS = "shop/prod"


def test_async_client_start_callbacks_and_consistent_views(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace(NS)
        node.namespace("shop/staging")
        node.publish(NS, "a.txt", "a0", "text")
        node.publish("shop/staging", "b.txt", "b0", "text")
        token = node.token("shop/*", "read")

        async def body():
            client = AsyncConfigClient([node.node.base_url], token, [NS, "shop/staging"],
                                       cache_dir=tmp_path / "cache", rng=random.Random(5))
            async_seen: list[tuple[str, int]] = []
            plain_seen: list[tuple[str, int]] = []
            done = asyncio.Event()

            async def on_change_async(ns, names, revision):
                await asyncio.sleep(0)  # a real await inside the callback
                async_seen.append((ns, revision))
                if ns == NS and client.get(NS, "a.txt") == "a3":
                    done.set()

            client.on_change(on_change_async)
            client.on_change(lambda ns, names, revision: plain_seen.append((ns, revision)))
            async with client:
                assert client.get(NS, "a.txt") == "a0" and client.get("shop/staging", "b.txt") == "b0"
                assert sorted(ns for ns, _ in async_seen) == [NS, "shop/staging"]
                for n in (1, 2, 3):
                    await asyncio.to_thread(node.publish, NS, "a.txt", f"a{n}", "text")
                await asyncio.wait_for(done.wait(), 15)
                assert async_seen == plain_seen
                ours = [revision for ns, revision in async_seen if ns == NS]
                assert ours == sorted(ours) and len(ours) == 4
                # One consistent view: a snapshot of the namespace keeps its
                # revision's items whatever the client applies later.
                view = client.config(NS)
                await asyncio.to_thread(node.publish, NS, "a.txt", "a4", "text")
                while client.get(NS, "a.txt") != "a4":
                    await asyncio.sleep(0.02)
                assert view.items["a.txt"].content == "a3" and view.revision < client.revision(NS)
            assert not client.connected
            assert client.get(NS, "a.txt") == "a4", "reads still answer after close"

        asyncio.run(asyncio.wait_for(body(), 45))
