"""``ConfigClient`` against a real node process: start gets the published
config, a publish reaches ``on_change`` and ``get``, typed getters with
defaults, acks reach the server's delivery tracking; a refused token and
a forbidden namespace fail ``start`` with errors that say so; with no
member reachable the client starts from its cache."""
from __future__ import annotations

import json
import logging
import random

import pytest

from config_center_client import (AuthenticationError, ConfigClient, ConfigValueError, ItemNotFound, StartTimeout,
                                  SubscriptionError)
from tests.live.live_support import live_node
from tests.test_skeleton_runnode import free_port

from .sdk_support import ChangeLog, wait_for

NS = "shop/prod"
APP_YAML = "db:\n  pool: 5\n  hosts: [a, b]\nfeatures:\n  beta: true\nname: shop\n"
SETTINGS = "# settings\ntimeout.ms = 250\nretry.enabled = yes\ngreeting = hello world\n"


def test_start_publish_typed_getters_and_acks(tmp_path, caplog):
    caplog.set_level(logging.WARNING, logger="config_center_client")
    with live_node(tmp_path / "data") as node:
        node.namespace(NS)
        node.publish(NS, "app.yaml", APP_YAML, "yaml")
        node.publish(NS, "settings.properties", SETTINGS, "properties")
        node.publish(NS, "limits.json", '{"rps": 100, "burst": 1.5}', "json")
        token = node.token("shop/*", "read")

        client = ConfigClient([node.node.base_url], token, [NS], cache_dir=tmp_path / "cache",
                              instance_id="sdk-test-1", labels={"zone": "a"}, rng=random.Random(1))
        changes = ChangeLog(client, "app.yaml")
        client.on_change(changes)
        with client.start(timeout=15):
            assert client.get(NS, "app.yaml") == APP_YAML
            assert client.source(NS) == "server" and not client.from_cache and not client.stale
            first = client.revision(NS)
            # The first load reaches the callbacks too, with every item.
            assert changes.calls == [(NS, frozenset({"app.yaml", "settings.properties", "limits.json"}), first,
                                      APP_YAML)]

            # Typed getters: by the item's own format, with key paths and defaults.
            assert client.get_int(NS, "app.yaml", "db.pool") == 5
            assert client.get_str(NS, "app.yaml", "db.hosts.1") == "b"
            assert client.get_bool(NS, "app.yaml", "features.beta") is True
            assert client.get_bool(NS, "app.yaml", "features.gamma", default=False) is False
            assert client.get_value(NS, "app.yaml", "db") == {"pool": 5, "hosts": ["a", "b"]}
            assert client.get_int(NS, "settings.properties", "timeout.ms") == 250
            assert client.get_bool(NS, "settings.properties", "retry.enabled") is True
            assert client.get_properties(NS, "settings.properties")["greeting"] == "hello world"
            assert client.get_float(NS, "limits.json", "burst") == 1.5
            assert client.get_json(NS, "limits.json") == {"rps": 100, "burst": 1.5}
            assert client.get_yaml(NS, "app.yaml")["name"] == "shop"
            assert client.get(NS, "missing.yaml", default="fallback") == "fallback"
            assert client.get_int("other/ns", "x", "y", default=7) == 7
            with pytest.raises(ItemNotFound):
                client.get(NS, "missing.yaml")
            with pytest.raises(ConfigValueError):
                client.get_int(NS, "app.yaml", "name", default=0)  # present but not a number

            release = node.publish(NS, "app.yaml", APP_YAML.replace("pool: 5", "pool: 9"), "yaml")
            wait_for(lambda: len(changes.calls) == 2, what="the publish reaching on_change")
            assert changes.calls[1][:3] == (NS, frozenset({"app.yaml"}), release["revision"])
            assert client.get_int(NS, "app.yaml", "db.pool") == 9
            assert client.revision(NS) == release["revision"]
            assert client.config(NS).release == release["seq"]

            # The acks reach the member's delivery tracking: this instance,
            # described by its hello, applied the last revision.
            def applied():
                status, body = node.admin("GET", f"/api/v1/namespaces/{NS}/-/delivery")
                assert status == 200, body
                mine = [i for i in body["instances"] if i["id"] == "sdk-test-1"]
                return mine and mine[0]["applied_revision"] == release["revision"] and mine[0]

            instance = wait_for(applied, what="the ack reaching delivery tracking")
            assert instance["labels"] == {"zone": "a"} and instance["sdk"].startswith("config_center_client/")
            assert instance["applied_release"] == release["seq"]

            cached = json.loads(client.client._cache.path(NS).read_text())
            assert cached["revision"] == release["revision"] and "pool: 9" in cached["items"]["app.yaml"]["content"]
        assert not client.connected
    refused = [r.getMessage() for r in caplog.records if "says" in r.getMessage() or "refused" in r.getMessage()]
    assert refused == [], f"the server refused a message of the client: {refused}"


def test_a_callback_that_raises_is_logged_and_the_client_carries_on(tmp_path, caplog):
    with live_node(tmp_path / "data") as node:
        node.namespace(NS)
        node.publish(NS, "a.txt", "one", "text")
        token = node.token("shop/*", "read")
        with ConfigClient([node.node.base_url], token, [NS]) as client:
            seen = []

            def broken(ns, names, revision):
                raise RuntimeError("a bug in the application's callback")

            client.on_change(broken)
            client.on_change(lambda ns, names, revision: seen.append(client.get(ns, "a.txt")))
            node.publish(NS, "a.txt", "two", "text")
            node.publish(NS, "a.txt", "three", "text")
            wait_for(lambda: seen == ["two", "three"], what="both changes after a failing callback")
            assert client.connected
        assert "a bug in the application's callback" in caplog.text


def test_a_refused_token_and_a_forbidden_namespace_fail_start_clearly(tmp_path):
    with live_node(tmp_path / "data") as node:
        node.namespace(NS)
        node.namespace("bank/prod")
        token = node.token("shop/*", "read")
        bad = ConfigClient([node.node.base_url], "cct_000000000000_" + "x" * 43, [NS],
                           rng=random.Random(2))
        with pytest.raises(AuthenticationError, match="refused the token"):
            bad.start(timeout=15)
        forbidden = ConfigClient([node.node.base_url], token, [NS, "bank/prod"])
        with pytest.raises(SubscriptionError) as refused:
            forbidden.start(timeout=15)
        assert refused.value.namespace == "bank/prod" and refused.value.code == "forbidden"


def test_no_member_and_no_cache_is_a_start_timeout(tmp_path):
    client = ConfigClient([f"http://127.0.0.1:{free_port()}"], "cct_x", [NS], cache_dir=tmp_path / "empty")
    with pytest.raises(StartTimeout, match="shop/prod"):
        client.start(timeout=1)
