"""The replicated auth state: etcd 3.4's rules per command, the auth
revision, and the state's life in the store database — same transaction as
the KV data, restart, snapshot and restore, rollback of a failed batch, the
log encoding of commands."""
from __future__ import annotations

import msgpack
import pytest

from consensus.auth import commands as c
from consensus.auth.api import (
    AuthEnableResponse,
    AuthUserAddResponse,
    BootstrapRootResponse,
    InvalidAuthMgmtError,
    Permission,
    PermissionDeniedError,
    PermissionNotGivenError,
    PermissionNotGrantedError,
    PermissionType,
    RoleAlreadyExistError,
    RoleEmptyError,
    RoleNotFoundError,
    RoleNotGrantedError,
    RootRoleNotExistError,
    RootUserNotExistError,
    UserAlreadyExistError,
    UserEmptyError,
    UserNotFoundError,
)
from consensus.auth.auth_state import AuthState, apply
from consensus.mvcc.api import InvalidRequestError, PutRequest, StoreError
from consensus.mvcc.log_codec import decode_request, encode_request
from consensus.mvcc.state_machine import StateMachineStopped, StoreStateMachine

R, W, RW = PermissionType.READ, PermissionType.WRITE, PermissionType.READWRITE


def run(state: AuthState, *commands) -> AuthState:
    for command in commands:
        state, _ = apply(state, command, 1)
    return state


def refused(state: AuthState, command) -> type:
    with pytest.raises(StoreError) as info:
        apply(state, command, 1)
    return type(info.value)


def with_root(*more) -> AuthState:
    return run(AuthState(), c.AddUser(name="root", password_hash="h"), c.GrantRole(user="root", role="root"), *more)


# -- rules per command ---------------------------------------------------------------------


def test_enable_needs_root_user_with_root_role():
    assert refused(AuthState(), c.EnableAuth()) is RootUserNotExistError
    state = run(AuthState(), c.AddUser(name="root", password_hash="h"))
    assert refused(state, c.EnableAuth()) is RootRoleNotExistError
    state = run(state, c.GrantRole(user="root", role="root"))  # no role object needed, as etcd
    state, response = apply(state, c.EnableAuth(), 7)
    assert state.enabled and response == AuthEnableResponse(header=response.header)
    assert response.header.revision == 7  # the KV revision, as etcd's newHeader


def test_admin_commands_check_the_actor_at_apply_once_enabled():
    state = with_root(c.AddUser(name="alice", password_hash="h"), c.EnableAuth())
    assert refused(state, c.AddRole(name="r")) is UserEmptyError
    assert refused(state, c.AddRole(actor="ghost", name="r")) is UserNotFoundError
    assert refused(state, c.AddRole(actor="alice", name="r")) is PermissionDeniedError
    assert "r" in run(state, c.AddRole(actor="root", name="r")).roles
    # The admin check comes first, before the command's own checks.
    assert refused(state, c.AddUser(actor="alice", name="")) is PermissionDeniedError
    assert refused(state, c.EnableAuth()) is UserEmptyError  # already on: still root only
    assert run(state, c.EnableAuth(actor="root")) is state  # no-op


def test_user_commands():
    state = with_root()
    assert refused(state, c.AddUser(name="")) is UserEmptyError
    assert refused(state, c.AddUser(name="root")) is UserAlreadyExistError
    assert refused(state, c.DeleteUser(name="nobody")) is UserNotFoundError
    assert refused(state, c.ChangePassword(name="nobody")) is UserNotFoundError
    assert refused(state, c.GrantRole(user="nobody", role="root")) is UserNotFoundError
    assert refused(state, c.GrantRole(user="root", role="nope")) is RoleNotFoundError
    assert refused(state, c.RevokeRole(name="root", role="nope")) is RoleNotGrantedError
    state = run(state, c.AddRole(name="b"), c.AddRole(name="a"), c.GrantRole(user="root", role="b"),
                c.GrantRole(user="root", role="a"))
    assert state.users["root"].roles == ("a", "b", "root")  # sorted, as etcd
    same = run(state, c.GrantRole(user="root", role="a"))
    assert same is state  # already granted: no change, no revision
    # Root may lose everything while auth is off; not while it is on.
    assert run(state, c.RevokeRole(name="root", role="root")).users["root"].roles == ("a", "b")
    on = run(state, c.EnableAuth())
    assert refused(on, c.RevokeRole(actor="root", name="root", role="root")) is InvalidAuthMgmtError
    assert refused(on, c.DeleteUser(actor="root", name="root")) is InvalidAuthMgmtError
    assert refused(on, c.DeleteRole(actor="root", role="root")) is InvalidAuthMgmtError
    assert "root" not in run(state, c.DeleteUser(name="root")).users


