"""The local cache with a real node: a client fills it over many releases
(every file written is whole JSON of one applied revision), the node goes
away, and a new client with the same cache directory and no reachable
member starts from the cache within its timeout and says so; when a member
comes back it resumes from the cached revision; a quiet resume (nothing
missed) starts after a short grace and is confirmed by the heartbeat."""
from __future__ import annotations

import json
import logging
import random
import time

from config_center_client import Backoff, ConfigClient
from tests.live.live_support import live_node
from tests.test_skeleton_runnode import free_port

from .sdk_support import ChangeLog, restartable_node, wait_for

NS = "shop/prod"


def test_start_from_the_cache_when_no_member_answers_then_resume(tmp_path, caplog):
    cache_dir = tmp_path / "cache"
    with restartable_node(tmp_path / "data") as node:
        live = node.live
        live.namespace(NS)
        live.publish(NS, "app.yaml", "version: 0\n")
        live.publish(NS, "flags.json", '{"beta": false}', "json")
        token = live.token("shop/*", "read")
        with ConfigClient([node.base_url], token, [NS], cache_dir=cache_dir) as client:
            cache_file = client.client._cache.path(NS)
            seen_whole = []

            def read_cache_file(ns, names, revision):
                # Read from disk after each applied change: always whole.
                body = json.loads(cache_file.read_text())
                seen_whole.append((body["revision"], body["items"]["app.yaml"]["content"]))

            client.on_change(read_cache_file)
            releases = [live.publish(NS, "app.yaml", f"version: {n}\n") for n in range(1, 21)]
            wait_for(lambda: len(seen_whole) == 20, what="every release applied")
            assert seen_whole == [(r["revision"], f"version: {n}\n") for n, r in enumerate(releases, 1)]
            assert not any(p.name.endswith(".tmp") for p in cache_dir.iterdir()), "no temp file left behind"
        last = releases[-1]
        node.stop()

        # No member: the cache, within the timeout, and the client says so.
        caplog.set_level(logging.WARNING, logger="config_center_client")
        dead = [f"http://127.0.0.1:{free_port()}", f"http://127.0.0.1:{free_port()}"]
        offline = ConfigClient(dead, token, [NS], cache_dir=cache_dir, rng=random.Random(3))
        began = time.monotonic()
        offline.start(timeout=5)
        try:
            assert time.monotonic() - began < 5
            assert offline.from_cache and offline.source(NS) == "cache" and offline.stale
            assert offline.revision(NS) == last["revision"] and offline.config(NS).release == last["seq"]
            assert offline.get(NS, "app.yaml") == "version: 20\n"
            assert offline.get_bool(NS, "flags.json", "beta") is False
            assert "started from the local cache for shop/prod" in caplog.text
        finally:
            offline.close()

        # A member again: the client resumes from the cached revision and
        # gets only what it missed.
        live = node.start()
        missed = live.publish(NS, "app.yaml", "version: 21\n")
        resumed = ConfigClient([dead[0], node.base_url], token, [NS], cache_dir=cache_dir,
                               backoff=Backoff(0.05, 0.5, rng=random.Random(4)), rng=random.Random(4))
        changes = ChangeLog(resumed, "app.yaml")
        resumed.on_change(changes)
        with resumed.start(timeout=15):
            wait_for(lambda: resumed.revision(NS) == missed["revision"], what="the missed release")
            assert changes.calls == [(NS, frozenset({"app.yaml"}), missed["revision"], "version: 21\n")]
            wait_for(lambda: resumed.source(NS) == "server", what="the member confirming the content")
            assert not resumed.from_cache


def test_a_quiet_resume_from_the_cache_is_confirmed_by_the_next_heartbeat(tmp_path):
    """Nothing changed since the cached revision: the member sends nothing
    until its next heartbeat, so start() returns after ``resume_grace``
    with the cached content, which the heartbeat then confirms."""
    cache_dir = tmp_path / "cache"
    with live_node(tmp_path / "data", live_heartbeat=1.0) as node:
        node.namespace(NS)
        release = node.publish(NS, "app.yaml", "version: 1\n")
        token = node.token("shop/*", "read")
        with ConfigClient([node.node.base_url], token, [NS], cache_dir=cache_dir):
            pass
        client = ConfigClient([node.node.base_url], token, [NS], cache_dir=cache_dir, resume_grace=0.3)
        began = time.monotonic()
        with client.start(timeout=10):
            assert time.monotonic() - began < 3
            assert client.get(NS, "app.yaml") == "version: 1\n" and client.revision(NS) >= release["revision"]
            wait_for(lambda: client.source(NS) == "server", timeout=10, what="a heartbeat confirming the cache")
            assert not client.from_cache and not client.stale
