"""Snapshot files: save one from a running member, look inside one, and
build a new cluster's data dir from one.

The snapshot file
-----------------
Exactly the bytes ``/v3/maintenance/snapshot`` streams, back to back: the
store's database — a SQLite file as ``StoreStateMachine.snapshot()`` makes
it: the KV history, leases, users, roles and the auth switch, the applied
Raft index — followed by the 32-byte SHA-256 of that database. This is the
layout of etcd's snapshot files (database, then its SHA-256), only the
database is SQLite, not bbolt. A SQLite file is a whole number of 512-byte
pages, so a file whose size is 32 more than a multiple of 512 carries the
hash; a database copied straight out of a data dir
(``<data-dir>/member/store.sqlite3``, with the node stopped) has none and is
restored with ``skip_hash_check``.

Saving (``save_snapshot``) streams into ``FILE.part`` (mode 0600: the file
holds every value and the users' password hashes), checks the countdown of
every chunk and the SHA-256, checks the database opens as a store, fsyncs,
then renames the part over ``FILE`` and fsyncs the directory: ``FILE`` is
either the old file or a complete, verified snapshot.

Restoring (``restore_snapshot``) is ``etcdutl snapshot restore``: it makes
the data dir of one member of a NEW cluster — run it once per member, with
the same file and the same ``--initial-cluster`` and token — and changes
nothing else:

- the store database from the snapshot, its applied index unchanged (at
  least 1);
- a Raft snapshot at that index, term 1, whose configuration is the new
  member set: every member of ``--initial-cluster`` a voter, with the IDs
  ``resolve_member`` gives a new cluster (name, peer address, token);
- a hard state (term 1, no vote, commit = that index), so the log starts
  committed there and the first election is for term 2;
- the member identity (``member/identity.json``), so ``runnode --data-dir
  D`` with the same flags starts as that member of that cluster at once.

Keys, revisions, the KV hash, leases, users, roles and passwords are those
of the snapshot. The old cluster's member records stay in the store
(under the system prefix) but describe IDs outside the new configuration,
which membership ignores; the new members write their own records when
they start (one revision each). Leases are granted afresh: their TTLs
start again when the new cluster elects its first leader.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Mapping

from consensus.cluster.members import normalize_peer_url
from consensus.member import STORE_FILE
from consensus.member_identity import MemberIdentity, cluster_id_of, initial_member_id
from consensus.mvcc.api import RangeRequest
from consensus.mvcc.backend import BackendError
from consensus.mvcc.state_machine import StoreStateMachine
from consensus.node import member_dir
from consensus.node_config import FLAGS, NodeConfigError, parse_node_config
from consensus.raft.messages import ConfState, HardState, Snapshot, SnapshotMetadata
from consensus.storage.durable import DurableStorage
from consensus.storage.fsync import sync_dir, sync_file

from .client import GatewayClient
from .errors import AdminError, UsageError
from .progress import ProgressBar

SNAPSHOT_PATH = "/v3/maintenance/snapshot"
HASH_BYTES = hashlib.sha256().digest_size
SQLITE_PAGE_MULTIPLE = 512
# The first term of a restored cluster (etcdutl's too).
RESTORED_TERM = 1
# How long a member may take to copy its database before the first chunk.
STREAM_TIMEOUT = 120.0
READ_BLOCK = 1024 * 1024

# The runnode flags a restore takes: those that decide who the members are.
RESTORE_FLAGS = ("name", "listen_client", "listen_peer", "advertise_peer", "initial_cluster", "initial_cluster_token")

ProgressFactory = Callable[[int | None, str], ProgressBar]


def _default_progress(total: int | None, label: str) -> ProgressBar:
    return ProgressBar(total, label=label)


@dataclass(frozen=True)
class StoreSummary:
    """What a store database holds, read from a private copy of it."""

    db_bytes: int
    revision: int
    compact_revision: int
    applied_index: int
    keys: int
    kv_hash: int
    auth_enabled: bool
    users: int


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot file and what is in it. ``sha256`` is the hex digest of the
    database (``None`` for a bare database file)."""

    path: Path
    file_bytes: int
    sha256: str | None
    store: StoreSummary


