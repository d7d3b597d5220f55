"""Who a member is: its ID, its cluster's ID, and the secret its peers share.

IDs follow etcd: a member of the initial cluster gets an ID derived from its
name, its peer address and the cluster token, so every member computes the
same IDs for all of them from the same ``--initial-cluster`` flag without
talking to each other; the cluster ID is derived from the sorted member IDs.
A member added later gets an ID from the member-add request (see
``cluster_members``).

Once a member has bootstrapped, its identity is written to
``<data-dir>/member/identity.json`` and, as in etcd, later starts take it from
there: changing ``--initial-cluster`` on a member with data has no effect.

The cluster secret authenticates peers to each other (the transport's HMAC
handshake) and signs store auth tokens, so every member must have the same
one. A one-member cluster generates it on first start; a larger cluster is
given it with ``--cluster-secret-file`` (``cluster up`` writes one for you).
"""
from __future__ import annotations

import hashlib
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path

from consensus.storage.fsync import sync_dir, sync_file

IDENTITY_FILE = "identity.json"
SECRET_FILE = "cluster-secret"
SECRET_BYTES = 32
# A secret shorter than this is too easy to guess for something that lets a
# process join the cluster's consensus.
MIN_SECRET_BYTES = 16


class IdentityError(Exception):
    """The member's identity or secret cannot be established; the message
    says what to fix."""


def _id_from(*parts: str) -> int:
    digest = hashlib.sha256("\x00".join(parts).encode()).digest()
    value = int.from_bytes(digest[:8], "big")
    return value or 1  # 0 means "no member" in Raft


def initial_member_id(name: str, peer_address: str, cluster_token: str) -> int:
    """The ID of a member listed in ``--initial-cluster``."""
    return _id_from("member", name, peer_address, cluster_token)


def added_member_id(peer_address: str, cluster_token: str, nonce: str) -> int:
    """The ID of a member added to a running cluster. ``nonce`` makes a
    re-added address a new member, as Raft requires (a removed ID never
    comes back)."""
    return _id_from("added-member", peer_address, cluster_token, nonce)


def cluster_id_of(member_ids: list[int], cluster_token: str) -> int:
    return _id_from("cluster", cluster_token, *(str(i) for i in sorted(member_ids)))


@dataclass(frozen=True, slots=True)
class MemberIdentity:
    name: str
    member_id: int
    cluster_id: int

    def save(self, member_dir: Path) -> None:
        """Write atomically (temp file, fsync, rename), so a crash leaves the
        old identity or the new one, never half of one."""
        member_dir.mkdir(parents=True, exist_ok=True)
        target = member_dir / IDENTITY_FILE
        temp = target.with_suffix(".tmp")
        with open(temp, "w") as f:
            json.dump(asdict(self), f)
            f.flush()
            sync_file(f.fileno())
        os.replace(temp, target)
        sync_dir(member_dir)

    @classmethod
    def load(cls, member_dir: Path) -> "MemberIdentity | None":
        path = member_dir / IDENTITY_FILE
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as error:
            raise IdentityError(f"{path} is unreadable ({error}); restore it or wipe the data dir") from None
        try:
            return cls(name=str(data["name"]), member_id=int(data["member_id"]), cluster_id=int(data["cluster_id"]))
        except (KeyError, TypeError, ValueError):
            raise IdentityError(f"{path} does not hold a member identity; restore it or wipe the data dir") from None


def read_secret_file(path: Path) -> bytes:
    """The cluster secret from ``path`` (surrounding whitespace ignored)."""
    try:
        secret = Path(path).read_bytes().strip()
    except OSError as error:
        raise IdentityError(f"--cluster-secret-file: cannot read {path}: {error.strerror}") from None
    if len(secret) < MIN_SECRET_BYTES:
        raise IdentityError(
            f"--cluster-secret-file: {path} holds {len(secret)} bytes; a cluster secret needs at "
            f"least {MIN_SECRET_BYTES} (e.g. python -c 'import secrets; print(secrets.token_hex(32))')"
        )
    return secret


def write_secret_file(path: Path) -> bytes:
    """Create ``path`` with a new random secret, readable by its owner only.
    Refuses to replace an existing file."""
    secret = secrets.token_hex(SECRET_BYTES).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(secret + b"\n")
        f.flush()
        sync_file(f.fileno())
    return secret


def load_or_create_secret(data_dir: Path, secret_file: Path | None, *, may_create: bool) -> bytes:
    """The secret from ``secret_file`` if given; else ``<data-dir>/cluster-secret``,
    created when ``may_create`` (a one-member cluster)."""
    if secret_file is not None:
        return read_secret_file(secret_file)
    own = Path(data_dir) / SECRET_FILE
    if own.exists():
        return read_secret_file(own)
    if not may_create:
        raise IdentityError(
            "--cluster-secret-file: a cluster of several members needs the same secret on every "
            "member; give the file that holds it (manage.py cluster up writes one)"
        )
    return write_secret_file(own)
