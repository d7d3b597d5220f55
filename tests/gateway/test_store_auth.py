"""Store auth on real nodes, over HTTP: who may grant, renew, revoke and
list leases (``consensus.auth.permissions``), the keep-alive stream
checking each keep-alive it carries, keep-alives forwarded from a follower
to the leader — a client's and the service registry's — still renewing,
and everything open with ``--store-auth off``.

The other gateway tests run their node with auth off (``conftest``); the
rules themselves are tested in process in ``tests/auth``.
"""
from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import pytest

from consensus.auth.bootstrap import ROOT_PASSWORD_FILE
from tests.config.test_api_on_a_node import Http
from tests.faults.cluster import Member as ClusterMember
from tests.faults.cluster import ProcessCluster
from tests.live.live_support import cluster_admin

from .node_process import Answer, Stream, request, running_node

SYSTEM_KEY = "/_config_center/tests/lease-probe"
OWN, FOREIGN, SYSTEM, EMPTY = 7001, 7002, 7003, 7004

EMPTY_USER = (400, 3, "etcdserver: user name is empty")
DENIED = (403, 7, "etcdserver: permission denied")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


class Store:
    """etcd's JSON gateway of one member, as one user (or nobody)."""

    def __init__(self, port: int, token: str | None = None) -> None:
        self.port = port
        self.token = token

    def __call__(self, path: str, body: dict) -> Answer:
        headers = {"Authorization": self.token} if self.token is not None else {}
        return request("127.0.0.1", self.port, "/v3/" + path, body, headers=headers)

    def ok(self, path: str, body: dict) -> dict:
        answer = self(path, body)
        assert answer.status == 200, (path, body, answer.body)
        return answer.json()

    def as_user(self, name: str, password: str) -> Store:
        return Store(self.port, self.ok("auth/authenticate", {"name": name, "password": password})["token"])

    def keepalive(self, *leases: int) -> tuple[int, list[dict]]:
        """One keep-alive stream renewing ``leases`` in order: its status
        and its JSON lines (results, then an error chunk if it was cut)."""
        headers = {"Authorization": self.token} if self.token is not None else {}
        stream = Stream("127.0.0.1", self.port, "/v3/lease/keepalive",
                        "".join(json.dumps({"ID": str(lease)}) for lease in leases), headers=headers)
        try:
            chunks = stream.rest()
        finally:
            stream.close()
        return stream.status, [json.loads(chunk) for chunk in chunks if chunk.strip()]


def refusal(answer: Answer) -> tuple[int, int, str]:
    body = answer.json()
    return answer.status, body["code"], body["message"]


def chunk_refusal(line: dict) -> tuple[int, int, str]:
    error = line["error"]
    return error["http_code"], error["grpc_code"], error["message"]


