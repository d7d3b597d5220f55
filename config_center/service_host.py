"""The config service inside a node process.

- ``configure_secret_key``: Django's SECRET_KEY (it signs session cookies
  and CSRF tokens) is derived from the cluster secret, so every member of a
  cluster has the same one, nothing secret is committed, and a new cluster
  gets a new key. ``CONFIG_CENTER_SECRET_KEY`` overrides it.
- ``serve_config_service``: a node task. Once the local store member runs
  it binds a ``ConfigService`` to the node's loop and, on a cluster with no
  users yet, creates ``admin`` with a random password that is printed once
  and written to ``<data-dir>/admin-password`` (0600); then it writes this
  member's delivery tracking to the store until it is cancelled.
- ``call``: how synchronous Django and DRF views (run in a worker thread
  under ASGI) run a service call on the node's loop and wait for it.
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Awaitable, Callable

from config_center.service.config_service import ConfigService
from config_center.service.context import ServiceContext
from config_center.service.live_reads import LiveReader
from config_center.service import users
from config_center.service.secret_box import SecretBox
from config_center.store.client import LocalStoreClient, run_on_loop
from consensus.storage.fsync import sync_dir, sync_file

logger = logging.getLogger(__name__)

ADMIN_PASSWORD_FILE = "admin-password"

_bound: tuple[ConfigService, asyncio.AbstractEventLoop] | None = None
_live_reader: LiveReader | None = None


class DjangoPasswords:
    """Django's configured password hashers (PBKDF2 by default)."""

    def make(self, password: str) -> str:
        from django.contrib.auth.hashers import make_password

        return make_password(password)

    def check(self, password: str, encoded: str) -> bool:
        from django.contrib.auth.hashers import check_password

        return check_password(password, encoded)


def derived_secret_key(cluster_secret: bytes) -> str:
    return hmac.new(cluster_secret, b"config_center django SECRET_KEY", hashlib.sha256).hexdigest()


def configure_secret_key(cluster_secret: bytes) -> None:
    from django.conf import settings

    if not os.environ.get("CONFIG_CENTER_SECRET_KEY"):
        settings.SECRET_KEY = derived_secret_key(cluster_secret)


def bind(service: ConfigService, loop: asyncio.AbstractEventLoop) -> None:
    """Make ``service`` (whose store runs on ``loop``) the one views use."""
    global _bound, _live_reader
    _bound = (service, loop)
    _live_reader = LiveReader(service.ctx, service.token_principals)


def unbind() -> None:
    global _bound, _live_reader
    _bound = None
    _live_reader = None


def bound_service() -> ConfigService | None:
    """The service, for code running on its loop (None while not running)."""
    return _bound[0] if _bound is not None else None


def live_reader() -> LiveReader | None:
    """The hot-path reader of live config (``service.live_reads``), for code
    running on the service's loop; None while the service is not running."""
    return _live_reader


class ServiceUnavailableError(RuntimeError):
    """The node's config service is not running (yet)."""


def call(make: Callable[[ConfigService], Awaitable[Any]]) -> Any:
    """Run ``make(service)`` on the service's loop from a worker thread and
    return its result."""
    if _bound is None:
        raise ServiceUnavailableError("the config service is not running on this node")
    service, loop = _bound
    return run_on_loop(loop, lambda: make(service))


def new_service(secrets: SecretBox | None = None) -> ConfigService:
    return ConfigService(ServiceContext(LocalStoreClient(), passwords=DjangoPasswords(), secrets=secrets))


async def serve_config_service(*, data_dir: str | os.PathLike, cluster_secret: bytes,
                               retry_interval: float = 0.5) -> None:
    """Node task: bind the service (secret items sealed with a key derived
    from the cluster secret), then make sure a first administrator exists
    (module docstring); then track deliveries until cancelled."""
    service = new_service(SecretBox.from_cluster_secret(cluster_secret))
    bind(service, asyncio.get_running_loop())
    try:
        while True:
            try:
                password = await users.bootstrap_admin(service.ctx)
            except Exception as error:  # no member or no leader yet, a timeout: try again
                if asyncio.current_task().cancelling():
                    raise asyncio.CancelledError() from error
                logger.debug("admin bootstrap not done yet: %s", error)
                await asyncio.sleep(retry_interval)
                continue
            if password is not None:
                path = write_admin_password_file(data_dir, password)
                logger.warning(
                    "config_center: created user admin with password %s (also written to %s); "
                    "this is the only time it is shown", password, path,
                )
            break
        await service.delivery.run()
    finally:
        unbind()
        service.access_watch.stop()
        await _write_login_failures(service)
        await _forget_deliveries(service)


async def _write_login_failures(service: ConfigService) -> None:
    """At shutdown, the audit summary of the failed logins of the interval
    so far (``users.LoginFailureLog``; best effort, as below)."""
    try:
        await asyncio.wait_for(service.login_failures.flush(), 2.0)
    except (Exception, asyncio.CancelledError) as error:
        logger.warning("failed logins of the last interval not audited: %s", error)


async def _forget_deliveries(service: ConfigService) -> None:
    """At shutdown, take this member's connections out of delivery tracking
    at once rather than let them go stale (best effort: the store may be
    stopping too)."""
    try:
        await asyncio.wait_for(service.delivery.forget(), 2.0)
    except (Exception, asyncio.CancelledError) as error:
        logger.debug("delivery records left to go stale: %s", error)


def write_admin_password_file(data_dir: str | os.PathLike, password: str) -> Path:
    """``<data_dir>/admin-password``, 0600, written atomically."""
    directory = Path(data_dir)
    target = directory / ADMIN_PASSWORD_FILE
    fd, tmp = tempfile.mkstemp(prefix=f".{ADMIN_PASSWORD_FILE}.", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(password + "\n")
            out.flush()
            sync_file(out.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    sync_dir(directory)
    return target
