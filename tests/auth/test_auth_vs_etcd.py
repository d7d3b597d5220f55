"""The same auth conversation with a real etcd 3.4.23 and with an
in-process member, compared answer by answer: HTTP status and JSON body,
field by field (headers reduced to the revision, tokens to a placeholder).

The conversation enables auth, manages users, roles and permissions, logs
in, and exercises the permission checks of the KV and lease endpoints. A few
steps are *known differences*, each asserting what etcd answers and what we
answer instead, with the reason — so if either side changes, this test
says which documented difference moved:

- we refuse what later etcd releases refuse or what 3.4.23 lets through by
  a bug: nested txn ops and a txn put's ``prev_kv`` (etcd main checks them),
  empty permission ranges (3.4.25), a lease's keys without a user (3.4.26);
- we ignore tokens where 3.4.26 does (``/v3/auth/authenticate``, auth off);
- compaction is root-only, and the system prefix is root-only;
- leases: a grant, and a revoke even of a lease holding no key, need a
  user, and the lease list is root-only (etcd 3.4 lets anyone). Keep-alives,
  a stream this conversation does not speak, have the same rule as a
  revoke, tested on a real node in ``tests/gateway/test_store_auth.py``.

When a difference lets etcd write where we refuse, the same write is made
on our side as root (``compensate``), so both stores stay equal.
"""
from __future__ import annotations

import asyncio
import base64
import http.client
import json
from dataclasses import dataclass

import pytest

from tests.differential.etcd import INSTALL_HINT, EtcdServer, find_etcd

from .harness import Member

SYSTEM_KEY = "/_config_center/users/x"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@dataclass(frozen=True)
class Step:
    path: str
    body: dict
    token: str | None = None  # a saved token's name, "garbage", "empty", or None (no header)
    save: str | None = None  # save the answer's token under this name
    etcd: tuple[int, str] | None = None  # known difference: what etcd answers (status, message or "")
    ours: tuple[int, str] | None = None  # ... and what we answer instead
    compensate: bool = False  # on a known difference, repeat the step on our side as root


def s(path, body=None, token=None, **kw) -> Step:
    return Step("/v3/" + path, body or {}, token, **kw)


AUTH_OFF = [
    s("auth/enable"),
    s("auth/authenticate", {"name": "root", "password": "x"}),
    s("auth/user/add", {"name": "", "password": "x"}),
    s("auth/user/add", {"name": "root", "password": "rootpw"}),
    s("auth/user/add", {"name": "root", "password": "rootpw"}),
    s("auth/enable"),
    s("auth/user/grant", {"user": "root", "role": "root"}),
    s("auth/role/get", {"role": "root"}),
    s("auth/role/list"),
    s("auth/user/get", {"name": "root"}),
    s("auth/user/get", {"name": "nobody"}),
    s("auth/role/add", {"name": "r1"}),
    s("auth/role/add", {"name": ""}),
    s("auth/role/add", {"name": "r1"}),
    s("auth/role/grant", {"name": "r1", "perm": {"permType": "READ", "key": b64("a"), "range_end": b64("c")}}),
    s("auth/role/grant", {"name": "r1", "perm": {"permType": "WRITE", "key": b64("k")}}),
    s("auth/role/grant", {"name": "r1", "perm": {"permType": "READWRITE", "key": b64("z"), "range_end": "AA=="}}),
    s("auth/role/grant", {"name": "r1", "perm": {"permType": 2, "key": b64("b")}}),
    s("auth/role/grant", {"name": "r1", "perm": {"permType": "READ", "key": b64("a"), "range_end": b64("c")}}),
    s("auth/role/grant", {"name": "r1", "perm": {"permType": "WRITE", "key": b64("a"), "range_end": b64("b")}}),
    s("auth/role/grant", {"name": "nope", "perm": {"key": b64("b")}}),
    s("auth/role/get", {"role": "r1"}),
    s("auth/role/revoke", {"role": "r1", "key": b64("b")}),
    s("auth/role/revoke", {"role": "r1", "key": b64("b")}),
    s("auth/role/revoke", {"role": "r1", "key": b64("a")}),  # a..c is not "a"
    s("auth/role/revoke", {"role": "nope", "key": b64("b")}),
    s("auth/role/get", {"role": "r1"}),
    # Empty permission ranges: refused since etcd 3.4.25.
    s("auth/role/add", {"name": "tmp"}),
    s("auth/role/grant", {"name": "tmp", "perm": {"key": "", "range_end": b64("c")}},
      etcd=(200, ""), ours=(400, "etcdserver: invalid auth management")),
    s("auth/role/grant", {"name": "tmp", "perm": {"key": b64("e"), "range_end": b64("c")}},
      etcd=(200, ""), ours=(400, "etcdserver: invalid auth management")),
    s("auth/role/delete", {"role": "tmp"}),
    s("auth/user/add", {"name": "alice", "password": "alicepw"}),
    s("auth/user/add", {"name": "bot", "options": {"no_password": True}}),
    s("auth/user/add", {"name": "u0", "password": ""}),
    s("auth/user/add", {"name": "été", "password": "x"}),
    s("auth/user/grant", {"user": "alice", "role": "r1"}),
    s("auth/user/grant", {"user": "alice", "role": "r1"}),
    s("auth/user/grant", {"user": "alice", "role": "nope"}),
    s("auth/user/grant", {"user": "nobody", "role": "r1"}),
    s("auth/user/revoke", {"name": "alice", "role": "nope"}),
    s("auth/user/revoke", {"name": "nobody", "role": "r1"}),
    s("auth/user/get", {"name": "alice"}),
    s("auth/user/get", {"name": "bot"}),
    s("auth/role/add", {"name": "été"}),
    s("auth/role/add", {"name": "r0"}),
    s("auth/role/list"),
    s("auth/user/list"),
    s("auth/user/grant", {"user": "alice", "role": "r0"}),
    s("auth/user/get", {"name": "alice"}),
    s("auth/user/revoke", {"name": "alice", "role": "r0"}),
    s("auth/user/changepw", {"name": "nobody", "password": "x"}),
    s("kv/put", {"key": b64("k"), "value": b64("v0")}),
    s("kv/range", {"key": b64("k")}, "garbage", etcd=(401, "etcdserver: invalid auth token"), ours=(200, "")),
    s("auth/enable"),
]