def test_no_password_survives_a_password_change_as_in_etcd():
    state = run(AuthState(), c.AddUser(name="u", password_hash="ignored", no_password=True))
    assert state.users["u"].password_hash == "" and state.users["u"].no_password
    state = run(state, c.ChangePassword(name="u", password_hash="h2"))
    assert state.users["u"].no_password and state.users["u"].password_hash == "h2"


def test_role_commands():
    state = AuthState()
    assert refused(state, c.AddRole(name="")) is RoleEmptyError
    state = run(state, c.AddRole(name="r"), c.AddUser(name="u"), c.GrantRole(user="u", role="r"))
    assert refused(state, c.AddRole(name="r")) is RoleAlreadyExistError
    assert refused(state, c.DeleteRole(role="nope")) is RoleNotFoundError
    state = run(state, c.DeleteRole(role="r"))
    assert "r" not in state.roles and state.users["u"].roles == ()  # taken from every user


def test_grant_and_revoke_permission():
    state = run(AuthState(), c.AddRole(name="r"))
    assert refused(state, c.GrantPermission(role="nope", key=b"a")) is RoleNotFoundError
    assert refused(state, c.GrantPermission(role="r", perm_given=False)) is PermissionNotGivenError
    for key, end in ((b"", b""), (b"", b"\0"), (b"b", b"a"), (b"b", b"b")):
        assert refused(state, c.GrantPermission(role="r", key=key, range_end=end)) is InvalidAuthMgmtError
    assert refused(state, c.GrantPermission(role="r", perm_type=7, key=b"a")) is InvalidRequestError
    state = run(
        state,
        c.GrantPermission(role="r", perm_type=RW, key=b"q"),
        c.GrantPermission(role="r", perm_type=W, key=b"q", range_end=b"r"),
        c.GrantPermission(role="r", perm_type=R, key=b"a", range_end=b"\0"),
        c.GrantPermission(role="r", perm_type=R, key=b"q"),  # updates the first, in place
    )
    assert state.roles["r"].permissions == (
        Permission(R, b"a", b"\0"), Permission(R, b"q", b""), Permission(W, b"q", b"r"),
    )
    assert refused(state, c.RevokePermission(role="r", key=b"q", range_end=b"s")) is PermissionNotGrantedError
    assert refused(state, c.RevokePermission(role="nope", key=b"q")) is RoleNotFoundError
    state = run(state, c.RevokePermission(role="r", key=b"q", range_end=b"r"))
    assert state.roles["r"].permissions == (Permission(R, b"a", b"\0"), Permission(R, b"q", b""))


def test_revision_counts_changes_and_tracks_credentials():
    state = AuthState()
    assert state.revision == 1 and state.pristine
    state = run(state, c.AddUser(name="root", password_hash="h"))
    assert state.revision == 2 and state.users["root"].credential_revision == 2
    state = run(state, c.GrantRole(user="root", role="root"), c.GrantRole(user="root", role="root"))
    assert state.revision == 3  # the second grant changed nothing
    state = run(state, c.EnableAuth())
    assert state.revision == 4 and state.enabled_revision == 4
    state = run(state, c.ChangePassword(actor="root", name="root", password_hash="h2"))
    assert state.revision == 5 and state.users["root"].credential_revision == 5
    state = run(state, c.DisableAuth(actor="root"), c.DisableAuth())
    assert state.revision == 6 and not state.enabled
    assert not state.pristine


def test_bootstrap_applies_to_a_pristine_state_only():
    state, response = apply(AuthState(), c.BootstrapRoot(password_hash="h"), 1)
    assert response.created and state.enabled and state.users["root"].is_root and "root" in state.roles
    again, response = apply(state, c.BootstrapRoot(password_hash="other"), 1)
    assert again is state and response == BootstrapRootResponse(header=response.header, created=False)
    touched = run(AuthState(), c.AddRole(name="x"), c.DeleteRole(role="x"))
    assert apply(touched, c.BootstrapRoot(password_hash="h"), 1)[0] is touched


# -- in the store ---------------------------------------------------------------------------


def commands_of_a_small_setup():
    return [
        c.AddUser(name="root", password_hash="h-root"),
        c.GrantRole(user="root", role="root"),
        c.AddRole(name="reader"),
        c.GrantPermission(role="reader", perm_type=R, key=b"a", range_end=b"\0"),
        c.AddUser(name="alice", password_hash="h-alice"),
        c.GrantRole(user="alice", role="reader"),
        c.AddUser(name="bot", no_password=True),
        c.EnableAuth(),
    ]


@pytest.mark.parametrize("as_bytes", [False, True])
def test_state_machine_applies_commands_and_survives_restart(tmp_path, as_bytes):
    machine = StoreStateMachine.open(tmp_path / "s.db")
    index = 0
    for index, command in enumerate(commands_of_a_small_setup(), 1):
        machine.apply(index, encode_request(command) if as_bytes else command)
    machine.apply(index + 1, PutRequest(key=b"k", value=b"v"))
    with pytest.raises(UserEmptyError):
        machine.apply(index + 2, c.AddRole(name="late"))  # refused: recorded as applied
    state = machine.auth_state
    assert state.enabled and set(state.users) == {"root", "alice", "bot"}
    assert machine.applied_index == index + 2 and machine.revision == 2  # auth changes no KV revision
    machine.close()
    reopened = StoreStateMachine.open(tmp_path / "s.db")
    assert reopened.auth_state == state
    assert reopened.apply(index + 2, c.AddRole(actor="root", name="late")) is None  # replay: skipped


