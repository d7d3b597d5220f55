"""How the config service's management commands reach a running node's
store: its etcd JSON API at ``--endpoint``, logged in as the store's
``root`` with the password the node wrote to ``<data-dir>/root-password``
(or ``--root-password-file``; nothing with ``--no-store-auth``)."""
from __future__ import annotations

from pathlib import Path

from django.core.management.base import CommandError

from config_center.store.etcd_http import EtcdHttpClient
from consensus.auth.bootstrap import ROOT_PASSWORD_FILE


def add_store_arguments(parser) -> None:
    parser.add_argument("--endpoint", default="http://127.0.0.1:8000", help="the node's client URL")
    parser.add_argument("--data-dir", default="./data", help="the node's data dir (for root-password)")
    parser.add_argument("--root-password-file", help="the store root's password (default: DATA_DIR/root-password)")
    parser.add_argument("--no-store-auth", action="store_true", help="the node runs with --store-auth off")


def _root_password(options) -> str:
    path = Path(options["root_password_file"] or Path(options["data_dir"]) / ROOT_PASSWORD_FILE)
    try:
        return path.read_text().strip()
    except OSError as error:
        raise CommandError(f"cannot read the store root's password from {path} ({error.strerror}); "
                           "pass --root-password-file or --no-store-auth") from None


async def store_client(options) -> EtcdHttpClient:
    if options["no_store_auth"]:
        return EtcdHttpClient(options["endpoint"])
    return await EtcdHttpClient.login(options["endpoint"], "root", _root_password(options))
