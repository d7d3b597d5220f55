"""The first root user of a new cluster.

With ``--store-auth=on`` a new cluster must not start open: the leader
proposes one ``BootstrapRoot`` command that creates user ``root`` with a
random password, role ``root``, and enables auth. The command applies only
to an auth state nothing was ever applied to, so proposing it again — a
later leader, a restart, two members racing — changes nothing, and only the
caller whose proposal created root learns the password.

Wiring (node code): whenever this member becomes leader with store auth on,
``password = await bootstrap_root(service)``; if it is not ``None``, print
it once and ``write_root_password_file(data_dir, password)``. On an
initialized cluster the call costs one ReadIndex and proposes nothing.
"""
from __future__ import annotations

import os
import secrets
import tempfile
from pathlib import Path

from consensus.storage.fsync import sync_dir, sync_file

from .service import AuthService

ROOT_PASSWORD_FILE = "root-password"
# 32 bytes of randomness, 43 URL-safe characters.
PASSWORD_BYTES = 32


async def bootstrap_root(service: AuthService, *, password: str | None = None) -> str | None:
    """Create root and enable auth if the auth state was never initialized;
    the password (``password``, or a fresh random one) if *this* call
    created root, else ``None``. Raises what proposing raises (not leader,
    timeout): call again later."""
    state = await service.state()
    if not state.pristine:
        return None
    password = secrets.token_urlsafe(PASSWORD_BYTES) if password is None else password
    password_hash = await service.hasher.hash(password)
    return password if await service.bootstrap_root(password_hash) else None


def write_root_password_file(data_dir: str | os.PathLike, password: str) -> Path:
    """Write ``password`` to ``<data_dir>/root-password``, readable by the
    owner only (0600), atomically: a temporary file in the same directory,
    created 0600, written and fsynced, then renamed over the target and the
    directory fsynced. Returns the path."""
    directory = Path(data_dir)
    target = directory / ROOT_PASSWORD_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{ROOT_PASSWORD_FILE}.", dir=directory)  # mode 0600
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            fd = -1
            out.write(password + "\n")
            out.flush()
            sync_file(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    sync_dir(directory)
    return target