def test_snapshot_and_restore_carry_the_auth_state(tmp_path):
    source = StoreStateMachine.open(tmp_path / "a.db")
    source.apply_batch(list(enumerate(commands_of_a_small_setup(), 1)))
    snapshot = source.snapshot()
    target = StoreStateMachine.open(tmp_path / "b.db")
    target.apply(1, c.AddRole(name="doomed"))
    target.restore(snapshot, 42)
    assert target.auth_state == source.auth_state and "doomed" not in target.auth_state.roles
    assert target.applied_index == 42
    target.apply(43, c.DeleteUser(actor="root", name="alice"))
    target.close()
    assert "alice" not in StoreStateMachine.open(tmp_path / "b.db").auth_state.users


def test_restore_of_a_snapshot_without_the_auth_table(tmp_path):
    old = StoreStateMachine.open(tmp_path / "old.db")
    old.apply(1, PutRequest(key=b"k", value=b"v"))
    old._backend.conn.execute("DROP TABLE auth")  # a member that predates auth
    snapshot = old.snapshot()
    target = StoreStateMachine.open(tmp_path / "new.db")
    target.apply(1, c.AddRole(name="r"))
    target.restore(snapshot, 5)
    assert target.auth_state == AuthState()
    target.apply(6, c.AddRole(name="r"))
    assert "r" in target.auth_state.roles


def test_a_batch_is_one_transaction_and_a_failed_one_publishes_nothing(tmp_path):
    machine = StoreStateMachine.open(tmp_path / "s.db")
    results = machine.apply_batch([
        (1, c.AddRole(name="a")),
        (2, c.AddRole(name="a")),  # refused, the batch goes on
        (3, c.GrantPermission(role="a", key=b"x")),  # sees the staged role
    ])
    assert [type(result).__name__ for result in results] == [
        "AuthRoleAddResponse", "RoleAlreadyExistError", "AuthRoleGrantPermissionResponse",
    ]
    assert machine.auth_state.roles["a"].permissions == (Permission(R, b"x", b""),)

    published = machine.auth_state

    class Boom(RuntimeError):
        pass

    def explode(*args):
        raise Boom()

    machine._backend.put_auth_record = explode  # the disk fails mid-batch
    with pytest.raises(Boom):
        machine.apply_batch([(4, c.AddRole(name="b")), (5, c.AddRole(name="c"))])
    assert machine.auth_state is published
    with pytest.raises(StateMachineStopped):
        machine.apply(6, c.AddRole(name="d"))
    machine.close()
    reopened = StoreStateMachine.open(tmp_path / "s.db")
    assert reopened.auth_state == published and reopened.applied_index == 3


def test_add_user_response_and_header(tmp_path):
    machine = StoreStateMachine.open(tmp_path / "s.db")
    machine.apply(1, PutRequest(key=b"k", value=b"v"))
    response = machine.apply(2, c.AddUser(name="u", password_hash="h"))
    assert isinstance(response, AuthUserAddResponse) and response.header.revision == 2


# -- log encoding ---------------------------------------------------------------------------


@pytest.mark.parametrize("command", [
    c.EnableAuth(), c.DisableAuth(actor="root"), c.AddUser(actor="root", name="ü", password_hash="h", no_password=True),
    c.DeleteUser(name="x"), c.ChangePassword(name="x", password_hash="h"), c.GrantRole(user="x", role="y"),
    c.RevokeRole(name="x", role="y"), c.AddRole(name="r"), c.DeleteRole(role="r"),
    c.GrantPermission(role="r", perm_type=2, key=b"\0\xff", range_end=b"\0"),
    c.GrantPermission(role="r", perm_given=False), c.RevokePermission(role="r", key=b"k"),
    c.BootstrapRoot(password_hash="h"),
])
def test_commands_round_trip_through_the_log_codec(command):
    assert decode_request(encode_request(command)) == command


def test_malformed_command_entries_are_refused_alike():
    tag = msgpack.unpackb(encode_request(c.AddRole(name="r")))[1]
    with pytest.raises(InvalidRequestError):
        decode_request(msgpack.packb([1, tag, "root", b"not a str"]))
    with pytest.raises(InvalidRequestError):
        decode_request(msgpack.packb([1, tag, "root", "r", "extra"]))


def test_no_password_in_reprs():
    assert "secret" not in repr(c.AddUser(name="u", password_hash="secret"))
    assert "secret" not in repr(c.BootstrapRoot(password_hash="secret"))