@dataclass(frozen=True)
class RestoredMember:
    """What ``restore_snapshot`` wrote: ``members`` are ``(name, id, peer
    address)`` of the new cluster, in ``--initial-cluster`` order."""

    data_dir: Path
    name: str
    member_id: int
    cluster_id: int
    members: tuple[tuple[str, int, str], ...]
    snapshot_index: int
    store: StoreSummary


# -- reading a database ----------------------------------------------------------------


def summarize_database(db: bytes, argument: str = "FILE") -> StoreSummary:
    """Open a private copy of the store database ``db`` and read what it
    holds; ``UsageError`` naming ``argument`` if it is not a store database."""
    with tempfile.TemporaryDirectory(prefix="config-center-snapshot-") as tmp:
        machine = StoreStateMachine.open(Path(tmp) / STORE_FILE)
        try:
            try:
                machine.restore(db)
            except BackendError as error:
                raise UsageError(argument, f"does not hold a config_center store database ({error})") from None
            return _summary(machine, len(db))
        finally:
            machine.close()


def _summary(machine: StoreStateMachine, db_bytes: int) -> StoreSummary:
    keys = machine.range(RangeRequest(key=b"\0", range_end=b"\0", count_only=True, serializable=True)).count
    state = machine.auth_state
    return StoreSummary(
        db_bytes=db_bytes, revision=machine.revision, compact_revision=machine.compact_revision,
        applied_index=machine.applied_index, keys=keys, kv_hash=machine.hash_kv(0).hash,
        auth_enabled=state.enabled, users=len(state.users),
    )


