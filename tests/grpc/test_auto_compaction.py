"""Auto-compaction on a running node, with etcd's flags
(``--auto-compaction-mode periodic --auto-compaction-retention 2s``): the
store's old revisions go, by a compaction through the log; the config
service's release history, which lives in keys of its own, stays, and an
admin rolls back to the first release after it."""
from __future__ import annotations

import json
import time
import urllib.request

from tests.live.live_support import live_node

RETENTION_S = 2


def gateway(node, path: str, body: dict) -> tuple[int, dict]:
    request = urllib.request.Request(node.node.base_url + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_periodic_auto_compaction_frees_old_revisions_and_keeps_release_history(tmp_path):
    with live_node(tmp_path / "data", auto_compaction_mode="periodic",
                   auto_compaction_retention=f"{RETENTION_S}s") as node:
        node.namespace("shop/prod")
        first = node.publish("shop/prod", "app.yaml", "db:\n  port: 5432\n")
        node.publish("shop/prod", "app.yaml", "db:\n  port: 6432\n")
        _, put = gateway(node, "/v3/kv/put", {"key": "L2F1dG8=", "value": "MQ=="})
        early = int(put["header"]["revision"])
        gateway(node, "/v3/kv/put", {"key": "L2F1dG8=", "value": "Mg=="})
        deadline = time.monotonic() + 10 * RETENTION_S
        while True:
            status, answer = gateway(node, "/v3/kv/range", {"key": "L2F1dG8=", "revision": str(early)})
            if status != 200:
                break
            assert time.monotonic() < deadline, "no auto-compaction reached the early revision"
            time.sleep(0.2)
        assert answer["message"] == "etcdserver: mvcc: required revision has been compacted"
        status, latest = gateway(node, "/v3/kv/range", {"key": "L2F1dG8="})
        assert status == 200 and latest["kvs"][0]["value"] == "Mg=="

        status, releases = node.admin("GET", "/api/v1/namespaces/shop/prod/-/releases")
        assert status == 200 and len(releases["results"]) >= 2, releases
        _, namespace = node.admin("GET", "/api/v1/namespaces/shop/prod")
        status, rolled = node.admin("POST", "/api/v1/namespaces/shop/prod/-/rollback",
                                    {"release": first["seq"], "comment": "after compaction",
                                     "revision": namespace["revision"]})
        assert status in (200, 201), rolled
        status, live = node.admin("GET", f"/api/v1/namespaces/shop/prod/-/releases/{rolled['seq']}")
        assert live["items"]["app.yaml"]["content"] == "db:\n  port: 5432\n"
