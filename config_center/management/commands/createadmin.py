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
from consensus.mvcc.api import StoreError

from ..store_access import add_store_arguments, store_client

ADMIN_GRANT = {"role": "admin", "namespaces": "*"}


class Command(BaseCommand):
    help = "Create a config_center administrator (or reset one's password) on a running node."

    def add_arguments(self, parser):
        add_store_arguments(parser)
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

    async def _apply(self, options, password: str) -> bool:
        ctx = ServiceContext(await store_client(options), passwords=DjangoPasswords())
        actor = Actor("root", "manage.py createadmin")
        name = options["name"]
        existing = await users.get(ctx, name)
        if existing is None:
            await users.create(ctx, actor, name, password, [ADMIN_GRANT])
            return True
        grants = existing["grants"] + ([ADMIN_GRANT] if ADMIN_GRANT not in existing["grants"] else [])
        await users.update(ctx, actor, name, password=password, grants=grants, disabled=False)
        return False