def root_password(data_dirs: list[Path], timeout: float = 30.0) -> str:
    """root's first password, from whichever member bootstrapped auth."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for data_dir in data_dirs:
            path = data_dir / ROOT_PASSWORD_FILE
            if path.exists() and path.read_text().strip():
                return path.read_text().strip()
        time.sleep(0.1)
    raise AssertionError(f"no member wrote {ROOT_PASSWORD_FILE} within {timeout} s")


def set_up_users_and_leases(root: Store) -> None:
    """alice may write ``app/``; bob has no role. The leases hold: OWN
    ``app/a`` (alice's to renew), FOREIGN ``other/b`` (not hers), SYSTEM a
    key under the system prefix (root's only), EMPTY nothing."""
    for path, body in (
        ("auth/user/add", {"name": "alice", "password": "alice-password"}),
        ("auth/user/add", {"name": "bob", "password": "bob-password"}),
        ("auth/role/add", {"name": "app-writer"}),
        ("auth/role/grant", {"name": "app-writer", "perm": {"permType": "WRITE", "key": b64("app/"),
                                                            "range_end": b64("app0")}}),
        ("auth/user/grant", {"user": "alice", "role": "app-writer"}),
    ):
        root.ok(path, body)
    for lease, key in ((OWN, "app/a"), (FOREIGN, "other/b"), (SYSTEM, SYSTEM_KEY), (EMPTY, None)):
        root.ok("lease/grant", {"TTL": "300", "ID": str(lease)})
        if key is not None:
            root.ok("kv/put", {"key": b64(key), "value": b64("v"), "lease": str(lease)})


@pytest.fixture(scope="module")
def locked(tmp_path_factory):
    """A one-member node with store auth on (the default): the anonymous,
    root, alice and bob clients of its gateway."""
    data_dir = tmp_path_factory.mktemp("locked") / "data"
    with running_node(data_dir, []) as node:
        anonymous = Store(node.port)
        root = anonymous.as_user("root", root_password([data_dir]))
        set_up_users_and_leases(root)
        yield {"anonymous": anonymous, "root": root, "alice": anonymous.as_user("alice", "alice-password"),
               "bob": anonymous.as_user("bob", "bob-password")}


def test_a_lease_grant_needs_a_user(locked):
    assert refusal(locked["anonymous"]("lease/grant", {"TTL": "9000000"})) == EMPTY_USER
    garbage = Store(locked["anonymous"].port, "garbage")
    assert refusal(garbage("lease/grant", {"TTL": "60"})) == (401, 16, "etcdserver: invalid auth token")
    granted = locked["bob"].ok("lease/grant", {"TTL": "60"})  # any user, roles or not
    assert int(granted["TTL"]) == 60 and int(granted["ID"]) > 0


def test_the_keepalive_stream_checks_each_keepalive(locked):
    alice, root = locked["alice"], locked["root"]
    status, lines = alice.keepalive(OWN, EMPTY)
    assert status == 200 and [(line["result"]["ID"], line["result"]["TTL"]) for line in lines] == [
        (str(OWN), "300"), (str(EMPTY), "300")]
    # Allowed, allowed, then one she may not renew: the stream ends there
    # with the refusal, and the last keep-alive is never served.
    status, lines = alice.keepalive(OWN, OWN, FOREIGN, OWN)
    assert status == 200 and len(lines) == 3
    assert [line["result"]["ID"] for line in lines[:2]] == [str(OWN), str(OWN)]
    assert chunk_refusal(lines[2]) == DENIED
    # Refused at once: the refusal is the whole answer, with its status.
    for lease in (FOREIGN, SYSTEM):
        status, lines = alice.keepalive(lease)
        assert status == 403 and [chunk_refusal(line) for line in lines] == [DENIED], lease
    status, lines = locked["anonymous"].keepalive(EMPTY)
    assert status == 400 and [chunk_refusal(line) for line in lines] == [EMPTY_USER]
    status, lines = root.keepalive(SYSTEM, FOREIGN)
    assert status == 200 and [line["result"]["TTL"] for line in lines] == ["300", "300"]


def test_a_revoke_needs_write_on_every_key_and_a_user(locked):
    alice, root = locked["alice"], locked["root"]
    assert refusal(alice("lease/revoke", {"ID": str(FOREIGN)})) == DENIED
    assert refusal(alice("lease/revoke", {"ID": str(SYSTEM)})) == DENIED
    assert refusal(locked["anonymous"]("lease/revoke", {"ID": str(EMPTY)})) == EMPTY_USER
    mine = alice.ok("lease/grant", {"TTL": "60"})["ID"]
    alice.ok("kv/put", {"key": b64("app/mine"), "value": b64("v"), "lease": mine})
    alice.ok("lease/revoke", {"ID": mine})
    assert "count" not in root.ok("kv/range", {"key": b64("app/mine")})


def test_the_lease_list_is_roots(locked):
    assert refusal(locked["anonymous"]("lease/leases", {})) == EMPTY_USER
    assert refusal(locked["alice"]("lease/leases", {})) == DENIED
    listed = {int(lease["ID"]) for lease in locked["root"].ok("lease/leases", {})["leases"]}
    assert {OWN, FOREIGN, SYSTEM, EMPTY} <= listed


def test_what_stays_open(locked):
    anonymous = locked["anonymous"]
    assert anonymous("maintenance/status", {}).status == 200
    assert anonymous("cluster/member/list", {}).status == 200
    # Time-to-live is as before: without keys, anyone; with keys, read on each.
    assert int(anonymous.ok("lease/timetolive", {"ID": str(FOREIGN)})["grantedTTL"]) == 300
    assert refusal(anonymous("lease/timetolive", {"ID": str(FOREIGN), "keys": True})) == EMPTY_USER


def test_with_store_auth_off_leases_stay_open(node):
    """``node``: the gateway tests' node, started with ``--store-auth off``."""
    granted = Store(node.port).ok("lease/grant", {"TTL": "60"})
    assert int(granted["TTL"]) == 60


# -- a cluster: keep-alives forwarded to the leader -----------------------------------------


class LockedMember(ClusterMember):
    """A fault-test cluster member with store auth on."""

    def argv(self, state: str = "new") -> list[str]:
        argv = super().argv(state)
        argv[argv.index("--store-auth") + 1] = "on"
        return argv


def test_keepalives_forwarded_to_the_leader_still_renew(tmp_path):
    cluster = ProcessCluster(tmp_path, 3)
    for member in cluster.members:
        member.__class__ = LockedMember
    try:
        cluster.start()
        leader = cluster.wait_for_leader()
        follower = next(m for m in cluster.members if m is not leader)
        root = Store(leader.client_port).as_user("root", root_password([m.data_dir for m in cluster.members]))
        set_up_users_and_leases(root)
        # The follower forwards to the leader's client URL, which it learns
        # from the leader's member record.
        deadline = time.monotonic() + 15
        while not all(m.get("clientURLs") for m in Store(follower.client_port).ok("cluster/member/list", {})["members"]):
            assert time.monotonic() < deadline, "the members never published their client URLs"
            time.sleep(0.1)
        alice = Store(follower.client_port).as_user("alice", "alice-password")
        # A client's keep-alive, checked by the follower, renewed by the leader.
        status, lines = alice.keepalive(OWN)
        assert status == 200 and lines[0]["result"]["TTL"] == "300", lines
        status, lines = alice.keepalive(FOREIGN)
        assert status == 403 and chunk_refusal(lines[0]) == DENIED
        # The leader takes no forwarding proof it did not sign.
        status, lines = Store(leader.client_port, "ccfwd1:forged").keepalive(OWN)
        assert status == 401 and lines[0]["error"]["grpc_code"] == 16

        # The service registry reaches its member's store directly; on a
        # follower, its keep-alives are forwarded too.
        admin = cluster_admin(cluster)
        status, token = admin("POST", "/api/v1/tokens", {"name": "svc", "namespaces": "pay/*", "access": "write"})
        assert status == 201, token
        service = Http(f"http://127.0.0.1:{follower.client_port}", token=token["token"])
        status, registered = service("PUT", "/api/v1/services/pay/api/-/instances/web-1",
                                     {"address": "10.1.1.1", "ttl": 30})
        assert status == 201, registered
        for _ in range(3):
            status, renewed = service("POST", "/api/v1/services/pay/api/-/instances/web-1/keepalive",
                                      {"lease": registered["lease"]})
            assert status == 200 and renewed["ttl"] == 30, renewed
        # Its lease holds a system key: no store user but root renews it.
        status, lines = alice.keepalive(registered["lease"])
        assert status == 403 and chunk_refusal(lines[0]) == DENIED
        status, lines = Store(follower.client_port, root.token).keepalive(registered["lease"])
        assert status == 200 and lines[0]["result"]["TTL"] == "30"
    finally:
        cluster.close()
