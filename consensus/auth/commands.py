"""What a Raft log entry carries for a change to the auth state.

These are not the client's requests: a password never enters the log, only
the salted hash the proposer computed (``passwords``), and every command
that etcd lets only root issue names its ``actor`` (the authenticated user,
``""`` for none), so the admin check runs *at apply*, against the state the
command is applied to — deterministic on every member, and immune to a
revocation that committed between the proposer's check and the entry (as
etcd's ``needAdminPermission`` in ``authApplierV3.Apply``).

Every field is a plain value (``str``, ``bytes``, ``bool``, ``int``) with a
default, so ``consensus.mvcc.log_codec`` encodes them like its own requests
(positional msgpack arrays, trailing defaults left out) and refuses a
malformed one identically on every member. ``perm_type`` is an ``int``
checked at apply (0 READ, 1 WRITE, 2 READWRITE).

Reads (user/role get and list) and Authenticate are not commands: they read
this member's state after a ReadIndex, and a token is issued without a log
entry (``tokens``).
"""
from __future__ import annotations

from dataclasses import dataclass, field


class AuthCommand:
    """Base of every command; the state machine hands these to its
    ``AuthStore`` instead of the key-value applier."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class EnableAuth(AuthCommand):
    actor: str = ""


@dataclass(frozen=True, slots=True)
class DisableAuth(AuthCommand):
    actor: str = ""


@dataclass(frozen=True, slots=True)
class AddUser(AuthCommand):
    actor: str = ""
    name: str = ""
    password_hash: str = field(default="", repr=False)  # "" with no_password
    no_password: bool = False


@dataclass(frozen=True, slots=True)
class DeleteUser(AuthCommand):
    actor: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class ChangePassword(AuthCommand):
    actor: str = ""
    name: str = ""
    password_hash: str = field(default="", repr=False)


@dataclass(frozen=True, slots=True)
class GrantRole(AuthCommand):
    actor: str = ""
    user: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class RevokeRole(AuthCommand):
    actor: str = ""
    name: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class AddRole(AuthCommand):
    actor: str = ""
    name: str = ""


@dataclass(frozen=True, slots=True)
class DeleteRole(AuthCommand):
    actor: str = ""
    role: str = ""


@dataclass(frozen=True, slots=True)
class GrantPermission(AuthCommand):
    """``perm_given`` False: the client sent no ``perm`` (refused at apply
    with etcd's "permission not given")."""

    actor: str = ""
    role: str = ""
    perm_given: bool = True
    perm_type: int = 0
    key: bytes = b""
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class RevokePermission(AuthCommand):
    actor: str = ""
    role: str = ""
    key: bytes = b""
    range_end: bytes = b""


@dataclass(frozen=True, slots=True)
class BootstrapRoot(AuthCommand):
    """Create user ``root`` (with this password hash) holding role
    ``root``, create role ``root``, and enable auth — in one step, and only
    if the auth state was never initialized (no auth change was ever
    applied). Otherwise a no-op whose response says ``created=False``, so a
    second proposal (a later leader's, a replay) changes nothing."""

    password_hash: str = field(default="", repr=False)


COMMANDS: tuple[type[AuthCommand], ...] = (
    EnableAuth, DisableAuth, AddUser, DeleteUser, ChangePassword, GrantRole, RevokeRole,
    AddRole, DeleteRole, GrantPermission, RevokePermission, BootstrapRoot,
)