AUTH_ON = [
    s("auth/enable"),
    s("auth/user/list"),
    s("auth/authenticate", {"name": "root", "password": "rootpw"}, save="root"),
    s("auth/authenticate", {"name": "root", "password": "bad"}),
    s("auth/authenticate", {"name": "nobody", "password": "bad"}),
    s("auth/authenticate", {"name": "bot", "password": "x"}),
    s("auth/authenticate", {"name": "u0", "password": ""}, save="u0"),
    s("auth/authenticate", {"name": "", "password": ""}),
    s("auth/authenticate", {"name": "alice", "password": "alicepw"}, save="alice"),
    s("auth/authenticate", {"name": "root", "password": "rootpw"}, "garbage",
      etcd=(401, "etcdserver: invalid auth token"), ours=(200, "")),
    s("auth/enable", {}, "root"),
    s("auth/user/list", {}, "root"),
    s("auth/user/list", {}, "garbage"),
    s("auth/user/list", {}, "empty"),
    s("auth/user/delete", {"name": "root"}, "root"),
    s("auth/role/delete", {"role": "root"}, "root"),
    s("auth/user/revoke", {"name": "root", "role": "root"}, "root"),
    s("auth/user/revoke", {"name": "root", "role": "xx"}, "root"),
    s("auth/user/get", {"name": "alice"}, "alice"),
    s("auth/user/get", {"name": "root"}, "alice"),
    s("auth/user/get", {"name": "alice"}),
    s("auth/role/get", {"role": "r1"}, "alice"),
    s("auth/role/get", {"role": "root"}, "alice"),
    s("auth/role/get", {"role": "r1"}),
    s("auth/role/list", {}, "alice"),
    s("auth/disable", {}, "alice"),
    s("auth/disable"),
    s("auth/user/add", {"name": "mallory", "password": "x"}, "u0"),
    # The key-value endpoints.
    s("kv/range", {"key": b64("a")}),
    s("kv/range", {"key": b64("a")}, "alice"),
    s("kv/range", {"key": b64("a"), "range_end": b64("c")}, "alice"),
    s("kv/range", {"key": b64("a"), "range_end": b64("d")}, "alice"),
    s("kv/range", {"key": b64("k")}, "alice"),
    s("kv/range", {"key": ""}, "alice"),
    s("kv/put", {"key": b64("a"), "value": b64("v")}, "alice"),
    s("kv/put", {"key": b64("k"), "value": b64("v")}, "alice"),
    s("kv/put", {"key": b64("k"), "value": b64("v"), "prev_kv": True}, "alice"),
    s("kv/put", {"key": b64("zz"), "value": b64("v"), "prev_kv": True}, "alice"),
    s("kv/put", {"key": b64("zz"), "value": b64("v")}, "u0"),
    s("kv/range", {"key": b64("z"), "range_end": "AA=="}, "alice"),
    s("kv/range", {"key": b64("za"), "range_end": b64("zb")}, "alice"),
    s("kv/range", {"key": b64("y"), "range_end": "AA=="}, "alice"),
    # An inverted range: etcd's answer depends on the shape of its interval
    # tree (its search prunes subtrees by comparing the inverted interval),
    # so only one no permission contains is compared; ours needs the key's.
    s("kv/range", {"key": b64("n"), "range_end": b64("c")}, "alice"),
    s("kv/deleterange", {"key": b64("z"), "range_end": b64("zzz")}, "alice"),
    s("kv/deleterange", {"key": b64("a"), "range_end": b64("zzz")}, "alice"),
    s("kv/deleterange", {"key": b64("zz"), "prev_kv": True}, "alice"),
    s("kv/txn", {}),
    s("kv/txn", {"compare": [{"key": b64("q"), "target": "VERSION", "version": "0"}]}, "alice"),
    s("kv/txn", {"compare": [{"key": b64("a"), "target": "VERSION", "version": "0"}],
                 "success": [{"request_put": {"key": b64("q")}}]}, "alice"),
    s("kv/txn", {"compare": [{"key": b64("a"), "target": "VERSION", "version": "0"}],
                 "success": [{"request_put": {"key": b64("zq"), "value": b64("x")}}],
                 "failure": [{"request_range": {"key": b64("b")}}]}, "alice"),
    s("kv/txn", {"success": [{"request_delete_range": {"key": b64("b"), "range_end": b64("n")}}]}, "alice"),
    s("kv/txn", {"success": [{"request_put": {"key": b64("k"), "value": b64("x")}},
                             {"request_put": {"key": b64("k"), "value": b64("y")}}]}, "alice"),
    s("kv/txn", {"success": [{"request_txn": {"success": [{"request_put": {"key": b64("q"), "value": b64("x")}}]}}]},
      "alice", etcd=(200, ""), ours=(403, "etcdserver: permission denied"), compensate=True),
    s("kv/txn", {"success": [{"request_put": {"key": b64("k"), "value": b64("p"), "prev_kv": True}}]},
      "alice", etcd=(200, ""), ours=(403, "etcdserver: permission denied"), compensate=True),
    s("kv/compaction", {"revision": "2"}, "alice",
      etcd=(200, ""), ours=(403, "etcdserver: permission denied"), compensate=True),
    s("kv/compaction", {"revision": "1"}, "root"),
    # Leases: etcd 3.4 lets anyone grant, list, and revoke a lease holding
    # no key; we want a user for each (root to list); revoking a lease with
    # keys needs write on every one, as in etcd.
    s("lease/grant", {"TTL": "60", "ID": "1000"},
      etcd=(200, ""), ours=(400, "etcdserver: user name is empty"), compensate=True),
    s("lease/grant", {"TTL": "60", "ID": "1001"}, "garbage"),
    s("kv/put", {"key": b64("k"), "value": b64("l"), "lease": "1000"}, "alice"),
    s("kv/put", {"key": b64("x"), "value": b64("l"), "lease": "1000"}, "root"),
    s("kv/put", {"key": b64("zl"), "value": b64("l"), "lease": "1000"}, "alice"),  # x: not hers to write
    s("lease/revoke", {"ID": "1000"}, "alice"),
    s("lease/revoke", {"ID": "1000"}),
    s("lease/revoke", {"ID": "12345"}, etcd=(404, "etcdserver: requested lease not found"),
      ours=(400, "etcdserver: user name is empty")),
    s("lease/timetolive", {"ID": "1000", "keys": True},
      etcd=(200, ""), ours=(400, "etcdserver: user name is empty")),
    s("lease/revoke", {"ID": "1000"}, "root"),
    s("lease/grant", {"TTL": "60", "ID": "1002"}, "alice"),
    s("lease/leases", {}, etcd=(200, ""), ours=(400, "etcdserver: user name is empty")),
    s("lease/leases", {}, "alice", etcd=(200, ""), ours=(403, "etcdserver: permission denied")),
    s("lease/leases", {}, "root"),
    s("lease/revoke", {"ID": "1002"},  # holds no key: etcd checks nothing
      etcd=(200, ""), ours=(400, "etcdserver: user name is empty"), compensate=True),
    # Maintenance refusals are Go's unconverted errors.
    s("maintenance/hash", {}, "alice"),
    s("maintenance/hash", {}),
    # The system prefix: root only, whatever a role grants.
    s("auth/role/grant", {"name": "r1", "perm": {"permType": "READWRITE", "key": b64("/"), "range_end": b64("0")}},
      "root"),
    s("kv/put", {"key": b64(SYSTEM_KEY), "value": b64("v")}, "alice",
      etcd=(200, ""), ours=(403, "etcdserver: permission denied"), compensate=True),
    s("kv/range", {"key": b64("/"), "range_end": b64("0")}, "alice",
      etcd=(200, ""), ours=(403, "etcdserver: permission denied")),
    s("kv/range", {"key": b64("/"), "range_end": b64("/_")}, "alice"),
    s("kv/range", {"key": b64(SYSTEM_KEY)}, "root"),
    # Credentials change: old tokens die; role changes apply at once.
    s("auth/user/changepw", {"name": "alice", "password": "new"}, "root"),
    s("kv/range", {"key": b64("a")}, "alice"),
    s("auth/authenticate", {"name": "alice", "password": "alicepw"}),
    s("auth/authenticate", {"name": "alice", "password": "new"}, save="alice"),
    s("kv/range", {"key": b64("a")}, "alice"),
    s("auth/role/revoke", {"role": "r1", "key": b64("a"), "range_end": b64("c")}, "root"),
    s("kv/range", {"key": b64("a")}, "alice"),
    s("auth/role/delete", {"role": "r1"}, "root"),
    s("auth/user/get", {"name": "alice"}, "root"),
    s("kv/range", {"key": b64("zz")}, "alice"),
    s("auth/user/delete", {"name": "alice"}, "root"),
    s("kv/range", {"key": b64("zz")}, "alice"),
    s("auth/authenticate", {"name": "alice", "password": "new"}),
    s("auth/user/delete", {"name": "alice"}, "root"),
    # Off again.
    s("auth/disable", {}, "root"),
    s("auth/disable", {}, "root", etcd=(401, "etcdserver: invalid auth token"), ours=(200, "")),
    s("auth/disable"),
    s("auth/authenticate", {"name": "root", "password": "rootpw"}),
    s("auth/user/revoke", {"name": "root", "role": "root"}),
    s("auth/enable"),
    s("auth/user/delete", {"name": "root"}),
    s("auth/enable"),
    s("auth/user/list"),
    s("auth/role/list"),
]


