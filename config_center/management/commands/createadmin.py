"""``manage.py createadmin``: make (or reset) a config_center administrator
on a running node, for scripted setups.

It runs the config service in this process against the node's store API
(``EtcdHttpClient``), logged in as the store's ``root`` with the password
the node wrote to ``<data-dir>/root-password`` (or ``--root-password-file``;
nothing is needed with ``--store-auth off``). The user gets ``admin`` on
``*``; an existing user keeps their other grants and gets the new password.
The password comes from ``--password-file`` or ``CONFIG_CENTER_ADMIN_PASSWORD``,
or is generated and printed once. The change is audited like any other.
"""
from __future__ import annotations

import asyncio
import os
import secrets
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from config_center.service import users
from config_center.service.context import Actor, ServiceContext
from config_center.service.errors import ServiceError
from config_center.service_host import DjangoPasswords
from config_center.store.etcd_http import EtcdHttpClient
from consensus.auth.bootstrap import ROOT_PASSWORD_FILE
from consensus.mvcc.api import StoreError

ADMIN_GRANT = {"role": "admin", "namespaces": "*"}


class Command(BaseCommand):
    help = "Create a config_center administrator (or reset one's password) on a running node."

    def add_arguments(self, parser):
        parser.add_argument("--endpoint", default="http://127.0.0.1:8000", help="the node's client URL")
        parser.add_argument("--data-dir", default="./data", help="the node's data dir (for root-password)")
        parser.add_argument("--root-password-file", help="the store root's password (default: DATA_DIR/root-password)")
        parser.add_argument("--no-store-auth", action="store_true", help="the node runs with --store-auth off")
        parser.add_argument("--name", default="admin", help="the administrator's user name (default admin)")
        parser.add_argument("--password-file", help="a file holding the new password (default: "
                            "CONFIG_CENTER_ADMIN_PASSWORD, else a random one, printed)")

    def handle(self, *args, **options):
        password, generated = self._password(options)
        try:
            users.check_name(options["name"])
            users.check_password(password)
        except ServiceError as error:
            raise CommandError(error.message) from None
        try:
            created = asyncio.run(self._apply(options, password))
        except ServiceError as error:
            raise CommandError(f"{options['endpoint']}: {error.message}") from None
        except (OSError, StoreError) as error:
            raise CommandError(f"{options['endpoint']}: {error}") from None
        verb = "created" if created else "updated"
        self.stdout.write(f"{verb} administrator {options['name']!r}")
        if generated:
            self.stdout.write(f"password: {password}")

    def _password(self, options) -> tuple[str, bool]:
        if options["password_file"]:
            try:
                return Path(options["password_file"]).read_text().strip(), False
            except OSError as error:
                raise CommandError(f"--password-file: {error.strerror}: {options['password_file']}") from None
        if os.environ.get("CONFIG_CENTER_ADMIN_PASSWORD"):
            return os.environ["CONFIG_CENTER_ADMIN_PASSWORD"], False
        return secrets.token_urlsafe(18), True

    def _root_password(self, options) -> str:
        path = Path(options["root_password_file"] or Path(options["data_dir"]) / ROOT_PASSWORD_FILE)
        try:
            return path.read_text().strip()
        except OSError as error:
            raise CommandError(f"cannot read the store root's password from {path} ({error.strerror}); "
                               "pass --root-password-file or --no-store-auth") from None

    async def _apply(self, options, password: str) -> bool:
        endpoint = options["endpoint"]
        if options["no_store_auth"]:
            client = EtcdHttpClient(endpoint)
        else:
            client = await EtcdHttpClient.login(endpoint, "root", self._root_password(options))
        ctx = ServiceContext(client, passwords=DjangoPasswords())
        actor = Actor("root", "manage.py createadmin")
        name = options["name"]
        existing = await users.get(ctx, name)
        if existing is None:
            await users.create(ctx, actor, name, password, [ADMIN_GRANT])
            return True
        grants = existing["grants"] + ([ADMIN_GRANT] if ADMIN_GRANT not in existing["grants"] else [])
        await users.update(ctx, actor, name, password=password, grants=grants, disabled=False)
        return False
