"""Auth requests, responses and errors, shaped after etcd v3's
``etcdserverpb.Auth*`` and ``authpb`` messages field for field.

Names are ``str`` (etcd's proto ``string``), keys ``bytes``. A default value
means "not set", as in proto3; message-valued fields that may be absent
(``options``, ``perm``) are ``None`` when absent. Password fields are left
out of ``repr`` so a request that reaches a log line does not carry one.

Errors carry etcd's messages and gRPC codes (``rpctypes``), checked against
a real etcd 3.4.23 (``tests/auth/test_auth_vs_etcd.py``). A few errors are
not converted by etcd and reach the client as Go's raw ``auth:`` error with
code 2 (UNKNOWN): authenticating a user created with ``no_password``, and
every refusal of the maintenance endpoints (``/v3/maintenance/hash``); those
are the ``Raw*`` classes here.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

from consensus.mvcc.api import ResponseHeader, StoreError

ROOT_USER = "root"
ROOT_ROLE = "root"

# -- errors ----------------------------------------------------------------------------


class RootUserNotExistError(StoreError):
    grpc_code = 9  # FAILED_PRECONDITION
    message = "etcdserver: root user does not exist"


class RootRoleNotExistError(StoreError):
    grpc_code = 9
    message = "etcdserver: root user does not have root role"


class UserAlreadyExistError(StoreError):
    grpc_code = 9
    message = "etcdserver: user name already exists"


class UserEmptyError(StoreError):
    """No user: auth is on and the request carried no token (or a user add
    named nobody)."""

    grpc_code = 3  # INVALID_ARGUMENT
    message = "etcdserver: user name is empty"


class UserNotFoundError(StoreError):
    grpc_code = 9
    message = "etcdserver: user name not found"


class RoleAlreadyExistError(StoreError):
    grpc_code = 9
    message = "etcdserver: role name already exists"


class RoleNotFoundError(StoreError):
    grpc_code = 9
    message = "etcdserver: role name not found"


class RoleEmptyError(StoreError):
    grpc_code = 3
    message = "etcdserver: role name is empty"


class AuthFailedError(StoreError):
    grpc_code = 3
    message = "etcdserver: authentication failed, invalid user ID or password"


class PermissionDeniedError(StoreError):
    grpc_code = 7  # PERMISSION_DENIED
    message = "etcdserver: permission denied"


class RoleNotGrantedError(StoreError):
    grpc_code = 9
    message = "etcdserver: role is not granted to the user"


class PermissionNotGrantedError(StoreError):
    grpc_code = 9
    message = "etcdserver: permission is not granted to the role"


class PermissionNotGivenError(StoreError):
    """A grant without a permission (etcd >= 3.4.25; 3.4.23 crashes)."""

    grpc_code = 3
    message = "etcdserver: permission not given"


class AuthNotEnabledError(StoreError):
    grpc_code = 9
    message = "etcdserver: authentication is not enabled"


class AuthNotReadyError(StoreError):
    """Store auth is on but this member's auth state was never set up: a new
    cluster before its first leader has created root and enabled auth.
    Retryable (code 14, HTTP 503), so nothing is served open meanwhile."""

    grpc_code = 14  # UNAVAILABLE
    message = "etcdserver: auth is not set up yet on this new cluster (its first leader enables it); retry"


class InvalidAuthTokenError(StoreError):
    """A token that is malformed, forged, expired, or names a user whose
    credentials changed since (code 16, HTTP 401)."""

    grpc_code = 16  # UNAUTHENTICATED
    message = "etcdserver: invalid auth token"


class InvalidAuthMgmtError(StoreError):
    """Deleting root or its role while auth is on, revoking root's root
    role, or an empty permission range."""

    grpc_code = 3
    message = "etcdserver: invalid auth management"


class RawNoPasswordUserError(StoreError):
    """Authenticating a user added with ``no_password`` (etcd does not
    convert this error: code 2, HTTP 500)."""

    grpc_code = 2  # UNKNOWN
    message = "auth: authentication failed, password was given for no password user"


class RawUserEmptyError(StoreError):
    """``UserEmptyError`` as etcd's maintenance endpoints report it."""

    grpc_code = 2
    message = "auth: user name is empty"


class RawUserNotFoundError(StoreError):
    grpc_code = 2
    message = "auth: user not found"


class RawPermissionDeniedError(StoreError):
    grpc_code = 2
    message = "auth: permission denied"


def raw_error(error: StoreError) -> StoreError:
    """``error`` as etcd's maintenance server reports it (Go's unconverted
    ``auth:`` error, code 2)."""
    for converted, raw in (
        (UserEmptyError, RawUserEmptyError),
        (UserNotFoundError, RawUserNotFoundError),
        (PermissionDeniedError, RawPermissionDeniedError),
    ):
        if isinstance(error, converted):
            return raw()
    return error


# -- permissions -----------------------------------------------------------------------


class PermissionType(enum.IntEnum):
    READ = 0
    WRITE = 1
    READWRITE = 2


@dataclass(frozen=True, slots=True)
class Permission:
    """``perm_type`` on ``key`` alone (``range_end`` empty), on ``[key,
    range_end)``, or on every key from ``key`` on (``range_end == b"\\0"``).
    JSON field ``permType``."""

    perm_type: PermissionType = PermissionType.READ
    key: bytes = b""
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class UserAddOptions:
    no_password: bool = False


# -- requests --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthEnableRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthDisableRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthenticateRequest:
    name: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class AuthUserAddRequest:
    name: str = ""
    password: str = field(default="", repr=False)
    options: UserAddOptions | None = None


@dataclass(frozen=True, slots=True)
class AuthUserGetRequest:
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserDeleteRequest:
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserChangePasswordRequest:
    name: str = ""
    password: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class AuthUserGrantRoleRequest:
    user: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserRevokeRoleRequest:
    name: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthRoleAddRequest:
    name: str = ""


@dataclass(frozen=True, slots=True)
class AuthRoleGetRequest:
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthUserListRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthRoleListRequest:
    pass


@dataclass(frozen=True, slots=True)
class AuthRoleDeleteRequest:
    role: str = ""


@dataclass(frozen=True, slots=True)
class AuthRoleGrantPermissionRequest:
    name: str = ""
    perm: Permission | None = None


@dataclass(frozen=True, slots=True)
class AuthRoleRevokePermissionRequest:
    role: str = ""
    key: bytes = b""
    range_end: bytes = b""


# -- responses -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AuthEnableResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthDisableResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthenticateResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    token: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class AuthUserAddResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthUserGetResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthUserDeleteResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthUserChangePasswordResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthUserGrantRoleResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthUserRevokeRoleResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthRoleAddResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthRoleGetResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    perm: tuple[Permission, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthRoleListResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    roles: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthUserListResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)
    users: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AuthRoleDeleteResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthRoleGrantPermissionResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class AuthRoleRevokePermissionResponse:
    header: ResponseHeader = field(default_factory=ResponseHeader)


@dataclass(frozen=True, slots=True)
class BootstrapRootResponse:
    """Our own: whether the bootstrap command created root (``False``: the
    auth state had already been initialized, nothing changed)."""

    header: ResponseHeader = field(default_factory=ResponseHeader)
    created: bool = False
