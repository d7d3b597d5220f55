"""The replicated auth state and the deterministic rules that change it
(etcd 3.4's ``auth/store.go`` and ``authApplierV3``'s admin check).

``AuthState`` is immutable: ``apply(state, command, kv_revision)`` returns a
*new* state (sharing every user and role it did not change) and the
response, or raises the command's ``StoreError`` having changed nothing. No
clock, no randomness: the same command on the same state gives the same
result on every member.

The auth revision
-----------------
``revision`` starts at 1 and grows by one with every change, as etcd's
``commitRevision``; a command that changes nothing (granting a role the user
already has, enabling auth that is on, disabling auth that is off, a
bootstrap on an initialized state) leaves it alone. Unlike etcd 3.4, enabling
auth counts as a change too: ``enabled_revision`` (the revision at which auth
was last enabled) must be distinct so that tokens issued before a disable
die with it (see ``tokens``). Each user's ``credential_revision`` is the
revision at which it was created or its password last set. A token issued
at revision R stays valid while auth is on, the user exists, and neither
that user's credentials nor the enabling are newer than R — so changing a
password, deleting (or deleting and re-creating) a user, or disabling auth
invalidates its tokens, while granting or revoking roles does not need to:
permissions are always read from the current state, never from a token.

Where we follow etcd after 3.4.23 (3.4.25 to 3.4.28 fixed these):
- a grant without ``perm`` is refused ("permission not given"; 3.4.23
  crashes on it) and one whose range is empty — no key, or ``range_end``
  not above ``key`` and not ``"\\0"`` — is "invalid auth management";
- granting a ``(key, range_end)`` the role already holds updates its type
  (etcd 3.4 compares only the first permission with that key, so it can add
  duplicates of a later one).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Callable, Mapping

from consensus.mvcc.api import InvalidRequestError, ResponseHeader, StoreError

from .api import (
    ROOT_ROLE,
    ROOT_USER,
    AuthDisableResponse,
    AuthEnableResponse,
    AuthRoleAddResponse,
    AuthRoleDeleteResponse,
    AuthRoleGrantPermissionResponse,
    AuthRoleRevokePermissionResponse,
    AuthUserAddResponse,
    AuthUserChangePasswordResponse,
    AuthUserDeleteResponse,
    AuthUserGrantRoleResponse,
    AuthUserRevokeRoleResponse,
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
from .commands import (
    AddRole,
    AddUser,
    AuthCommand,
    BootstrapRoot,
    ChangePassword,
    DeleteRole,
    DeleteUser,
    DisableAuth,
    EnableAuth,
    GrantPermission,
    GrantRole,
    RevokePermission,
    RevokeRole,
)

INITIAL_REVISION = 1


@dataclass(frozen=True, slots=True)
class User:
    name: str
    password_hash: str = field(default="", repr=False)  # "" for a no_password user
    roles: tuple[str, ...] = ()  # sorted, no duplicates
    no_password: bool = False
    credential_revision: int = 0

    @property
    def is_root(self) -> bool:
        """Holds the root role (etcd's ``hasRootRole``): may do everything."""
        return ROOT_ROLE in self.roles


@dataclass(frozen=True, slots=True)
class Role:
    name: str
    permissions: tuple[Permission, ...] = ()  # stable-sorted by key


@dataclass(frozen=True)
class AuthState:
    """One committed auth state. ``users`` and ``roles`` are never mutated
    once the state is built. ``cache`` holds values derived from this
    state alone (``permissions`` keeps each user's merged ranges there)."""

    enabled: bool = False
    revision: int = INITIAL_REVISION
    enabled_revision: int = 0
    users: Mapping[str, User] = field(default_factory=dict)
    roles: Mapping[str, Role] = field(default_factory=dict)
    cache: dict = field(default_factory=dict, compare=False, repr=False)

    @property
    def pristine(self) -> bool:
        """No auth change was ever applied (what ``BootstrapRoot`` needs)."""
        return self.revision == INITIAL_REVISION

    def user_names(self) -> tuple[str, ...]:
        # Go compares strings bytewise; for valid UTF-8 that is code point
        # order, which is Python's.
        return tuple(sorted(self.users))

    def role_names(self) -> tuple[str, ...]:
        return tuple(sorted(self.roles))

    def has_role(self, user: str | None, role: str) -> bool:
        found = self.users.get(user) if user else None
        return found is not None and role in found.roles


def admin_error(state: AuthState, actor: str | None) -> StoreError | None:
    """Why ``actor`` may not administer auth (etcd's ``IsAdminPermitted``),
    or ``None`` if it may — anyone may while auth is off."""
    if not state.enabled:
        return None
    if not actor:
        return UserEmptyError()
    user = state.users.get(actor)
    if user is None:
        return UserNotFoundError()
    if not user.is_root:
        return PermissionDeniedError()
    return None


def check_admin(state: AuthState, actor: str | None) -> None:
    error = admin_error(state, actor)
    if error is not None:
        raise error


def is_valid_permission_range(key: bytes, range_end: bytes) -> bool:
    """etcd's ``isValidPermissionRange``: a key is required; then a single
    key (no ``range_end``), ``[key, range_end)`` with ``range_end`` above
    ``key``, or every key from ``key`` on (``range_end == b"\\0"``)."""
    if not key:
        return False
    return not range_end or key < range_end or range_end == b"\0"


# -- apply ------------------------------------------------------------------------------


def apply(state: AuthState, command: AuthCommand, kv_revision: int) -> tuple[AuthState, object]:
    """``(new state, response)`` of ``command`` applied to ``state``; the
    new state *is* ``state`` when nothing changed. Raises the command's
    ``StoreError`` (``state`` untouched). ``kv_revision`` is the store's
    revision, which the response header carries (as etcd's ``newHeader``)."""
    handler = _HANDLERS.get(type(command))
    if handler is None:
        raise InvalidRequestError(f"etcdserver: not an auth command: {type(command).__name__}")
    new_state, response_type = handler(state, command)
    return new_state, response_type(header=ResponseHeader(revision=kv_revision))


def _bump(state: AuthState, **changes) -> AuthState:
    return replace(state, revision=state.revision + 1, cache={}, **changes)


def _with_user(state: AuthState, user: User, **changes) -> AuthState:
    users = dict(state.users)
    users[user.name] = user
    return _bump(state, users=users, **changes)


def _enable(state: AuthState, c: EnableAuth):
    check_admin(state, c.actor)
    if state.enabled:
        return state, AuthEnableResponse
    root = state.users.get(ROOT_USER)
    if root is None:
        raise RootUserNotExistError()
    if not root.is_root:
        raise RootRoleNotExistError()
    return _bump(state, enabled=True, enabled_revision=state.revision + 1), AuthEnableResponse


def _disable(state: AuthState, c: DisableAuth):
    check_admin(state, c.actor)
    if not state.enabled:
        return state, AuthDisableResponse
    return _bump(state, enabled=False), AuthDisableResponse


def _add_user(state: AuthState, c: AddUser):
    check_admin(state, c.actor)
    if not c.name:
        raise UserEmptyError()
    if c.name in state.users:
        raise UserAlreadyExistError()
    user = User(c.name, "" if c.no_password else c.password_hash, (), c.no_password, state.revision + 1)
    return _with_user(state, user), AuthUserAddResponse


def _delete_user(state: AuthState, c: DeleteUser):
    check_admin(state, c.actor)
    if state.enabled and c.name == ROOT_USER:
        raise InvalidAuthMgmtError()
    if c.name not in state.users:
        raise UserNotFoundError()
    users = dict(state.users)
    del users[c.name]
    return _bump(state, users=users), AuthUserDeleteResponse


def _change_password(state: AuthState, c: ChangePassword):
    check_admin(state, c.actor)
    user = state.users.get(c.name)
    if user is None:
        raise UserNotFoundError()
    # As etcd 3.4: the no_password option stays as it was.
    changed = replace(user, password_hash=c.password_hash, credential_revision=state.revision + 1)
    return _with_user(state, changed), AuthUserChangePasswordResponse


def _grant_role(state: AuthState, c: GrantRole):
    check_admin(state, c.actor)
    user = state.users.get(c.user)
    if user is None:
        raise UserNotFoundError()
    # As etcd: the root role may be granted without a role object.
    if c.role != ROOT_ROLE and c.role not in state.roles:
        raise RoleNotFoundError()
    if c.role in user.roles:
        return state, AuthUserGrantRoleResponse
    return _with_user(state, replace(user, roles=tuple(sorted((*user.roles, c.role))))), AuthUserGrantRoleResponse


def _revoke_role(state: AuthState, c: RevokeRole):
    check_admin(state, c.actor)
    if state.enabled and c.name == ROOT_USER and c.role == ROOT_ROLE:
        raise InvalidAuthMgmtError()
    user = state.users.get(c.name)
    if user is None:
        raise UserNotFoundError()
    if c.role not in user.roles:
        raise RoleNotGrantedError()
    kept = tuple(role for role in user.roles if role != c.role)
    return _with_user(state, replace(user, roles=kept)), AuthUserRevokeRoleResponse


def _add_role(state: AuthState, c: AddRole):
    check_admin(state, c.actor)
    if not c.name:
        raise RoleEmptyError()
    if c.name in state.roles:
        raise RoleAlreadyExistError()
    roles = dict(state.roles)
    roles[c.name] = Role(c.name)
    return _bump(state, roles=roles), AuthRoleAddResponse


def _delete_role(state: AuthState, c: DeleteRole):
    check_admin(state, c.actor)
    if state.enabled and c.role == ROOT_ROLE:
        raise InvalidAuthMgmtError()
    if c.role not in state.roles:
        raise RoleNotFoundError()
    roles = dict(state.roles)
    del roles[c.role]
    users = dict(state.users)
    for name, user in state.users.items():
        if c.role in user.roles:
            users[name] = replace(user, roles=tuple(role for role in user.roles if role != c.role))
    return _bump(state, roles=roles, users=users), AuthRoleDeleteResponse


def _grant_permission(state: AuthState, c: GrantPermission):
    check_admin(state, c.actor)
    if not c.perm_given:
        raise PermissionNotGivenError()
    if not is_valid_permission_range(c.key, c.range_end):
        raise InvalidAuthMgmtError()
    try:
        perm_type = PermissionType(c.perm_type)
    except ValueError:
        raise InvalidRequestError(f"etcdserver: unknown permission type {c.perm_type}") from None
    role = state.roles.get(c.role)
    if role is None:
        raise RoleNotFoundError()
    granted = Permission(perm_type, c.key, c.range_end)
    same = [i for i, p in enumerate(role.permissions) if p.key == c.key and p.range_end == c.range_end]
    if same:
        perms = list(role.permissions)
        for i in same:
            perms[i] = granted
    else:
        # Stable: permissions with equal keys keep their grant order (etcd's
        # insertion sort on the key).
        perms = sorted((*role.permissions, granted), key=lambda p: p.key)
    roles = dict(state.roles)
    roles[c.role] = Role(c.role, tuple(perms))
    return _bump(state, roles=roles), AuthRoleGrantPermissionResponse


def _revoke_permission(state: AuthState, c: RevokePermission):
    check_admin(state, c.actor)
    role = state.roles.get(c.role)
    if role is None:
        raise RoleNotFoundError()
    kept = tuple(p for p in role.permissions if p.key != c.key or p.range_end != c.range_end)
    if len(kept) == len(role.permissions):
        raise PermissionNotGrantedError()
    roles = dict(state.roles)
    roles[c.role] = Role(c.role, kept)
    return _bump(state, roles=roles), AuthRoleRevokePermissionResponse


def _bootstrap_root(state: AuthState, c: BootstrapRoot):
    if not state.pristine:
        return state, _NotCreated
    revision = state.revision + 1
    root = User(ROOT_USER, c.password_hash, (ROOT_ROLE,), False, revision)
    new_state = replace(
        state, revision=revision, enabled=True, enabled_revision=revision, cache={},
        users={ROOT_USER: root}, roles={ROOT_ROLE: Role(ROOT_ROLE)},
    )
    return new_state, _Created


def _Created(header: ResponseHeader) -> BootstrapRootResponse:
    return BootstrapRootResponse(header=header, created=True)


def _NotCreated(header: ResponseHeader) -> BootstrapRootResponse:
    return BootstrapRootResponse(header=header, created=False)


_HANDLERS: dict[type, Callable[[AuthState, object], tuple[AuthState, Callable[..., object]]]] = {
    EnableAuth: _enable,
    DisableAuth: _disable,
    AddUser: _add_user,
    DeleteUser: _delete_user,
    ChangePassword: _change_password,
    GrantRole: _grant_role,
    RevokeRole: _revoke_role,
    AddRole: _add_role,
    DeleteRole: _delete_role,
    GrantPermission: _grant_permission,
    RevokePermission: _revoke_permission,
    BootstrapRoot: _bootstrap_root,
}
