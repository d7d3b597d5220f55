"""``manage.py status``: the cluster at a glance (``consensus.admin.status``):
one line per member with its role, term, commit and applied index, lag, DB
size and reachability. Exits 0 when the cluster has a leader, 1 when it has
none (or no endpoint answers), 2 for a bad argument.
"""
import os

from django.core.management.base import BaseCommand, CommandError

from consensus.admin import status
from consensus.admin.errors import EXIT_FAILED, AdminError
from consensus.admin.options import add_client_arguments, client_from_options


class Command(BaseCommand):
    help = "Show every member's role, term, indexes, lag and DB size; exit status 1 if there is no leader."

    def add_arguments(self, parser):
        add_client_arguments(parser)

    def handle(self, *args, **options):
        try:
            client = client_from_options(options, os.environ)
            seen = status.cluster_status(client)
        except AdminError as error:
            raise CommandError(str(error), returncode=error.exit_status) from None
        self.stdout.write(status.status_report(seen))
        if not seen.has_leader:
            raise CommandError(
                f"no leader: the cluster, as {seen.endpoint} sees it, cannot serve writes or linearizable reads "
                "(a majority of its voting members is down or cut off)",
                returncode=EXIT_FAILED,
            )
