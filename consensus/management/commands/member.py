"""``manage.py member list|add|remove|promote|move-leader``: cluster membership from a
shell, like ``etcdctl member``. A thin edge over ``consensus.admin.members``;
the client flags (``--endpoints``, ``--user``, ``--password-file``, ...) are
``consensus.admin.options``'s. A bad argument exits with status 2 and
changes nothing; a failed operation exits with status 1.
"""
import os

from django.core.management.base import BaseCommand, CommandError

from consensus.admin import members
from consensus.admin.errors import AdminError
from consensus.admin.options import add_client_arguments, client_from_options


class Command(BaseCommand):
    help = "List, add, remove and promote the members of a running cluster, and move its leadership."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{list,add,remove,promote,move-leader}")
        listing = sub.add_parser("list", help="every member: ID (hex and decimal), name, URLs, learner or not")
        add_client_arguments(listing)
        add = sub.add_parser(
            "add", help="tell the cluster to expect a new member; prints how to start it "
                        "(start a learner, let it catch up, then promote it)",
        )
        add.add_argument("--name", required=True, help="the new member's --name")
        add.add_argument("--peer-url", required=True, metavar="HOST:PORT", help="the address its peers will dial")
        add.add_argument("--learner", action="store_true", help="add it as a learner (no vote until promoted)")
        add.add_argument("--data-dir", default=None, help="its data dir, for the printed command only")
        add.add_argument("--listen-client", default=None, metavar="HOST:PORT",
                         help="its client address, for the printed command only")
        add.add_argument("--cluster-secret-file", default=None, metavar="FILE",
                         help="where the cluster secret is on its host, for the printed command only")
        add.add_argument("--initial-cluster-token", default=None,
                         help="the cluster's --initial-cluster-token, for the printed command only")
        add_client_arguments(add)
        remove = sub.add_parser("remove", help="remove a member (it stops)")
        remove.add_argument("id", metavar="ID", help="the member's ID, hex or decimal")
        add_client_arguments(remove)
        promote = sub.add_parser("promote", help="make a learner a voting member (sent to the leader)")
        promote.add_argument("id", metavar="ID", help="the learner's ID, hex or decimal")
        add_client_arguments(promote)
        move = sub.add_parser("move-leader", help="hand leadership to a voting member (sent to the leader)")
        move.add_argument("id", metavar="ID", help="the new leader's ID, hex or decimal")
        add_client_arguments(move)

    def handle(self, *args, **options):
        try:
            client = client_from_options(options, os.environ)
            action = options["action"]
            if action == "list":
                self.stdout.write(members.member_table(members.list_members(client)))
            elif action == "add":
                added = members.add_member(
                    client, name=options["name"], peer_url=options["peer_url"], learner=options["learner"],
                    data_dir=options["data_dir"], listen_client=options["listen_client"],
                    secret_file=options["cluster_secret_file"], cluster_token=options["initial_cluster_token"],
                )
                self.stdout.write(members.join_instructions(added))
            elif action == "remove":
                removed, after = members.remove_member(client, options["id"])
                self.stdout.write(f"Member {removed.label} removed; the members now:\n")
                self.stdout.write(members.member_table(after))
            elif action == "move-leader":
                leader = members.move_leader(client, options["id"])
                self.stdout.write(f"Leadership handed over to {leader.label}.\n")
            elif action == "promote":
                promoted, after = members.promote_member(client, options["id"])
                self.stdout.write(f"Member {promoted.label} promoted to a voting member; the members now:\n")
                self.stdout.write(members.member_table(after))
        except AdminError as error:
            raise CommandError(str(error), returncode=error.exit_status) from None