class EtcdHttp:
    def __init__(self, server: EtcdServer) -> None:
        self.server = server

    def post(self, path: str, body: dict, token: str | None) -> tuple[int, dict]:
        conn = http.client.HTTPConnection(self.server.host, self.server.client_port, timeout=10)
        headers = {"Content-Type": "application/json"}
        if token is not None:
            headers["Authorization"] = token
        try:
            conn.request("POST", path, json.dumps(body).encode(), headers)
            response = conn.getresponse()
            return response.status, json.loads(response.read())
        finally:
            conn.close()


def normalized(answer: dict) -> dict:
    """Headers reduced to the revision (ids and terms differ), tokens to a
    placeholder; nested headers (txn responses) likewise."""
    def walk(value):
        if isinstance(value, dict):
            out = {}
            for key, item in value.items():
                if key == "header":
                    out[key] = {k: v for k, v in item.items() if k == "revision"}
                elif key == "token":
                    out[key] = "<token>"
                else:
                    out[key] = walk(item)
            return out
        if isinstance(value, list):
            return [walk(item) for item in value]
        return value
    return walk(answer)


def summary(status: int, answer: dict) -> tuple[int, str]:
    return status, answer.get("message", "") if status != 200 else ""


@pytest.fixture
def etcd():
    binary = find_etcd()
    if binary is None:
        pytest.fail(INSTALL_HINT, pytrace=False)
    server = EtcdServer(binary).start()
    try:
        yield EtcdHttp(server)
    finally:
        server.stop()


