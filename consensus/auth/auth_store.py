"""The auth state's rows in the store's database, written in the same
transaction as the key-value data of the same log entries.

``AuthStore`` is owned by ``StoreStateMachine`` (one per open database). Its
contract with the state machine, per apply batch:

1. ``apply(command, kv_revision)`` for each auth command, inside the open
   backend transaction: the new state is computed by ``auth_state.apply``
   (which refuses before anything is written), its changed rows are written,
   and it becomes the *staged* state — later commands of the batch build on
   it.
2. after ``backend.commit()``: ``publish()`` — the staged state becomes
   ``state``, what readers (authorizer, service) see.
3. if the transaction is rolled back: ``discard()``.

Readers therefore never see a state that is not committed, and need no lock:
``state`` is an immutable ``AuthState`` swapped in one assignment.

Rows (the backend's ``auth`` table, ``(kind, name) -> data``, msgpack):
``meta``/"" ``[enabled, revision, enabled_revision]``; ``user``/name
``[password_hash, roles, no_password, credential_revision]``; ``role``/name
``[[perm_type, key, range_end], ...]``. No meta row: the pristine state.
Snapshots copy the whole database, so they carry these rows; ``load`` after
a restore rebuilds the state from them.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import msgpack

from .api import Permission, PermissionType
from .auth_state import AuthState, Role, User, apply
from .commands import AuthCommand

if TYPE_CHECKING:
    from consensus.mvcc.backend import Backend

_META, _USER, _ROLE = "meta", "user", "role"


class AuthRecordError(RuntimeError):
    """An auth row that does not decode: the database is damaged."""


class AuthStore:
    """The replicated auth state of one store database (module docstring)."""

    def __init__(self, backend: Backend, state: AuthState) -> None:
        self._backend = backend
        self._state = state
        self._staged: AuthState | None = None

    @classmethod
    def load(cls, backend: Backend) -> AuthStore:
        """The state the database holds (pristine if it holds none)."""
        return cls(backend, _decode_state(backend.auth_records()))

    @property
    def state(self) -> AuthState:
        """The last committed state."""
        return self._state

    def apply(self, command: AuthCommand, kv_revision: int) -> object:
        """Apply ``command`` inside the backend's open transaction; returns
        its response (header revision ``kv_revision``) or raises its
        ``StoreError`` before writing anything."""
        before = self._staged if self._staged is not None else self._state
        after, response = apply(before, command, kv_revision)
        if after is not before:
            self._write(before, after)
            self._staged = after
        return response

    def publish(self) -> None:
        """The batch committed: its staged state becomes ``state``."""
        if self._staged is not None:
            self._state, self._staged = self._staged, None

    def discard(self) -> None:
        """The batch was rolled back: forget its staged state."""
        self._staged = None

    def _write(self, before: AuthState, after: AuthState) -> None:
        put, delete = self._backend.put_auth_record, self._backend.delete_auth_record
        put(_META, "", msgpack.packb([after.enabled, after.revision, after.enabled_revision]))
        # Unchanged users and roles are the very same objects (copy on
        # write), so identity finds what to write.
        for name, user in after.users.items():
            if before.users.get(name) is not user:
                put(_USER, name, _encode_user(user))
        for name in before.users.keys() - after.users.keys():
            delete(_USER, name)
        for name, role in after.roles.items():
            if before.roles.get(name) is not role:
                put(_ROLE, name, _encode_role(role))
        for name in before.roles.keys() - after.roles.keys():
            delete(_ROLE, name)


def _encode_user(user: User) -> bytes:
    return msgpack.packb(
        [user.password_hash, list(user.roles), user.no_password, user.credential_revision], use_bin_type=True
    )


def _encode_role(role: Role) -> bytes:
    return msgpack.packb(
        [[int(p.perm_type), p.key, p.range_end] for p in role.permissions], use_bin_type=True
    )


def _decode_state(records: list[tuple[str, str, bytes]]) -> AuthState:
    enabled, revision, enabled_revision = False, AuthState().revision, 0
    users: dict[str, User] = {}
    roles: dict[str, Role] = {}
    for kind, name, data in records:
        try:
            value = msgpack.unpackb(data, raw=False)
            if kind == _META:
                enabled, revision, enabled_revision = bool(value[0]), int(value[1]), int(value[2])
            elif kind == _USER:
                password_hash, role_names, no_password, credential_revision = value
                users[name] = User(name, password_hash, tuple(role_names), bool(no_password), int(credential_revision))
            elif kind == _ROLE:
                perms = tuple(Permission(PermissionType(t), bytes(k), bytes(e)) for t, k, e in value)
                roles[name] = Role(name, perms)
            else:
                raise ValueError(f"unknown record kind {kind!r}")
        except (ValueError, TypeError, msgpack.UnpackException) as exc:
            raise AuthRecordError(f"auth record ({kind!r}, {name!r}) is damaged: {exc}") from None
    return AuthState(enabled=enabled, revision=revision, enabled_revision=enabled_revision, users=users, roles=roles)
