"""``manage.py verifyaudit``: recompute the audit log's hash chains of a
running node and say whether each is intact (exit status 1 if any is not,
naming the entry). Every chain by default, or ``--chain`` (a namespace, or
``_global``). Reaches the store as ``createadmin`` does (``store_access``)."""
from __future__ import annotations

import asyncio

from django.core.management.base import BaseCommand, CommandError

from config_center.service import audit
from config_center.service.context import ServiceContext
from config_center.store import keys, records
from consensus.mvcc.api import StoreError

from ..store_access import add_store_arguments, store_client


class Command(BaseCommand):
    help = "Verify the hash chains of config_center's audit log on a running node."

    def add_arguments(self, parser):
        add_store_arguments(parser)
        parser.add_argument("--chain", action="append", help="a chain to verify (repeatable; default: all)")

    def handle(self, *args, **options):
        try:
            results = asyncio.run(self._verify(options))
        except (OSError, StoreError) as error:
            raise CommandError(f"{options['endpoint']}: {error}") from None
        broken = 0
        for result in results:
            if result.ok:
                self.stdout.write(f"ok      {result.chain} ({result.entries} entries)")
            else:
                broken += 1
                self.stdout.write(f"BROKEN  {result.chain} ({result.entries} entries)")
                for problem in result.problems:
                    self.stdout.write(f"        {problem}")
        if broken:
            raise CommandError(f"{broken} of {len(results)} audit chain(s) failed verification")

    async def _verify(self, options) -> list[audit.Verification]:
        ctx = ServiceContext(await store_client(options))
        chains = options["chain"]
        if not chains:
            heads, _ = await records.scan(ctx.client, keys.HEADS, keys_only=True)
            chains = sorted(keys.name_after(keys.HEADS, kv.key) for kv in heads)
        return [await audit.verify(ctx, chain) for chain in chains]
