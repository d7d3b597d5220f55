"""``manage.py runnode``: start one config_center node (the HTTP server + the node's tasks).

A thin edge: parse the etcd-style flags into a :class:`NodeConfig`, create the
data directory, and hand over to :func:`consensus.runtime_host.run`. A bad flag
(or environment variable) is reported on stderr and the command exits with
status 2 before anything listens.
"""

import functools
import logging
import os
import sys

from django.core.management.base import BaseCommand, CommandError

from consensus import member, node, runtime_host
from consensus.cluster import discovery, setup
from consensus.member_identity import IdentityError
from consensus.mvcc.api import Limits
from consensus.node_config import FLAGS, NodeConfigError, parse_node_config
from consensus.storage.errors import StorageError

EXIT_USAGE = 2
EXIT_STORAGE = 1


class Command(BaseCommand):
    help = (
        "Run a config_center node: the API, websockets and console on --listen-client, "
        "and the replicated store's member on --listen-peer. Every flag can also be set "
        "with an environment variable, e.g. CONFIG_CENTER_DATA_DIR for --data-dir."
    )

    def add_arguments(self, parser):
        for flag in FLAGS:
            default = "" if flag.default is None else f" Default: {flag.default}."
            parser.add_argument(
                flag.option,
                *flag.aliases,
                dest=flag.dest,
                default=None,
                metavar=flag.dest.upper(),
                help=f"{flag.help} Env: {flag.env}.{default}",
            )

    def handle(self, *args, **options):
        values = {flag.dest: options[flag.dest] for flag in FLAGS}
        try:
            config = parse_node_config(values, os.environ)
            runtime_host.prepare_data_dir(config)
        except NodeConfigError as error:
            raise CommandError(str(error), returncode=EXIT_USAGE) from None

        try:
            storage = node.open_member_storage(
                config.data_dir, catch_up_entries=config.snapshot_catchup_entries
            )
        except StorageError as error:
            # e.g. another node holds the data dir, or the WAL is corrupt.
            raise CommandError(str(error), returncode=EXIT_STORAGE) from None
        runtime_host.raise_open_file_limit()
        loop = runtime_host.event_loop()
        try:
            resolved = loop.run_until_complete(
                setup.resolve_member(config, node.member_dir(config.data_dir), discover=discovery.discover_member)
            )
        except IdentityError as error:
            storage.close()
            raise CommandError(str(error), returncode=EXIT_USAGE) from None
        if not config.store_auth:
            logging.getLogger("consensus").warning(
                "--store-auth=off: the store API on %s is open to anyone who can reach it, "
                "including config_center's own records; use this for local experiments only",
                config.listen_client,
            )

        from config_center import service_host
        from config_center.asgi import application

        service_host.configure_secret_key(resolved.setup.secret)

        limits = Limits(max_request_bytes=config.max_request_bytes, max_txn_ops=config.max_txn_ops,
                        quota_backend_bytes=config.quota_backend_bytes)
        # Coroutine factories run beside the HTTP server on the same loop until shutdown.
        node_tasks: list[runtime_host.TaskFactory] = [
            functools.partial(
                member.serve_member, storage, data_dir=config.data_dir,
                node_id=resolved.identity.member_id, peers=resolved.bootstrap_voters,
                heartbeat_ms=config.heartbeat_ms, election_ms=config.election_ms,
                snapshot_count=config.snapshot_count, cluster=resolved.setup, store_auth=config.store_auth,
                limits=limits, auto_compaction=config.auto_compaction,
            ),
            # The config service on this member's store (and the first admin of a new cluster).
            functools.partial(service_host.serve_config_service, data_dir=config.data_dir,
                              cluster_secret=resolved.setup.secret),
        ]

        if config.listen_grpc is not None:
            from consensus.gateway_binding import serve_local_grpc

            node_tasks.append(functools.partial(serve_local_grpc, config.listen_grpc.host, config.listen_grpc.port,
                                                limits=limits))

        # A leader stopping on a signal hands leadership over first, so the
        # others do not wait out an election timeout.
        status = runtime_host.run(config, application=application, extra_tasks=node_tasks,
                                  before_stop=[member.hand_over_leadership])
        if status != runtime_host.EXIT_OK:
            sys.exit(status)
