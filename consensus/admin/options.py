"""The client flags every admin command shares, and how they become a
``GatewayClient``.

- ``--endpoints HOST:PORT[,HOST:PORT...]`` (env ``CONFIG_CENTER_ENDPOINTS``,
  default ``127.0.0.1:8000``): the nodes' client addresses, tried in order;
- ``--user NAME`` (default ``root``) and its password from, in this order:
  ``--password-file FILE`` (the first line; root's first password is in the
  first leader's ``<data-dir>/root-password``), ``--password PASSWORD``
  (visible to every user of the machine in ``ps`` and kept in shell
  history: prefer the others), the environment variable
  ``CONFIG_CENTER_PASSWORD``. No password at all is fine for a cluster
  with ``--store-auth off``; naming ``--user`` without one is refused;
- ``--timeout SECONDS`` (default 5): connecting and each wait for an answer.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

from .client import DEFAULT_ENDPOINT, DEFAULT_TIMEOUT, Credentials, GatewayClient, parse_endpoints
from .errors import UsageError

ENDPOINTS_ENV = "CONFIG_CENTER_ENDPOINTS"
PASSWORD_ENV = "CONFIG_CENTER_PASSWORD"
DEFAULT_USER = "root"


def add_client_arguments(parser: Any) -> None:
    """Add the shared flags to an argparse parser (module docstring)."""
    parser.add_argument(
        "--endpoints", default=None, metavar="HOST:PORT[,...]",
        help=f"client addresses of the cluster's nodes, tried in order. Env: {ENDPOINTS_ENV}. "
             f"Default: {DEFAULT_ENDPOINT}.",
    )
    parser.add_argument("--user", default=None, help=f"store user. Default: {DEFAULT_USER}.")
    parser.add_argument(
        "--password-file", default=None, metavar="FILE",
        help="file whose first line is the user's password (root's first password is in the first "
             "leader's <data-dir>/root-password).",
    )
    parser.add_argument(
        "--password", default=None,
        help=f"the password itself. Visible to other users in ps and kept in shell history: prefer "
             f"--password-file or the {PASSWORD_ENV} environment variable.",
    )
    parser.add_argument(
        "--timeout", default=None, metavar="SECONDS",
        help=f"seconds to wait for a connection and for each answer. Default: {DEFAULT_TIMEOUT:g}.",
    )


def read_credentials(*, user: str | None, password: str | None, password_file: str | None,
                     environ: Mapping[str, str]) -> Credentials | None:
    """The credentials the flags and environment give; ``None`` for
    anonymous requests. ``UsageError`` for a flag that cannot be used."""
    if user is not None and not user.strip():
        raise UsageError("--user", "is empty; give a user name (default: root)")
    if password is not None and password_file is not None:
        raise UsageError("--password", "give either --password or --password-file, not both")
    secret: str | None = None
    if password_file is not None:
        path = Path(password_file)
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise UsageError("--password-file", f"cannot read {path}: {reason}") from None
        secret = text.splitlines()[0] if text else ""
        if not secret:
            raise UsageError("--password-file", f"{path} holds no password on its first line")
    elif password is not None:
        if not password:
            raise UsageError("--password", "is empty")
        secret = password
    elif environ.get(PASSWORD_ENV):
        secret = environ[PASSWORD_ENV]
    if secret is None:
        if user is not None:
            raise UsageError(
                "--user", f"user {user!r} needs a password: --password-file FILE or {PASSWORD_ENV} "
                          "(or --password, visible in ps)",
            )
        return None
    return Credentials(user or DEFAULT_USER, secret)


def parse_timeout(text: str | None) -> float:
    if text is None:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise UsageError("--timeout", f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise UsageError("--timeout", f"{text!r} must be a positive number of seconds")
    return value


def client_from_options(options: Mapping[str, Any], environ: Mapping[str, str]) -> GatewayClient:
    """The client the shared flags (``options``, argparse's ``dest`` names)
    and the environment describe. Checks everything before any request."""
    endpoints_text = options.get("endpoints")
    argument = "--endpoints"
    if endpoints_text is None and environ.get(ENDPOINTS_ENV):
        endpoints_text, argument = environ[ENDPOINTS_ENV], f"--endpoints (set by {ENDPOINTS_ENV})"
    endpoints = parse_endpoints(endpoints_text if endpoints_text is not None else DEFAULT_ENDPOINT, argument)
    credentials = read_credentials(
        user=options.get("user"), password=options.get("password"), password_file=options.get("password_file"),
        environ=environ,
    )
    return GatewayClient(endpoints, credentials=credentials, timeout=parse_timeout(options.get("timeout")))
