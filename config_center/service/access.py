"""Who may do what to which namespaces.

A user holds grants: a role on a namespace pattern. Roles, each including
the one before: ``viewer`` (read config, releases, diffs and the
namespace's audit; secret items masked), ``editor`` (+ save and discard
drafts, secret ones included, still masked), ``publisher`` (+ publish and
roll back, and see secret items), ``admin`` (+ create, change and delete
namespaces). An ``admin`` grant on ``*`` also administers users, tokens
and the global audit chain.

A pattern is ``*`` (every namespace), ``payments/*`` (``payments`` and
every namespace below it) or an exact namespace name.

An API token acts for the user who created it, narrowed to its own
pattern and access (``read``: what a viewer may; ``write``: what a
publisher may): it can never do more than its owner can at the time it is
used, so taking a grant from a user takes it from their tokens too.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .context import Actor
from .errors import ForbiddenError, InvalidError
from .names import check_namespace

READ, REVEAL, DRAFT, PUBLISH, MANAGE = "read", "reveal", "draft", "publish", "manage"
ROLES = {
    "viewer": frozenset({READ}),
    "editor": frozenset({READ, DRAFT}),
    "publisher": frozenset({READ, REVEAL, DRAFT, PUBLISH}),
    "admin": frozenset({READ, REVEAL, DRAFT, PUBLISH, MANAGE}),
}
# Applications read secrets through their tokens: a token may reveal
# wherever its owner may.
TOKEN_ACCESS = {"read": frozenset({READ, REVEAL}), "write": ROLES["publisher"]}
EVERYTHING = "*"


def check_pattern(pattern: Any) -> str:
    if pattern == EVERYTHING:
        return pattern
    if not isinstance(pattern, str):
        raise InvalidError("a namespace pattern is '*', 'name/*' or a namespace name")
    check_namespace(pattern[:-2] if pattern.endswith("/*") else pattern)
    return pattern


def matches(pattern: str, ns: str) -> bool:
    if pattern == EVERYTHING:
        return True
    if pattern.endswith("/*"):
        base = pattern[:-2]
        return ns == base or ns.startswith(base + "/")
    return ns == pattern


def check_grants(grants: Any) -> list[dict]:
    """``grants`` as stored: a list of ``{"role", "namespaces"}``."""
    if not isinstance(grants, list):
        raise InvalidError("grants must be a list of {role, namespaces} objects")
    out = []
    for grant in grants:
        if not isinstance(grant, dict) or set(grant) != {"role", "namespaces"}:
            raise InvalidError("each grant is an object with exactly 'role' and 'namespaces'")
        if grant["role"] not in ROLES:
            raise InvalidError(f"unknown role {grant['role']!r}; roles are {', '.join(ROLES)}")
        out.append({"role": grant["role"], "namespaces": check_pattern(grant["namespaces"])})
    return out


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: a user, or a token acting for one."""

    user: str
    grants: tuple[tuple[str, str], ...]  # (role, pattern) of the user
    address: str = ""
    token_id: str | None = None
    token_pattern: str | None = None
    token_access: str | None = None
    # The store key of the login session it came with (``sessions``), if any.
    session: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.user, self.address, self.token_id)

    def allowed(self, action: str, ns: str) -> bool:
        if self.token_id is not None:
            if action not in TOKEN_ACCESS[self.token_access or "read"] or not matches(self.token_pattern or "", ns):
                return False
        return any(action in ROLES[role] and matches(pattern, ns) for role, pattern in self.grants)

    @property
    def is_superuser(self) -> bool:
        """Administers users, tokens and the global audit (never through a token)."""
        return self.token_id is None and ("admin", EVERYTHING) in self.grants

    def require(self, action: str, ns: str) -> None:
        if not self.allowed(action, ns):
            what = {READ: "read", REVEAL: "see secret items of", DRAFT: "edit drafts in",
                    PUBLISH: "publish or roll back", MANAGE: "manage"}[action]
            raise ForbiddenError(f"{self.describe()} may not {what} namespace {ns!r}")

    def require_superuser(self) -> None:
        if not self.is_superuser:
            raise ForbiddenError(f"{self.describe()} is not an administrator (admin on '*', without a token)")

    def describe(self) -> str:
        return self.user if self.token_id is None else f"{self.user}'s token {self.token_id}"


def principal_for(user: dict, address: str = "") -> Principal:
    return Principal(user["name"], tuple((g["role"], g["namespaces"]) for g in user["grants"]), address)
