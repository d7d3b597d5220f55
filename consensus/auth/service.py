"""Auth operations, one per etcd Auth RPC: what ``routes`` (and any other
caller) use. Changes are proposed as ``commands`` through the Raft node and
take effect when applied; reads and Authenticate are served from this
member's state after a ReadIndex.

Who may do what is etcd's rule: while auth is on, only a user with the root
role may change anything or list users and roles; a user may get itself and
the roles it holds. Changes carry the ``actor`` into the log and are checked
again at apply (``auth_state.check_admin``), so the answer is the one the
committed state gives; the service checks first too, against its fresh
state, so that a refused request costs no password hashing and no log entry.

Passwords are hashed here, in a worker thread, before anything is proposed:
the log carries only the hash. Every applied change is logged at INFO with
its actor (never a password or token).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from typing import Awaitable, Callable, Protocol

from consensus.mvcc.api import Limits, ResponseHeader, StoreError
from consensus.mvcc.log_codec import check_request_size, encode_request

from .api import (
    AuthDisableRequest,
    AuthDisableResponse,
    AuthEnableRequest,
    AuthEnableResponse,
    AuthenticateRequest,
    AuthenticateResponse,
    AuthFailedError,
    AuthNotEnabledError,
    AuthRoleAddRequest,
    AuthRoleAddResponse,
    AuthRoleDeleteRequest,
    AuthRoleDeleteResponse,
    AuthRoleGetRequest,
    AuthRoleGetResponse,
    AuthRoleGrantPermissionRequest,
    AuthRoleGrantPermissionResponse,
    AuthRoleListRequest,
    AuthRoleListResponse,
    AuthRoleRevokePermissionRequest,
    AuthRoleRevokePermissionResponse,
    AuthUserAddRequest,
    AuthUserAddResponse,
    AuthUserChangePasswordRequest,
    AuthUserChangePasswordResponse,
    AuthUserDeleteRequest,
    AuthUserDeleteResponse,
    AuthUserGetRequest,
    AuthUserGetResponse,
    AuthUserGrantRoleRequest,
    AuthUserGrantRoleResponse,
    AuthUserListRequest,
    AuthUserListResponse,
    AuthUserRevokeRoleRequest,
    AuthUserRevokeRoleResponse,
    BootstrapRootResponse,
    RawNoPasswordUserError,
    RoleNotFoundError,
    UserNotFoundError,
)
from .auth_state import AuthState, admin_error, check_admin
from .authorizer import token_valid
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
from .passwords import PasswordHasher
from .tokens import TokenClaims, TokenSigner

logger = logging.getLogger(__name__)

# Authenticate re-checks when the user's credentials changed while its
# password was being verified (etcd loops the same way); give up after this.
_AUTHENTICATE_ATTEMPTS = 3


class AuthNode(Protocol):
    """What the service needs of the Raft node: ``RaftNode`` fits."""

    async def propose(self, payload: bytes) -> object: ...

    async def read_index(self) -> object: ...


class AuthMachine(Protocol):
    """What the service reads: ``StoreStateMachine`` fits."""

    @property
    def auth_state(self) -> AuthState: ...

    @property
    def revision(self) -> int: ...


def _plain_header(revision: int) -> ResponseHeader:
    return ResponseHeader(revision=revision)


class AuthService:
    """etcd's Auth service over one member.

    ``node`` proposes and reads (``AuthNode``); ``machine`` is this member's
    state machine; ``tokens`` signs tokens (the authorizer must verify with a
    signer over the same cluster secret); ``header(revision)`` fills in a
    response header (cluster, member, term) as the gateway does for the
    store's answers; ``limits`` are the store's (a command is size-checked
    before it is proposed); ``hasher`` sets the scrypt cost."""

    def __init__(
        self, node: AuthNode, machine: AuthMachine, tokens: TokenSigner, *,
        header: Callable[[int], ResponseHeader] = _plain_header, limits: Limits = Limits(),
        hasher: PasswordHasher = PasswordHasher(),
    ) -> None:
        self.node = node
        self.machine = machine
        self.tokens = tokens
        self.hasher = hasher
        self._header = header
        self._limits = limits

    # -- plumbing ---------------------------------------------------------------------

    async def state(self) -> AuthState:
        """The auth state, linearizably: everything committed before the
        call is applied in it."""
        await self.node.read_index()
        return self.machine.auth_state

    async def _propose(self, command: AuthCommand) -> object:
        payload = encode_request(command)
        check_request_size(payload, self._limits)  # refused before it reaches the log
        result = await self.node.propose(payload)
        if isinstance(result, StoreError):
            raise result
        return result

    async def _change(self, command: AuthCommand, what: str) -> object:
        response = await self._propose(command)
        logger.info("auth: %s (by %s)", what, getattr(command, "actor", "") or "anonymous")
        return self._stamped(response)

    def _stamped(self, response):
        return replace(response, header=self._header(response.header.revision))

    def _now_header(self) -> ResponseHeader:
        return self._header(self.machine.revision)

    async def _admin_state(self, actor: str | None) -> AuthState:
        state = await self.state()
        check_admin(state, actor)
        return state

    # -- auth on/off ---------------------------------------------------------------------

    async def auth_enable(self, request: AuthEnableRequest, *, actor: str | None) -> AuthEnableResponse:
        await self._admin_state(actor)
        return await self._change(EnableAuth(actor=actor or ""), "enable auth")

    async def auth_disable(self, request: AuthDisableRequest, *, actor: str | None) -> AuthDisableResponse:
        await self._admin_state(actor)
        return await self._change(DisableAuth(actor=actor or ""), "disable auth")

    # -- authenticate ------------------------------------------------------------------

    async def authenticate(self, request: AuthenticateRequest) -> AuthenticateResponse:
        """A token for ``request.name`` if its password matches (etcd's
        errors otherwise: auth off, unknown user or wrong password, a
        no-password user). No log entry: the token is signed, not stored."""
        for _ in range(_AUTHENTICATE_ATTEMPTS):
            state = await self.state()
            if not state.enabled:
                raise AuthNotEnabledError()
            user = state.users.get(request.name)
            if user is None:
                await self.hasher.waste(request.password)
                raise AuthFailedError()
            if user.no_password:
                raise RawNoPasswordUserError()
            if not await self.hasher.verify(request.password, user.password_hash):
                raise AuthFailedError()
            # The password matched the credentials current at
            # ``state.revision``: the token says so, and stays valid only
            # while they are (``tokens``).
            claims = TokenClaims(request.name, state.revision, 0, 0)
            if token_valid(self.machine.auth_state, claims):
                token = self.tokens.issue(request.name, state.revision)
                return AuthenticateResponse(header=self._now_header(), token=token)
        raise AuthFailedError()

    # -- users ---------------------------------------------------------------------------

    async def user_add(self, request: AuthUserAddRequest, *, actor: str | None) -> AuthUserAddResponse:
        await self._admin_state(actor)
        no_password = request.options is not None and request.options.no_password
        password_hash = "" if no_password else await self.hasher.hash(request.password)
        return await self._change(
            AddUser(actor=actor or "", name=request.name, password_hash=password_hash, no_password=no_password),
            f"add user {request.name!r}" + (" without password" if no_password else ""),
        )

    async def user_get(self, request: AuthUserGetRequest, *, actor: str | None) -> AuthUserGetResponse:
        state = await self.state()
        error = admin_error(state, actor)
        if error is not None and request.name != actor:
            raise error
        user = state.users.get(request.name)
        if user is None:
            raise UserNotFoundError()
        return AuthUserGetResponse(header=self._now_header(), roles=user.roles)

    async def user_list(self, request: AuthUserListRequest, *, actor: str | None) -> AuthUserListResponse:
        state = await self._admin_state(actor)
        return AuthUserListResponse(header=self._now_header(), users=state.user_names())

    async def user_delete(self, request: AuthUserDeleteRequest, *, actor: str | None) -> AuthUserDeleteResponse:
        await self._admin_state(actor)
        return await self._change(DeleteUser(actor=actor or "", name=request.name), f"delete user {request.name!r}")

    async def user_change_password(
        self, request: AuthUserChangePasswordRequest, *, actor: str | None
    ) -> AuthUserChangePasswordResponse:
        await self._admin_state(actor)
        password_hash = await self.hasher.hash(request.password)
        return await self._change(
            ChangePassword(actor=actor or "", name=request.name, password_hash=password_hash),
            f"change the password of user {request.name!r}",
        )

    async def user_grant_role(self, request: AuthUserGrantRoleRequest, *, actor: str | None) -> AuthUserGrantRoleResponse:
        await self._admin_state(actor)
        return await self._change(
            GrantRole(actor=actor or "", user=request.user, role=request.role),
            f"grant role {request.role!r} to user {request.user!r}",
        )

    async def user_revoke_role(
        self, request: AuthUserRevokeRoleRequest, *, actor: str | None
    ) -> AuthUserRevokeRoleResponse:
        await self._admin_state(actor)
        return await self._change(
            RevokeRole(actor=actor or "", name=request.name, role=request.role),
            f"revoke role {request.role!r} from user {request.name!r}",
        )

    # -- roles ---------------------------------------------------------------------------

    async def role_add(self, request: AuthRoleAddRequest, *, actor: str | None) -> AuthRoleAddResponse:
        await self._admin_state(actor)
        return await self._change(AddRole(actor=actor or "", name=request.name), f"add role {request.name!r}")

    async def role_get(self, request: AuthRoleGetRequest, *, actor: str | None) -> AuthRoleGetResponse:
        state = await self.state()
        error = admin_error(state, actor)
        if error is not None and not state.has_role(actor, request.role):
            raise error
        role = state.roles.get(request.role)
        if role is None:
            raise RoleNotFoundError()
        return AuthRoleGetResponse(header=self._now_header(), perm=role.permissions)

    async def role_list(self, request: AuthRoleListRequest, *, actor: str | None) -> AuthRoleListResponse:
        state = await self._admin_state(actor)
        return AuthRoleListResponse(header=self._now_header(), roles=state.role_names())

    async def role_delete(self, request: AuthRoleDeleteRequest, *, actor: str | None) -> AuthRoleDeleteResponse:
        await self._admin_state(actor)
        return await self._change(DeleteRole(actor=actor or "", role=request.role), f"delete role {request.role!r}")

    async def role_grant_permission(
        self, request: AuthRoleGrantPermissionRequest, *, actor: str | None
    ) -> AuthRoleGrantPermissionResponse:
        await self._admin_state(actor)
        perm = request.perm
        command = GrantPermission(
            actor=actor or "", role=request.name, perm_given=perm is not None,
            perm_type=int(perm.perm_type) if perm else 0, key=perm.key if perm else b"",
            range_end=perm.range_end if perm else b"",
        )
        what = (f"grant {perm.perm_type.name} on {perm.key!r}..{perm.range_end!r} to role {request.name!r}"
                if perm else f"grant nothing to role {request.name!r}")
        return await self._change(command, what)

    async def role_revoke_permission(
        self, request: AuthRoleRevokePermissionRequest, *, actor: str | None
    ) -> AuthRoleRevokePermissionResponse:
        await self._admin_state(actor)
        return await self._change(
            RevokePermission(actor=actor or "", role=request.role, key=request.key, range_end=request.range_end),
            f"revoke the permission on {request.key!r}..{request.range_end!r} from role {request.role!r}",
        )

    # -- bootstrap -----------------------------------------------------------------------

    async def bootstrap_root(self, password_hash: str) -> bool:
        """Propose ``BootstrapRoot``; whether *this* proposal created root
        (``bootstrap`` builds on this)."""
        response = await self._propose(BootstrapRoot(password_hash=password_hash))
        assert isinstance(response, BootstrapRootResponse), response
        if response.created:
            logger.info("auth: bootstrapped user root with role root; auth enabled")
        return response.created


# The service operation serving each etcd Auth RPC, by request type.
OPERATIONS: dict[type, Callable[..., Awaitable[object]]] = {
    AuthEnableRequest: AuthService.auth_enable,
    AuthDisableRequest: AuthService.auth_disable,
    AuthUserAddRequest: AuthService.user_add,
    AuthUserGetRequest: AuthService.user_get,
    AuthUserListRequest: AuthService.user_list,
    AuthUserDeleteRequest: AuthService.user_delete,
    AuthUserChangePasswordRequest: AuthService.user_change_password,
    AuthUserGrantRoleRequest: AuthService.user_grant_role,
    AuthUserRevokeRoleRequest: AuthService.user_revoke_role,
    AuthRoleAddRequest: AuthService.role_add,
    AuthRoleGetRequest: AuthService.role_get,
    AuthRoleListRequest: AuthService.role_list,
    AuthRoleDeleteRequest: AuthService.role_delete,
    AuthRoleGrantPermissionRequest: AuthService.role_grant_permission,
    AuthRoleRevokePermissionRequest: AuthService.role_revoke_permission,
}
