"""The ``/v3/auth/*`` handlers on an in-process member: JSON in and out,
who may call what, errors as etcd's gateway writes them, and the wiring
facts the gateway relies on (paths, the one unauthenticated path, no
leader)."""
from __future__ import annotations

import asyncio
import base64
import json
import logging

import pytest

from consensus.auth.api import AuthRoleGetResponse, AuthUserAddRequest, Permission, PermissionType
from consensus.auth.json_messages import decode_message, decode_request, encode_message
from consensus.auth.routes import AUTH_PATHS, UNAUTHENTICATED_PATHS, build_auth_routes
from consensus.mvcc.api import ResponseHeader
from consensus.node import NotLeaderError

from .harness import Member


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def run(coro):
    return asyncio.run(coro)


def test_the_sixteen_paths_of_etcd_3_4():
    assert len(AUTH_PATHS) == 16 and "/v3/auth/status" not in AUTH_PATHS
    assert UNAUTHENTICATED_PATHS == {"/v3/auth/authenticate"}


async def admin_member(tmp_path) -> tuple[Member, str]:
    member = Member.open(tmp_path / "s.db")
    for path, body in (
        ("/v3/auth/user/add", {"name": "root", "password": "rootpw"}),
        ("/v3/auth/user/grant", {"user": "root", "role": "root"}),
        ("/v3/auth/user/add", {"name": "alice", "password": "alicepw"}),
        ("/v3/auth/role/add", {"name": "reader"}),
        ("/v3/auth/role/add", {"name": "other"}),
        ("/v3/auth/role/grant", {"name": "reader", "perm": {"key": b64("a"), "range_end": b64("b")}}),
        ("/v3/auth/role/grant", {"name": "reader", "perm": {"permType": "READWRITE", "key": b64("x"),
                                                            "range_end": "AA=="}}),
        ("/v3/auth/user/grant", {"user": "alice", "role": "reader"}),
        ("/v3/auth/enable", {}),
    ):
        status, answer = await member.post(path, body)
        assert status == 200, (path, answer)
    status, answer = await member.post("/v3/auth/authenticate", {"name": "root", "password": "rootpw"})
    assert status == 200
    return member, answer["token"]


def test_json_shapes(tmp_path):
    async def scenario():
        member, root = await admin_member(tmp_path)
        status, answer = await member.post("/v3/auth/role/get", {"role": "reader"}, root)
        assert status == 200 and answer == {
            "header": {"revision": "1"},
            "perm": [{"key": b64("a"), "range_end": b64("b")},
                     {"permType": "READWRITE", "key": b64("x"), "range_end": "AA=="}],
        }
        assert await member.post("/v3/auth/user/list", {}, root) == (
            200, {"header": {"revision": "1"}, "users": ["alice", "root"]})
        assert await member.post("/v3/auth/role/list", {}, root) == (
            200, {"header": {"revision": "1"}, "roles": ["other", "reader"]})
        assert await member.post("/v3/auth/user/get", {"name": "alice"}, root) == (
            200, {"header": {"revision": "1"}, "roles": ["reader"]})
        assert await member.post("/v3/auth/role/get", {"role": "other"}, root) == (200, {"header": {"revision": "1"}})
        status, answer = await member.post("/v3/auth/authenticate", {"name": "alice", "password": "alicepw"})
        assert status == 200 and set(answer) == {"header", "token"}
    run(scenario())


def test_a_user_may_read_itself_and_its_roles_only(tmp_path):
    async def scenario():
        member, _ = await admin_member(tmp_path)
        _, answer = await member.post("/v3/auth/authenticate", {"name": "alice", "password": "alicepw"})
        alice = answer["token"]
        assert (await member.post("/v3/auth/user/get", {"name": "alice"}, alice))[0] == 200
        assert (await member.post("/v3/auth/role/get", {"role": "reader"}, alice))[0] == 200
        for path, body in (("/v3/auth/user/get", {"name": "root"}), ("/v3/auth/role/get", {"role": "other"}),
                           ("/v3/auth/user/list", {}), ("/v3/auth/role/list", {}),
                           ("/v3/auth/role/add", {"name": "mine"}), ("/v3/auth/disable", {})):
            status, answer = await member.post(path, body, alice)
            assert (status, answer["code"], answer["message"]) == (403, 7, "etcdserver: permission denied"), path
        status, answer = await member.post("/v3/auth/user/list", {})
        assert (status, answer["message"]) == (400, "etcdserver: user name is empty")
    run(scenario())


