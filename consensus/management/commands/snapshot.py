"""``manage.py snapshot save|status|restore``: backups of the store, like
``etcdctl snapshot save`` and ``etcdutl snapshot status|restore``. A thin
edge over ``consensus.admin.snapshots`` (the file format is described
there). ``save`` needs the client flags (and root's password when store
auth is on); ``status`` and ``restore`` work on files only. A bad argument
exits with status 2 and changes nothing; a failed operation with status 1.
"""
import os
import shlex
import sys

from django.core.management.base import BaseCommand, CommandError

from consensus.admin import snapshots
from consensus.admin.errors import AdminError
from consensus.admin.options import add_client_arguments, client_from_options
from consensus.admin.progress import ProgressBar
from consensus.admin.table import human_bytes
from consensus.node_config import FLAGS

_FLAG_HELP = {flag.dest: flag.help for flag in FLAGS}


class Command(BaseCommand):
    help = "Save a snapshot of a running member's store, inspect one, or restore one into a new cluster's data dir."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="{save,status,restore}")
        save = sub.add_parser("save", help="stream a member's store into FILE (root only), verified and fsynced")
        save.add_argument("file", metavar="FILE")
        add_client_arguments(save)
        self._progress_argument(save)
        status = sub.add_parser("status", help="verify FILE and show its size, revision, keys and hashes")
        status.add_argument("file", metavar="FILE")
        status.add_argument("--skip-hash-check", action="store_true",
                            help="FILE is a bare database (e.g. a copied store.sqlite3), without the SHA-256")
        self._progress_argument(status)
        restore = sub.add_parser(
            "restore", help="build one member's data dir of a NEW cluster from FILE; run it once per member "
                            "with the same --initial-cluster, then start each with runnode and the same flags",
        )
        restore.add_argument("file", metavar="FILE")
        restore.add_argument("--data-dir", required=True, help="the new member's data dir (must be new or empty)")
        for dest in snapshots.RESTORE_FLAGS:
            restore.add_argument(
                "--" + dest.replace("_", "-"), dest=dest, default=None, metavar=dest.upper(),
                help=f"as for runnode (also from CONFIG_CENTER_{dest.upper()}): {_FLAG_HELP[dest]}",
            )
        restore.add_argument("--skip-hash-check", action="store_true",
                             help="FILE is a bare database (e.g. a copied store.sqlite3), without the SHA-256")
        self._progress_argument(restore)

    @staticmethod
    def _progress_argument(parser):
        parser.add_argument("--progress", choices=("auto", "on", "off"), default="auto",
                            help="progress bar on stderr: auto (a terminal and a large file), on, off")

    def handle(self, *args, **options):
        enabled = {"auto": None, "on": True, "off": False}[options["progress"]]

        def progress(total, label):
            return ProgressBar(total, label=label, stream=sys.stderr, enabled=enabled)

        try:
            action = options["action"]
            if action == "save":
                client = client_from_options(options, os.environ)
                info = snapshots.save_snapshot(client, options["file"], progress=progress)
                self.stdout.write(
                    f"Saved {info.path}: {info.file_bytes} bytes ({human_bytes(info.file_bytes)}), revision "
                    f"{info.store.revision}, {info.store.keys} keys, sha256 {info.sha256}, from {client.endpoint}"
                )
            elif action == "status":
                info = snapshots.snapshot_status(options["file"], skip_hash_check=options["skip_hash_check"],
                                                 progress=progress)
                self.stdout.write(self._status_text(info))
            elif action == "restore":
                restored = snapshots.restore_snapshot(
                    options["file"], data_dir=options["data_dir"],
                    flags={dest: options[dest] for dest in snapshots.RESTORE_FLAGS}, environ=os.environ,
                    skip_hash_check=options["skip_hash_check"], progress=progress,
                )
                self.stdout.write(self._restored_text(restored, options))
        except AdminError as error:
            raise CommandError(str(error), returncode=error.exit_status) from None

    @staticmethod
    def _status_text(info) -> str:
        s = info.store
        lines = [
            f"file:             {info.path} ({info.file_bytes} bytes, {human_bytes(info.file_bytes)})",
            f"sha256:           {info.sha256 or '(not checked: --skip-hash-check)'}",
            f"revision:         {s.revision}",
            f"compact revision: {s.compact_revision}",
            f"keys:             {s.keys}",
            f"kv hash:          {s.kv_hash}",
            f"applied index:    {s.applied_index}",
            f"store auth:       {'on' if s.auth_enabled else 'off'}, {s.users} users",
        ]
        return "\n".join(lines)

    @staticmethod
    def _restored_text(restored, options) -> str:
        members = ", ".join(f"{name} ({member_id:x}) at {peer}" for name, member_id, peer in restored.members)
        argv = ["python", "manage.py", "runnode", "--data-dir", str(restored.data_dir), "--name", restored.name]
        for dest in snapshots.RESTORE_FLAGS:
            if dest != "name" and options[dest] is not None:
                argv += ["--" + dest.replace("_", "-"), options[dest]]
        if len(restored.members) > 1:
            argv += ["--cluster-secret-file", "SECRET_FILE"]
        lines = [
            f"Restored revision {restored.store.revision} ({restored.store.keys} keys, kv hash "
            f"{restored.store.kv_hash}) into {restored.data_dir}",
            f"as member {restored.name} ({restored.member_id:x}) of the new cluster {restored.cluster_id:x}: {members}.",
            f"Raft starts from a snapshot at index {restored.snapshot_index}, term 1. Users and passwords are "
            "the snapshot's.",
            "",
            "Start it with the same flags:",
            "",
            "  " + shlex.join(argv),
        ]
        if len(restored.members) > 1:
            lines += ["", "(SECRET_FILE: a new secret every member of the new cluster shares; restore the same "
                          "FILE for each member.)"]
        return "\n".join(lines)
