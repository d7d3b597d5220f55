"""Leases with store auth on, in process: the rules through the
authorizer a node uses (``StoreAuthorizer`` over a real state machine),
the keep-alive stream checking every keep-alive it carries, and the proofs
with which a member forwards a keep-alive to the leader — accepted for the
one lease they name and for nothing else, never mistaken for a user token.

The same rules over HTTP against real nodes: ``tests/gateway/test_store_auth.py``.
"""
from __future__ import annotations

import asyncio
import base64
import json

import pytest

from consensus.auth.api import (
    InvalidAuthTokenError,
    PermissionDeniedError,
    UserEmptyError,
)
from consensus.auth.authorizer import (
    FORWARD_PREFIX,
    FORWARD_TTL,
    ForwardedKeepalive,
    KeepaliveForwarding,
    StoreAuthorizer,
)
from consensus.auth.tokens import TokenSigner
from consensus.gateway import GatewayApp
from consensus.mvcc.api import (
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseRevokeRequest,
    PutRequest,
    RangeRequest,
    ResponseHeader,
)

from .harness import SECRET, Member

SYSTEM_KEY = "/_config_center/registry/pay/web-1"
# The leases of these tests: what each holds.
OWN, FOREIGN, SYSTEM, EMPTY = 1001, 1002, 1003, 1004


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run(coro):
    return asyncio.run(coro)


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def lease_member(tmp_path, *, clock=None) -> tuple[Member, StoreAuthorizer, dict[str, str]]:
    """A member with auth on, users root and alice (write on ``app/``,
    nothing else), the four leases above, and both users' tokens; its
    authorizer checks forwarded keep-alives with the cluster's secret."""
    member = Member.open(tmp_path / "s.db")
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/user/add", {"name": "alice", "password": "alicepw"}),
        ("/v3/auth/role/add", {"name": "app-writer"}),
        ("/v3/auth/role/grant", {"name": "app-writer", "perm": {"permType": "WRITE", "key": b64("app/"),
                                                                "range_end": b64("app0")}}),
        ("/v3/auth/user/grant", {"user": "alice", "role": "app-writer"}),
        ("/v3/auth/enable", {}),
    ):
        status, answer = await member.post(path, body)
        assert status == 200, (path, answer)
    tokens = {}
    for name, password in (("root", "rootpw"), ("alice", "alicepw")):
        status, answer = await member.post("/v3/auth/authenticate", {"name": name, "password": password})
        assert status == 200, answer
        tokens[name] = answer["token"]
    for lease, key in ((OWN, "app/a"), (FOREIGN, "other/b"), (SYSTEM, SYSTEM_KEY), (EMPTY, None)):
        status, answer = await member.post("/v3/lease/grant", {"TTL": "60", "ID": str(lease)}, tokens["root"])
        assert status == 200, answer
        if key is not None:
            status, answer = await member.post("/v3/kv/put", {"key": b64(key), "value": b64("v"), "lease": str(lease)},
                                               tokens["root"])
            assert status == 200, answer
    forwarding = KeepaliveForwarding(SECRET, **({"clock": clock} if clock else {}))
    authorizer = StoreAuthorizer(member.machine, member.tokens, read_index=member.node.read_index,
                                 forwarding=forwarding)
    return member, authorizer, tokens


# -- the unary lease requests, answered as the gateway answers them -------------------------


def test_unary_lease_requests_need_the_rules_users(tmp_path):
    async def scenario():
        member, _, tokens = await lease_member(tmp_path)
        root, alice = tokens["root"], tokens["alice"]

        def summary(answer):
            status, body = answer
            return status, body.get("message", "") if status != 200 else ""

        empty = (400, "etcdserver: user name is empty")
        denied = (403, "etcdserver: permission denied")
        ok = (200, "")
        cases = [
            ("lease/grant", {"TTL": "60"}, None, empty),
            ("lease/grant", {"TTL": "60"}, "garbage", (401, "etcdserver: invalid auth token")),
            ("lease/grant", {"TTL": "60", "ID": "2001"}, alice, ok),  # any user
            ("lease/leases", {}, None, empty),
            ("lease/leases", {}, alice, denied),
            ("lease/leases", {}, root, ok),
            ("lease/revoke", {"ID": str(EMPTY)}, None, empty),
            ("lease/revoke", {"ID": str(FOREIGN)}, alice, denied),
            ("lease/revoke", {"ID": str(SYSTEM)}, alice, denied),
            ("lease/revoke", {"ID": str(OWN)}, alice, ok),
            ("lease/revoke", {"ID": str(SYSTEM)}, root, ok),
            ("lease/timetolive", {"ID": str(FOREIGN)}, None, ok),  # unchanged: without keys, open
            ("lease/timetolive", {"ID": str(FOREIGN), "keys": True}, None, empty),
        ]
        for path, body, token, expected in cases:
            assert summary(await member.post("/v3/" + path, body, token)) == expected, (path, body, token)
        _, listed = await member.post("/v3/lease/leases", {}, root)
        assert sorted(int(lease["ID"]) for lease in listed["leases"]) == [FOREIGN, EMPTY, 2001]

    run(scenario())