def test_errors_as_the_gateway_writes_them(tmp_path):
    async def scenario():
        member, root = await admin_member(tmp_path)
        cases = [
            ("/v3/auth/user/add", {"name": "alice", "password": "x"}, 412, 9, "etcdserver: user name already exists"),
            ("/v3/auth/user/add", {"password": "x"}, 400, 3, "etcdserver: user name is empty"),
            ("/v3/auth/user/get", {"name": "zed"}, 412, 9, "etcdserver: user name not found"),
            ("/v3/auth/role/get", {"role": "zed"}, 412, 9, "etcdserver: role name not found"),
            ("/v3/auth/role/add", {}, 400, 3, "etcdserver: role name is empty"),
            ("/v3/auth/role/grant", {"name": "reader"}, 400, 3, "etcdserver: permission not given"),
            ("/v3/auth/role/grant", {"name": "reader", "perm": {"key": ""}}, 400, 3,
             "etcdserver: invalid auth management"),
            ("/v3/auth/role/revoke", {"role": "reader", "key": b64("q")}, 412, 9,
             "etcdserver: permission is not granted to the role"),
            ("/v3/auth/user/revoke", {"name": "alice", "role": "other"}, 412, 9,
             "etcdserver: role is not granted to the user"),
            ("/v3/auth/user/delete", {"name": "root"}, 400, 3, "etcdserver: invalid auth management"),
            ("/v3/auth/user/add", '{"name": 5}', 400, 3, "json: cannot unmarshal number into Go value of type string"),
            ("/v3/auth/role/grant", '{"name": "r", "perm": {"permType": "BAD"}}', 400, 3,
             'unknown value "BAD" for enum authpb.Permission_Type'),
            ("/v3/auth/user/list", "[]", 400, 3,
             "json: cannot unmarshal array into Go value of type map[string]json.RawMessage"),
        ]
        for path, body, status, code, message in cases:
            got_status, answer = await member.post(path, body, root)
            assert (got_status, answer) == (status, {"error": message, "message": message, "code": code}), path
        for body, status, code, message in (
            ({"name": "alice", "password": "wrong"}, 400, 3,
             "etcdserver: authentication failed, invalid user ID or password"),
            ({"name": "nobody", "password": ""}, 400, 3,
             "etcdserver: authentication failed, invalid user ID or password"),
        ):
            assert await member.post("/v3/auth/authenticate", body) == (
                status, {"error": message, "message": message, "code": code})
    run(scenario())


def test_no_password_user_and_auth_off(tmp_path):
    async def scenario():
        member = Member.open(tmp_path / "s.db")
        assert (await member.post("/v3/auth/user/add", {"name": "bot", "options": {"no_password": True}}))[0] == 200
        message = "etcdserver: authentication is not enabled"
        assert await member.post("/v3/auth/authenticate", {"name": "bot"}) == (
            412, {"error": message, "message": message, "code": 9})
        await member.post("/v3/auth/user/add", {"name": "root", "password": "p"})
        await member.post("/v3/auth/user/grant", {"user": "root", "role": "root"})
        await member.post("/v3/auth/enable", {})
        message = "auth: authentication failed, password was given for no password user"
        assert await member.post("/v3/auth/authenticate", {"name": "bot", "password": "x"}) == (
            500, {"error": message, "message": message, "code": 2})
    run(scenario())


def test_unavailable_node_is_no_leader(tmp_path):
    async def scenario():
        member = Member.open(tmp_path / "s.db")

        async def no_leader(*args):
            raise NotLeaderError("no leader", None)

        member.node.propose = no_leader
        status, answer = await member.post("/v3/auth/role/add", {"name": "r"})
        assert (status, answer["code"], answer["message"]) == (503, 14, "etcdserver: no leader")

        async def slow(*args):
            raise TimeoutError()

        member.node.read_index = slow
        status, answer = await member.post("/v3/auth/role/list", {})
        assert (status, answer["code"], answer["message"]) == (503, 14, "etcdserver: request timed out")
    run(scenario())


def test_passwords_never_reach_the_log(tmp_path, caplog):
    async def scenario():
        member = Member.open(tmp_path / "s.db")
        with caplog.at_level(logging.DEBUG):
            await member.post("/v3/auth/user/add", {"name": "root", "password": "hunter2-secret"})
            await member.post("/v3/auth/user/changepw", {"name": "root", "password": "hunter3-secret"})
        assert "hunter" not in caplog.text and "add user 'root'" in caplog.text
        assert "hunter" not in repr(decode_request(AuthUserAddRequest, '{"name":"u","password":"hunter4"}'))
        # What the database holds: hashes only.
        rows = member.machine._backend.auth_records()
        assert all(b"hunter" not in data for _, _, data in rows)
    run(scenario())


def test_codec_round_trip_and_camel_case():
    response = AuthRoleGetResponse(
        header=ResponseHeader(1, 2, 3, 4), perm=(Permission(PermissionType.WRITE, b"k", b"\0"),))
    encoded = encode_message(response)
    assert encoded == {"header": {"cluster_id": "1", "member_id": "2", "revision": "3", "raft_term": "4"},
                       "perm": [{"permType": "WRITE", "key": "aw==", "range_end": "AA=="}]}
    assert decode_message(AuthRoleGetResponse, json.loads(json.dumps(encoded))) == response
    request = decode_request(AuthUserAddRequest, '{"name":"\\ud800x","options":{"noPassword":true}}')
    assert request.name == "\ufffdx" and request.options.no_password


def test_routes_are_independent_handlers(tmp_path):
    member = Member.open(tmp_path / "s.db")
    routes = build_auth_routes(member.service)
    assert set(routes) == set(AUTH_PATHS)
    assert len({id(handler) for handler in routes.values()}) == 16
    status, raw = run(routes["/v3/auth/role/add"](b'{"name": "r"}', None, {}))
    assert status == 200 and json.loads(raw) == {"header": {"revision": "1"}}
    assert "r" in member.machine.auth_state.roles


@pytest.mark.parametrize("path", sorted(AUTH_PATHS))
def test_every_route_answers_json(tmp_path, path):
    member = Member.open(tmp_path / "s.db")
    status, raw = run(member.routes[path](b"", None, {}))
    assert isinstance(json.loads(raw), dict) and status in (200, 400, 412)