def test_auth_conversation_matches_etcd(etcd, tmp_path):
    ours = Member.open(tmp_path / "s.db")
    tokens: dict[str, dict[str, str]] = {"etcd": {"garbage": "garbage", "empty": ""},
                                         "ours": {"garbage": "garbage", "empty": ""}}

    def token(side: str, name: str | None) -> str | None:
        return None if name is None else tokens[side][name]

    async def conversation():
        compared = differences = 0
        for number, step in enumerate(AUTH_OFF + AUTH_ON, 1):
            where = f"step {number}: {step.path} {step.body} token={step.token}"
            etcd_status, etcd_answer = etcd.post(step.path, step.body, token("etcd", step.token))
            our_status, our_answer = await ours.post(step.path, step.body, token("ours", step.token))
            if step.etcd is not None:
                differences += 1
                assert summary(etcd_status, etcd_answer) == step.etcd, f"{where}: etcd's answer moved: {etcd_answer}"
                assert summary(our_status, our_answer) == step.ours, f"{where}: our answer moved: {our_answer}"
                if step.compensate:
                    status, answer = await ours.post(step.path, step.body, token("ours", "root"))
                    assert status == 200, f"{where}: compensating as root failed: {answer}"
                continue
            compared += 1
            assert (our_status, normalized(our_answer)) == (etcd_status, normalized(etcd_answer)), where
            if step.save and etcd_status == 200:
                tokens["etcd"][step.save] = etcd_answer["token"]
                tokens["ours"][step.save] = our_answer["token"]
        return compared, differences

    compared, differences = asyncio.run(conversation())
    assert (compared, differences) == (140, 16)