# -- the keep-alive stream ------------------------------------------------------------------


class KeepaliveStore:
    """The store half of ``/v3/lease/keepalive``: renews whatever reaches
    it (TTL 60) and records it — the authorizer is what is under test."""

    def __init__(self) -> None:
        self.renewed: list[int] = []

    def header(self) -> ResponseHeader:
        return ResponseHeader(cluster_id=3, member_id=7, revision=5, raft_term=2)

    async def lease_keepalive(self, request: LeaseKeepAliveRequest) -> LeaseKeepAliveResponse:
        self.renewed.append(request.ID)
        return LeaseKeepAliveResponse(header=self.header(), ID=request.ID, TTL=60)


async def keepalive(authorizer, body: str, token: str | None) -> tuple[int, list[dict], KeepaliveStore]:
    """POST /v3/lease/keepalive through a ``GatewayApp``: (status, the
    JSON lines, the store)."""
    store = KeepaliveStore()
    app = GatewayApp(lambda: store, authorizer=authorizer)
    sent = []
    messages = [{"type": "http.request", "body": body.encode(), "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message):
        sent.append(message)

    headers = [(b"authorization", token.encode())] if token is not None else []
    await asyncio.wait_for(app({"type": "http", "path": "/v3/lease/keepalive", "method": "POST",
                                "headers": headers}, receive, send), 10)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    lines = [json.loads(m["body"]) for m in sent if m["type"] == "http.response.body" and m["body"]]
    return status, lines, store


def error_chunk(status: int, code: int, message: str, phrase: str) -> dict:
    return {"error": {"grpc_code": code, "http_code": status, "message": message, "http_status": phrase}}


DENIED_CHUNK = error_chunk(403, 7, "etcdserver: permission denied", "Forbidden")
EMPTY_CHUNK = error_chunk(400, 3, "etcdserver: user name is empty", "Bad Request")


def test_each_keepalive_of_a_stream_is_checked(tmp_path):
    async def scenario():
        _, authorizer, tokens = await lease_member(tmp_path)
        alice = tokens["alice"]
        # Her own lease, an empty one, then one holding a key she may not
        # write: two lines, then the stream ends with the refusal.
        status, lines, store = await keepalive(authorizer, f'{{"ID":"{OWN}"}}{{"ID":"{EMPTY}"}}{{"ID":"{FOREIGN}"}}'
                                               f'{{"ID":"{OWN}"}}', alice)
        assert status == 200 and store.renewed == [OWN, EMPTY]
        assert [line["result"]["ID"] for line in lines[:2]] == [str(OWN), str(EMPTY)]
        assert lines[2:] == [DENIED_CHUNK]
        # Refused first: the error is the whole answer, with its status.
        for lease in (FOREIGN, SYSTEM):
            status, lines, store = await keepalive(authorizer, f'{{"ID":"{lease}"}}', alice)
            assert (status, lines, store.renewed) == (403, [DENIED_CHUNK], [])
        status, lines, store = await keepalive(authorizer, f'{{"ID":"{EMPTY}"}}', None)
        assert (status, lines, store.renewed) == (400, [EMPTY_CHUNK], [])
        status, lines, store = await keepalive(authorizer, f'{{"ID":"{EMPTY}"}}', "garbage")
        assert (status, store.renewed) == (401, []) and lines[0]["error"]["grpc_code"] == 16
        status, lines, store = await keepalive(authorizer, f'{{"ID":"{SYSTEM}"}}{{"ID":"{FOREIGN}"}}', tokens["root"])
        assert status == 200 and store.renewed == [SYSTEM, FOREIGN] and len(lines) == 2

    run(scenario())


# -- forwarded keep-alives --------------------------------------------------------------------


def test_a_forwarded_keepalive_renews_the_lease_its_proof_names(tmp_path):
    async def scenario():
        _, authorizer, _ = await lease_member(tmp_path)
        # What a follower sends for a registry lease (a system key) it
        # renews for the config service of its process.
        proof = KeepaliveForwarding(SECRET).proof(SYSTEM)
        assert proof.startswith(FORWARD_PREFIX)
        status, lines, store = await keepalive(authorizer, f'{{"ID":"{SYSTEM}"}}', proof)
        assert status == 200 and store.renewed == [SYSTEM] and lines[0]["result"]["TTL"] == "60"
        # Another lease with the same proof: refused, nothing renewed.
        status, lines, store = await keepalive(authorizer, f'{{"ID":"{SYSTEM}"}}{{"ID":"{OWN}"}}', proof)
        assert store.renewed == [SYSTEM] and lines[1:] == [DENIED_CHUNK]

    run(scenario())


def test_a_proof_allows_nothing_but_that_keepalive(tmp_path):
    async def scenario():
        member, authorizer, _ = await lease_member(tmp_path)
        principal = await authorizer.authenticate(KeepaliveForwarding(SECRET).proof(OWN))
        assert isinstance(principal, ForwardedKeepalive) and principal.lease_id == OWN
        authorizer.authorize(principal, "lease_keepalive", LeaseKeepAliveRequest(ID=OWN))
        for kind, request in (
            ("lease_keepalive", LeaseKeepAliveRequest(ID=FOREIGN)),
            ("lease_revoke", LeaseRevokeRequest(ID=OWN)),
            ("put", PutRequest(key=b"app/a", lease=OWN)),
            ("range", RangeRequest(key=b"app/a")),
            ("lease_leases", None),
            ("member_add", None),
        ):
            with pytest.raises(PermissionDeniedError):
                authorizer.authorize(principal, kind, request)
        # Where a route only looks at the name, it is nobody.
        assert principal == "" and not principal
        status, answer = await member.routes["/v3/auth/user/list"](b"{}", principal, {})
        assert (status, json.loads(answer)["message"]) == (400, "etcdserver: user name is empty")

    run(scenario())


def test_proofs_and_user_tokens_are_not_interchangeable(tmp_path):
    async def scenario():
        member, authorizer, tokens = await lease_member(tmp_path)
        proof = KeepaliveForwarding(SECRET).proof(OWN)
        bad = [
            KeepaliveForwarding(b"another-cluster-secret-0123456789").proof(OWN),  # another cluster's
            proof[:-2] + ("AA" if proof[-2:] != "AA" else "BB"),  # tampered
            FORWARD_PREFIX + tokens["alice"],  # a user token is not a proof
            FORWARD_PREFIX + TokenSigner(SECRET).issue("lease 1001", 0),  # signed with the user-token key
            proof[len(FORWARD_PREFIX):],  # nor a proof a user token
        ]
        for token in bad:
            with pytest.raises(InvalidAuthTokenError):
                await authorizer.authenticate(token)
        # A member outside any cluster checks no proofs at all.
        lone = StoreAuthorizer(member.machine, TokenSigner(SECRET))
        with pytest.raises(InvalidAuthTokenError):
            await lone.authenticate(proof)

    run(scenario())


def test_a_proof_expires(tmp_path):
    async def scenario():
        clock = Clock()
        _, authorizer, _ = await lease_member(tmp_path, clock=clock)
        proof = KeepaliveForwarding(SECRET, clock=clock).proof(OWN)
        clock.now += FORWARD_TTL - 1
        assert (await authorizer.authenticate(proof)).lease_id == OWN
        clock.now += 1
        with pytest.raises(InvalidAuthTokenError):
            await authorizer.authenticate(proof)

    run(scenario())


def test_with_auth_off_a_proof_is_ignored_like_any_token(tmp_path):
    async def scenario():
        member, authorizer, tokens = await lease_member(tmp_path)
        status, answer = await member.post("/v3/auth/disable", {}, tokens["root"])
        assert status == 200, answer
        assert await authorizer.authenticate(KeepaliveForwarding(SECRET).proof(OWN)) is None
        authorizer.authorize(None, "lease_leases", None)
        status, _, store = await keepalive(authorizer, f'{{"ID":"{SYSTEM}"}}', None)
        assert status == 200 and store.renewed == [SYSTEM]

    run(scenario())


def test_no_user_is_refused_before_the_lease_is_looked_up(tmp_path):
    async def scenario():
        _, authorizer, _ = await lease_member(tmp_path)
        looked_up = []
        authorizer._lease_keys = lambda lease_id: looked_up.append(lease_id) or ()
        for kind, request in (("lease_keepalive", LeaseKeepAliveRequest(ID=OWN)),
                              ("lease_revoke", LeaseRevokeRequest(ID=OWN))):
            with pytest.raises(UserEmptyError):
                authorizer.authorize(None, kind, request)
        assert looked_up == []

    run(scenario())
