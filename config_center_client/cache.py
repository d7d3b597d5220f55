"""The local cache: the last good config of each namespace, one file per
namespace, so an application can start when no member is reachable.

A file holds one whole ``NamespaceConfig`` (items, revision, release) as
JSON, and is only ever replaced whole: the new state is written to a
temporary file in the same directory, flushed and fsynced, renamed over the
old file with ``os.replace`` (atomic on POSIX), and the directory is
fsynced so the rename itself survives a power cut. A crash at any point
leaves either the old file or the new one, never a mix; a temporary file
left behind by a crash is ignored, and removed by a later ``save`` of that
namespace once it is a minute old.

Files are created 0600: with a token that may read secret items they hold
secrets in clear. Use one cache directory per cluster and token scope: the
revisions in it are the cluster's.
"""
from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

from .errors import ProtocolError
from .namespace_config import CACHE, NamespaceConfig

logger = logging.getLogger(__name__)

FILE_VERSION = 1
SUFFIX = ".json"
TEMP_SUFFIX = ".tmp"
LEFTOVER_AGE_SECONDS = 60.0


class ConfigCache:
    """Whole namespace configs on disk under ``directory`` (module docstring).

    ``save`` is not safe to call concurrently for the same namespace; the
    client calls it from one task, in order.
    """

    def __init__(self, directory: str | os.PathLike) -> None:
        self.directory = Path(directory)

    def path(self, namespace: str) -> Path:
        # Namespace names contain "/"; quoting keeps them one flat file name.
        return self.directory / (quote(namespace, safe="") + SUFFIX)

    def save(self, config: NamespaceConfig) -> Path:
        """Replace the namespace's file with ``config``, atomically and
        durably (module docstring); the file's path."""
        self.directory.mkdir(parents=True, exist_ok=True)
        target = self.path(config.namespace)
        data = json.dumps({"version": FILE_VERSION, **config.to_json()}, ensure_ascii=False,
                          separators=(",", ":")).encode()
        fd, temp = tempfile.mkstemp(prefix="." + target.name + ".", suffix=TEMP_SUFFIX, dir=self.directory)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, target)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        _fsync_directory(self.directory)
        self._remove_leftovers(target)
        return target

    def load(self, namespace: str) -> NamespaceConfig | None:
        """The cached config of ``namespace`` (``source`` "cache"), or None
        when there is none or it cannot be read (logged: the cache is an
        optimisation, never a reason to fail)."""
        path = self.path(namespace)
        try:
            body = json.loads(path.read_bytes())
            if not isinstance(body, dict) or body.get("version") != FILE_VERSION:
                raise ProtocolError(f"not a version {FILE_VERSION} cache file")
            config = NamespaceConfig.from_json(body, source=CACHE)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, ProtocolError) as error:
            logger.warning("config_center_client: ignoring unreadable cache file %s: %s", path, error)
            return None
        if config.namespace != namespace:
            logger.warning("config_center_client: cache file %s holds namespace %r, not %r; ignoring it",
                           path, config.namespace, namespace)
            return None
        return config

    def _remove_leftovers(self, target: Path) -> None:
        """Temporary files of ``target`` that a crashed ``save`` left. Only
        old ones: a young one may be another process's save in progress
        (two applications sharing a cache directory)."""
        now = time.time()
        for stray in self.directory.glob("." + target.name + ".*" + TEMP_SUFFIX):
            try:
                if now - stray.stat().st_mtime > LEFTOVER_AGE_SECONDS:
                    stray.unlink()
            except OSError:
                pass


def _fsync_directory(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # platforms without directory fds (Windows): the rename is all we can do
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