def read_snapshot_file(path: str | os.PathLike, *, skip_hash_check: bool = False,
                       progress: ProgressFactory = _default_progress) -> tuple[bytes, str | None]:
    """``(database, sha256 hex or None)`` from a snapshot file, its SHA-256
    verified (module docstring). ``UsageError`` (argument ``FILE``) for a
    file that is missing, unreadable, too short or damaged."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise UsageError("FILE", f"{path} is a directory, not a snapshot file")
        chunks = []
        with open(path, "rb") as f, progress(size, f"reading {path.name}") as bar:
            while block := f.read(READ_BLOCK):
                chunks.append(block)
                bar.update(len(block))
    except FileNotFoundError:
        raise UsageError("FILE", f"{path} does not exist") from None
    except OSError as error:
        raise UsageError("FILE", f"cannot read {path}: {error.strerror or error}") from None
    data = b"".join(chunks)
    has_hash = len(data) % SQLITE_PAGE_MULTIPLE == HASH_BYTES
    if skip_hash_check:
        return (data[:-HASH_BYTES] if has_hash else data), None
    if len(data) <= HASH_BYTES or not has_hash:
        raise UsageError(
            "FILE", f"{path} ({len(data)} bytes) does not end with a SHA-256 after a whole database, as a file "
                    "from 'snapshot save' does; it is cut short or not a snapshot (a database copied from a "
                    "data dir has no hash: add --skip-hash-check)",
        )
    db, expected = data[:-HASH_BYTES], data[-HASH_BYTES:]
    actual = hashlib.sha256(db).digest()
    if actual != expected:
        raise UsageError(
            "FILE", f"{path} is damaged: the SHA-256 of its database is {actual.hex()}, the file says "
                    f"{expected.hex()}; use another copy of the snapshot",
        )
    return db, actual.hex()


def snapshot_status(path: str | os.PathLike, *, skip_hash_check: bool = False,
                    progress: ProgressFactory = _default_progress) -> SnapshotInfo:
    """Verify a snapshot file and summarize the store in it."""
    db, digest = read_snapshot_file(path, skip_hash_check=skip_hash_check, progress=progress)
    return SnapshotInfo(Path(path), Path(path).stat().st_size, digest, summarize_database(db))


# -- saving ------------------------------------------------------------------------------


def _check_target(path: Path) -> None:
    if path.is_dir():
        raise UsageError("FILE", f"{path} is a directory; give the path of the file to write")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise UsageError("FILE", f"the directory {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise UsageError("FILE", f"cannot write in {parent}")


def _fsync_dir(directory: Path) -> None:
    sync_dir(directory)


def save_snapshot(client: GatewayClient, path: str | os.PathLike, *,
                  progress: ProgressFactory = _default_progress) -> SnapshotInfo:
    """Stream the store of the first endpoint that answers into ``path``
    (module docstring); the saved file's summary. Needs root. On any failure
    ``path`` is left as it was and the part file is removed."""
    path = Path(path)
    _check_target(path)
    part = path.with_name(path.name + ".part")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    except OSError as error:
        raise UsageError("FILE", f"cannot create {part}: {error.strerror or error}") from None
    ok = False
    try:
        os.fchmod(fd, 0o600)  # an older part file may have other permissions
        with os.fdopen(fd, "wb") as out:
            db_bytes, digest = _receive(client, out, progress)
            out.flush()
            sync_file(out.fileno())
        with open(part, "rb") as f:
            db = f.read(db_bytes)
        try:
            summary = summarize_database(db)
        except UsageError as error:
            raise AdminError(f"{client.endpoint} sent a snapshot that is not a store database: {error.reason}") from None
        os.replace(part, path)
        _fsync_dir(path.parent if str(path.parent) else Path("."))
        ok = True
        return SnapshotInfo(path, db_bytes + HASH_BYTES, digest, summary)
    except OSError as error:
        raise AdminError(f"writing {part} failed ({error}); {path} was left as it was") from None
    finally:
        if not ok:
            part.unlink(missing_ok=True)


def _receive(client: GatewayClient, out, progress: ProgressFactory) -> tuple[int, str]:
    """Write the stream's database and hash to ``out``; ``(database bytes,
    sha256 hex)`` once both are in and agree."""
    digest = hashlib.sha256()
    total: int | None = None
    received = 0
    trailer: bytes | None = None
    bar: ProgressBar | None = None
    source = client.endpoint
    try:
        for number, item in enumerate(client.stream(SNAPSHOT_PATH, {}, timeout=max(client.timeout, STREAM_TIMEOUT)), 1):
            source = client.endpoint
            result = item.get("result") if isinstance(item, dict) else None
            if not isinstance(result, dict):
                raise AdminError(f"{source}: line {number} of the snapshot stream has no result: {str(item)[:120]}")
            try:
                blob = base64.b64decode(result.get("blob", ""), validate=True)
                remaining = int(result.get("remaining_bytes", 0))
            except (binascii.Error, ValueError, TypeError):
                raise AdminError(f"{source}: line {number} of the snapshot stream is malformed") from None
            if trailer is not None:
                raise AdminError(f"{source}: the snapshot stream goes on after its SHA-256 (line {number})")
            if total is None:
                total = remaining + len(blob)
                bar = progress(total, "snapshot")
            if received < total:
                received += len(blob)
                if received + remaining != total or received > total:
                    raise AdminError(
                        f"{source}: the snapshot stream's countdown is wrong at line {number} "
                        f"({received} bytes received, {remaining} announced to come, {total} in all)"
                    )
                digest.update(blob)
                out.write(blob)
                bar.update(len(blob))
            else:
                if len(blob) != HASH_BYTES or remaining:
                    raise AdminError(f"{source}: line {number} of the snapshot stream should be its SHA-256")
                trailer = blob
                out.write(blob)
    finally:
        if bar is not None:
            bar.close()
    if total is None or trailer is None:
        raise AdminError(f"{source}: the snapshot stream ended before its SHA-256; the snapshot is incomplete")
    if digest.digest() != trailer:
        raise AdminError(
            f"{source}: the snapshot's SHA-256 is {digest.hexdigest()} but the stream says {trailer.hex()}; "
            "the data was damaged on the way: try again"
        )
    return total, trailer.hex()


# -- restoring ---------------------------------------------------------------------------


def _restore_config(values: Mapping[str, str | None], data_dir: Path, environ: Mapping[str, str]):
    unknown = set(values) - set(RESTORE_FLAGS)
    if unknown:
        raise ValueError(f"not restore flags: {sorted(unknown)}")
    wanted = {flag.env for flag in FLAGS if flag.dest in RESTORE_FLAGS}
    env = {name: value for name, value in environ.items() if name in wanted}
    try:
        return parse_node_config({**values, "data_dir": str(data_dir)}, env)
    except NodeConfigError as error:
        argument = f"{error.flag} (set by {error.env})" if error.env else error.flag
        raise UsageError(argument, error.reason) from None


def _check_data_dir(data_dir: Path) -> None:
    if data_dir.exists() or data_dir.is_symlink():
        if not data_dir.is_dir():
            raise UsageError("--data-dir", f"{data_dir} exists and is not a directory")
        if any(data_dir.iterdir()):
            raise UsageError(
                "--data-dir", f"{data_dir} is not empty; a restore builds a new member's data dir: give a new or "
                              "empty directory (never the data dir of a member that still exists)",
            )


def restore_snapshot(path: str | os.PathLike, *, data_dir: str | os.PathLike, flags: Mapping[str, str | None],
                     environ: Mapping[str, str], skip_hash_check: bool = False,
                     progress: ProgressFactory = _default_progress) -> RestoredMember:
    """Make ``data_dir`` the data dir of one member of a new cluster holding
    the store of the snapshot at ``path`` (module docstring). ``flags`` are
    runnode's values for ``RESTORE_FLAGS`` (``None``: not given; the
    environment variable or default applies, as for runnode). Everything is
    checked before anything is written; the data dir appears whole or not
    at all (built beside it, then renamed into place)."""
    data_dir = Path(data_dir)
    if not str(data_dir).strip():
        raise UsageError("--data-dir", "is empty; give a directory path")
    config = _restore_config(flags, data_dir, environ)
    _check_data_dir(data_dir)
    parent = data_dir.absolute().parent
    db, _digest = read_snapshot_file(path, skip_hash_check=skip_hash_check, progress=progress)
    summarize_database(db)  # refuses anything but a store database, before a directory is made

    token = config.initial_cluster_token
    members = tuple(
        (m.name, initial_member_id(m.name, normalize_peer_url(str(m.peer)), token), str(m.peer))
        for m in config.initial_cluster
    )
    ids = [member_id for _, member_id, _ in members]
    member_id = next(member_id for name, member_id, _ in members if name == config.name)
    cluster_id = cluster_id_of(ids, token)

    try:
        parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError("--data-dir", f"cannot create {parent}: {error.strerror or error}") from None
    try:
        build = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=parent))
    except OSError as error:
        raise UsageError("--data-dir", f"cannot write in {parent}: {error.strerror or error}") from None
    try:
        members_dir = member_dir(build)
        members_dir.mkdir()
        machine = StoreStateMachine.open(members_dir / STORE_FILE)
        try:
            # The applied index becomes the Raft snapshot's index, which
            # must be at least 1 (restore keeps the larger of the two).
            machine.restore(db, 1)
            summary = _summary(machine, len(db))
            data = machine.snapshot()
        finally:
            machine.close()
        index = summary.applied_index
        storage = DurableStorage.open(members_dir)
        try:
            snapshot = Snapshot(SnapshotMetadata(index, RESTORED_TERM, ConfState(voters=tuple(ids))), data)
            storage.save(HardState(term=RESTORED_TERM, vote=0, commit=index), snapshot=snapshot)
        finally:
            storage.close()
        MemberIdentity(name=config.name, member_id=member_id, cluster_id=cluster_id).save(members_dir)
        _fsync_dir(members_dir)
        if data_dir.exists():
            data_dir.rmdir()  # empty, checked above
        os.rename(build, data_dir)
        _fsync_dir(parent)
    except OSError as error:
        shutil.rmtree(build, ignore_errors=True)
        raise AdminError(f"restoring into {data_dir} failed ({error}); nothing was left behind") from None
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return RestoredMember(
        data_dir=data_dir, name=config.name, member_id=member_id, cluster_id=cluster_id, members=members,
        snapshot_index=index, store=summary,
    )

