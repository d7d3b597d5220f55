"""The replicated state machine: what the runtime applies committed log
entries to (layer 5 of ARCHITECTURE.md).

``StoreStateMachine`` ties the MVCC store (``kv_store``), the leases
(``lessor``), the request semantics (``applier``), the auth state
(``consensus.auth.auth_store``: users, roles, the enabled flag — auth
commands go to it instead of the applier) and the SQLite database
(``backend``) together, and owns the one rule that makes replay safe: every
apply — of one entry, or of a batch of consecutive entries — is one backend
transaction that also records the last entry's index as ``applied_index``.
So after a crash the database holds exactly the entries up to its
``applied_index``, and re-applying an entry at or below it is a no-op.

Contract for the runtime
------------------------
- Call ``apply_batch([(index, request), ...])`` (or ``apply(index,
  request)`` for one entry) for every committed entry carrying a store
  request, in log order, from one thread (or serialize calls). Indexes need
  not be contiguous (the runtime applies conf changes and empty entries
  itself) but must increase; one at or below ``applied_index`` gives
  ``None`` and changes nothing. A batch is applied exactly as its entries
  one by one would be — same results, same store, same listener calls —
  but commits once, which is most of the cost of a small write.
- A refused request's ``StoreError`` is the entry's result (``apply``
  raises it, ``apply_batch`` returns it in its list) *after* the entry is
  recorded as applied (``applied_index`` advances; no key, lease or
  revision changes — only a batch of a pending physical compaction runs, as
  in every apply) — every member refuses it alike, and replay does not
  refuse it twice.
- Any other exception means this member could not apply the entry (disk
  full, I/O error, a bug): the transaction is rolled back — for a batch,
  every entry of it — nothing of it is applied, and the state machine stops
  — every later call raises ``StateMachineStopped`` — because applying
  later entries without it would diverge from the other members. Reopen
  (after fixing the cause) and re-apply from ``applied_index + 1``.
- Listeners (``add_apply_listener``) run after the commit, on the applying
  thread, once for every entry that changed something (in order, for every
  entry of a batch). An exception in a listener is logged and does not
  affect the store.
- Durability: commits are not fsynced one by one (see ``backend``), so after
  a power loss ``applied_index`` may be a little behind what was applied.
  The runtime must therefore keep Raft log entries above the state machine's
  ``applied_index`` (or a snapshot covering them), and on start restore its
  latest snapshot first if that snapshot's index is above ``applied_index``.
"""
from __future__ import annotations

import logging
import tempfile
import threading
from pathlib import Path
from typing import Callable, Sequence

from consensus.auth.auth_state import AuthState
from consensus.auth.auth_store import AuthStore
from consensus.auth.commands import AuthCommand

from .api import (
    AlarmMember,
    CompactedError,
    CompactionRequest,
    Event,
    FutureRevisionError,
    HashKVResponse,
    InvalidRequestError,
    LeaseLeasesResponse,
    LeaseStatus,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    Limits,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    StoreError,
)
from .applier import Applier
from .backend import Backend
from .kv_store import COMPACTION_BATCH, Change, KVStore, events_of
from .lessor import Lessor
from .log_codec import check_request_size, decode_request, encode_request
from .tree_index import range_end_of
from .txn import check_range_request

logger = logging.getLogger(__name__)

ApplyListener = Callable[[int, list[Event]], None]


class StateMachineStopped(RuntimeError):
    """An earlier apply failed for a reason other than a refused request;
    the state machine must be reopened before it is used again."""


class _BatchEvents:
    """The listener calls of one apply batch, collected as its entries are
    applied. For each revision, which rows the ``prev_kv`` of its events
    are is read from the index right after the entry — exactly what
    ``apply`` would read (``KVStore.prev_revisions``); the rows themselves
    are fetched together, one query for the batch instead of one per entry:
    at the end of the batch, or earlier, before a compaction request, the
    only thing that could delete them meanwhile."""

    __slots__ = ("_store", "_pending", "ready")

    def __init__(self, store: KVStore) -> None:
        self._store = store
        self._pending: list[tuple[int, list[Change], list[int | None]]] = []
        self.ready: list[tuple[int, list[Event]]] = []  # (revision, events), in apply order

    def add(self, revision: int, changes: list[Change]) -> None:
        self._pending.append((revision, changes, self._store.prev_revisions(changes)))

    def fetch(self) -> None:
        """Fetch the ``prev_kv`` rows of every pending revision: they become
        ``ready``."""
        if not self._pending:
            return
        wanted = [rev for _, _, prev_revs in self._pending for rev in prev_revs if rev is not None]
        prev_kvs = iter(self._store.backend.fetch(wanted) if wanted else ())
        for revision, changes, prev_revs in self._pending:
            self.ready.append((revision, events_of(changes, prev_revs, prev_kvs)))
        self._pending.clear()


class StoreStateMachine:
    """The MVCC key-value store with leases, applied from the Raft log.

    Thread-safety: every public method takes one lock, so calls from the
    event loop and from a worker thread (e.g. a snapshot) do not interleave.
    """

    # ``history`` keeps the deletes at the compact revision (see its
    # docstring), so the watch hub could serve a watch starting there as
    # etcd >= 3.4.34 does. Not declared yet: with False the hub counts the
    # compact revision itself as compacted (an explicit answer, never a
    # gap), which is what the watch tests against etcd 3.4.23 expect. Flip
    # together with those tests.
    history_keeps_compact_revision_deletes = False

    def __init__(self, backend: Backend, limits: Limits) -> None:
        self._backend = backend
        self._limits = limits
        self._lock = threading.RLock()
        self._listeners: list[ApplyListener] = []
        self._auth_listeners: list[Callable[[], None]] = []
        self._stopped: BaseException | None = None
        self._load()

    @classmethod
    def open(cls, path: str | Path, *, limits: Limits = Limits(),
             compaction_batch: int = COMPACTION_BATCH) -> StoreStateMachine:
        """Open (or create) the store in the SQLite file ``path`` and rebuild
        its in-memory index. ``compaction_batch`` (rows examined per apply
        while a physical compaction is pending) is recorded when the database
        is created and ignored afterwards: it decides when space is freed,
        which the quota sees, so it must be the same on every member — leave
        the default outside tests."""
        return cls(Backend.open(path, compaction_batch=compaction_batch), limits)

    def _load(self) -> None:
        """(Re)build every in-memory structure from the database."""
        self._meta = self._backend.read_meta()
        self._lessor = Lessor(self._backend)
        self._store = KVStore(self._backend, self._lessor, self._meta)
        self._store.rebuild()
        self._applier = Applier(self._store, self._lessor, self._limits)
        self._auth = AuthStore.load(self._backend)

    def close(self) -> None:
        with self._lock:
            self._backend.close()

    # -- state -----------------------------------------------------------------------------

    @property
    def applied_index(self) -> int:
        """The last Raft index applied (durable with the data it covers)."""
        return self._meta.applied_index

    @property
    def revision(self) -> int:
        """The store's current revision: 1 on an empty store, +1 per write
        that changed something."""
        return self._meta.revision

    @property
    def compact_revision(self) -> int:
        """The revision compacted at; -1 before the first compaction (etcd's
        ``compactMainRev``, which HashKV reports as such)."""
        return self._meta.compact_revision

    @property
    def auth_state(self) -> AuthState:
        """The committed auth state (immutable; read it without the lock)."""
        return self._auth.state

    @property
    def alarms(self) -> tuple[AlarmMember, ...]:
        """The raised alarms, by member."""
        return tuple(AlarmMember(member, kind) for member, kind in sorted(self._applier.alarms))

    @property
    def space_exhausted(self) -> bool:
        """A NOSPACE alarm is raised: writes that add data are refused."""
        return self._applier.space_exhausted

    @property
    def db_size_bytes(self) -> int:
        """Bytes the database takes on disk (file plus WAL)."""
        return self._backend.file_bytes()

    @property
    def stored_bytes(self) -> int:
        """The deterministic size the quota is checked against: per stored
        revision its key, value and a fixed overhead, per lease an overhead."""
        return self._meta.stored_bytes

    def _check_running(self) -> None:
        if self._stopped is not None:
            raise StateMachineStopped(
                f"state machine stopped after a failed apply ({self._stopped!r}); reopen it"
            ) from self._stopped

    # -- apply -----------------------------------------------------------------------------

    def apply(self, index: int, request: object) -> object:
        """Apply log entry ``index`` carrying ``request`` — a request object,
        or its ``log_codec`` encoding (bytes), which is size-checked and
        decoded here. Returns the response (header revision = the store's
        revision after the request), ``None`` for an entry already applied,
        or raises the request's ``StoreError`` (entry applied, nothing
        changed). ``apply_batch`` of the one entry (the same code), except
        that a refusal is raised. See the module docstring for every other
        outcome."""
        (result,) = self.apply_batch(((index, request),))
        if isinstance(result, StoreError):
            raise result
        return result

    def apply_batch(self, entries: Sequence[tuple[int, object]]) -> list[object]:
        """Apply consecutive log entries ``(index, request)`` in ONE backend
        transaction, with exactly the per-entry outcome of ``apply`` called
        for each in turn. Returns one result per entry, in order: the
        response, ``None`` for an entry at or below ``applied_index`` (also
        one at or below an earlier index of the same batch), or — unlike
        ``apply``, which raises it — the refused request's ``StoreError``
        *object*, returned, so the rest of the batch is applied.

        Per entry, as in ``apply``: a refusal happens before the entry's
        first write (else it is a bug: the batch fails), and one batch of a
        pending physical compaction runs, so space is freed at the same
        entries whatever the batching. ``applied_index`` is written once,
        with the last index, in the same transaction.

        After the commit, listeners are called once per revision that
        changed something, in order, with the events ``apply`` would have
        given them (computed within the transaction, as each entry is
        applied, so ``prev_kv`` is what it was then). A listener that reads
        the state machine during the call sees the state after the whole
        batch.

        Any other exception rolls the whole batch back and stops the state
        machine (as ``apply``): no entry of the batch is applied, and
        re-applying from ``applied_index + 1`` after a reopen applies them
        all again."""
        with self._lock:
            self._check_running()
            meta, backend, store, auth = self._meta, self._backend, self._store, self._auth
            apply_request, compaction_step = self._applier.apply, store.compaction_step
            changes = store.changes
            events = _BatchEvents(store) if self._listeners else None
            auth_before = auth.state
            results: list[object] = []
            first = index = 0  # first: the first entry of the transaction, 0 before it begins
            try:
                for index, request in entries:
                    if index <= meta.applied_index:
                        results.append(None)
                        continue
                    if not first:
                        backend.begin()
                        first = index
                    changes.clear()
                    store.dirty = False
                    try:
                        decoded = self._decoded(request)
                        if events is not None and isinstance(decoded, CompactionRequest):
                            events.fetch()  # the compaction may delete their prev_kv rows
                        if isinstance(decoded, AuthCommand):
                            result = auth.apply(decoded, meta.revision)  # refuses before it writes
                        else:
                            result = apply_request(index, decoded)
                    except StoreError as exc:
                        if store.dirty:
                            raise RuntimeError(f"request refused after it wrote: {exc!r}") from exc
                        result = exc
                    compaction_step()
                    meta.applied_index = index
                    if changes and events is not None:
                        events.add(meta.revision, list(changes))
                    results.append(result)
                if not first:
                    return results
                if events is not None:
                    events.fetch()
                backend.write_meta(meta)
                backend.commit()
                auth.publish()
            except BaseException as exc:
                backend.rollback()
                auth.discard()
                self._stopped = exc
                logger.exception("applying entry %d failed; the state machine stops (entries %d to %d of the batch"
                                 " are rolled back)", index, first, index)
                raise
            finally:
                changes.clear()
            try:
                store.release_pages()
            except Exception:  # physical only; the entries are applied either way
                logger.exception("releasing free pages after entry %d failed", meta.applied_index)
            if events is not None:
                for revision, revision_events in events.ready:
                    self._notify(revision, revision_events)
            if auth.state is not auth_before:
                self._notify_auth()
            return results

    def _decoded(self, request: object) -> object:
        """The request as the log carries it: bytes are size-checked and
        decoded; an object is encoded first, so it is checked exactly as its
        bytes would be (size, field types, enum values) and a malformed one
        is refused like a malformed entry, never half-applied."""
        if type(request) is bytes:
            data = request
        elif isinstance(request, (bytes, bytearray, memoryview)):
            data = bytes(request)
        else:
            try:
                data = encode_request(request)
            except (TypeError, ValueError, OverflowError) as exc:
                raise InvalidRequestError(f"etcdserver: cannot encode request: {exc}") from None
        check_request_size(data, self._limits)
        return decode_request(data)

    def _notify(self, revision: int, events: list[Event]) -> None:
        for fn in list(self._listeners):
            try:
                fn(revision, events)
            except Exception:
                logger.exception("apply listener %r failed at revision %d", fn, revision)

    def _notify_auth(self) -> None:
        for fn in list(self._auth_listeners):
            try:
                fn()
            except Exception:
                logger.exception("auth listener %r failed", fn)

    def add_auth_listener(self, fn: Callable[[], None]) -> Callable[[], None]:
        """Call ``fn()`` after each committed batch that changed the auth
        state, and after a restore replaced it (whoever was let in by the
        old state checks again); returns the function that stops it."""
        with self._lock:
            self._auth_listeners.append(fn)

        def remove() -> None:
            with self._lock:
                if fn in self._auth_listeners:
                    self._auth_listeners.remove(fn)

        return remove

    def add_apply_listener(self, fn: ApplyListener) -> None:
        """Call ``fn(revision, events)`` after each applied write that changed
        something, once committed: the events of that one revision, in sub
        revision order, each with ``prev_kv`` (None for a creation)."""
        with self._lock:
            self._listeners.append(fn)

    # -- local reads -------------------------------------------------------------------------

    def range(self, request: RangeRequest) -> RangeResponse:
        """A read served from this member's state (no log): etcd's Range."""
        with self._lock:
            self._check_running()
            check_range_request(request, self._limits.max_key_bytes)
            return self._applier.range(request)

    def lease_time_to_live(self, request: LeaseTimeToLiveRequest, remaining: int | None) -> LeaseTimeToLiveResponse:
        """etcd's LeaseTimeToLive. ``remaining`` is the leader's count from
        its ``LeaseClock``; ``None`` reports the granted TTL. An unknown lease
        is not an error: ``TTL=-1`` (etcd's gRPC answer). ``keys`` sorted."""
        with self._lock:
            self._check_running()
            header = ResponseHeader(revision=self._meta.revision)
            ttl = self._lessor.lookup(request.ID)
            if ttl is None:
                return LeaseTimeToLiveResponse(header=header, ID=request.ID, TTL=-1)
            keys = tuple(self._lessor.keys(request.ID)) if request.keys else ()
            return LeaseTimeToLiveResponse(
                header=header, ID=request.ID, TTL=ttl if remaining is None else remaining, grantedTTL=ttl, keys=keys
            )

    def lease_leases(self) -> LeaseLeasesResponse:
        """Every lease, by ID (etcd orders by expiry, which only the leader's
        clock knows)."""
        with self._lock:
            self._check_running()
            return LeaseLeasesResponse(
                header=ResponseHeader(revision=self._meta.revision),
                leases=tuple(LeaseStatus(ID=lease_id) for lease_id, _ in self._lessor.leases()),
            )

    def leases(self) -> list[tuple[int, int]]:
        """``(id, granted TTL)`` of every lease — what ``LeaseClock.promote``
        and ``reset`` need."""
        with self._lock:
            return self._lessor.leases()

    def hash_kv(self, revision: int = 0) -> HashKVResponse:
        """A hash of the store's kept history up to ``revision`` (0: current)
        and the compact revision: equal on members that applied the same
        log. etcd's errors: at or below the compact revision -> compacted,
        above the current one -> future."""
        with self._lock:
            self._check_running()
            m = self._meta
            if revision > 0 and revision <= m.compact_revision:
                raise CompactedError(m.compact_revision)
            if revision > m.revision:
                raise FutureRevisionError()
            at = revision if revision > 0 else m.revision
            return HashKVResponse(
                header=ResponseHeader(revision=m.revision),
                hash=self._store.hash(at),
                compact_revision=m.compact_revision,
            )

    def history(
        self, key: bytes, range_end: bytes, start_revision: int, max_events: int = 1000
    ) -> tuple[list[tuple[int, Event]], int]:
        """Events for keys in ``[key, range_end)`` (``range_end`` as in a
        range request) at main revision ``start_revision`` or later, in
        revision then sub order, each with ``prev_kv`` as the watch server
        would fill it. Returns ``(events, next_revision)``: read on from
        ``next_revision``; the caller has everything once ``next_revision``
        is past ``revision``.

        At most ``max_events`` events, except that one revision's events are
        never split (a single revision with more is returned whole). One call
        scans at most ``kv_store.HISTORY_WINDOW`` revisions, so a narrow
        watch over a long history may get few or no events with
        ``next_revision`` still at or below ``revision`` — call again.

        ``CompactedError`` if ``start_revision`` is below the compact
        revision — etcd's watch rule (``minRev < compactRev``), so a watch may
        start *at* the compact revision. The events at the compact revision
        are all there, deletes included (as etcd keeps them since 3.4.34,
        #18089/#19179 — etcd 3.4.23 lost them); they carry no ``prev_kv``
        (the revision before is compacted, as etcd's watch server finds).
        """
        with self._lock:
            self._check_running()
            return self._store.history(key, range_end_of(range_end), start_revision, max_events)

    # -- snapshots ---------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole state machine (a consistent copy of the database, see
        ``Backend.snapshot``) as of ``applied_index``."""
        with self._lock:
            self._check_running()
            return self._backend.snapshot()

    def defragment(self) -> None:
        """etcd's Defragment on this member: the database file rewritten
        without its free space (``Backend.defragment``); the store's contents
        and every revision are unchanged. Blocks applies while it runs; the
        runtime runs it in a worker thread between applies
        (``RaftNode.run_exclusive``)."""
        with self._lock:
            self._check_running()
            self._backend.defragment()

    def snapshot_into(self, write: Callable[[bytes], object]) -> None:
        """``snapshot()`` handed to ``write`` in pieces (a Raft snapshot's
        payload file), never whole in memory."""
        with self._lock:
            self._check_running()
            self._backend.snapshot_into(write)

    def restore(self, data: bytes, index: int | None = None) -> None:
        """``restore_file`` from ``snapshot()`` bytes."""
        with tempfile.TemporaryDirectory(dir=self._backend.path.parent, prefix=".restore-") as tmp:
            source = Path(tmp) / "restore.db"
            source.write_bytes(data)
            self.restore_file(source, index)

    def restore_file(self, path: Path, index: int | None = None) -> None:
        """Replace the whole state with a snapshot from any member, held in
        the file ``path`` (a Raft snapshot's payload),
        atomically, and rebuild the in-memory index. ``index``, if given, is
        the Raft index the snapshot was taken at; ``applied_index`` becomes at
        least that (entries the runtime applied itself, like conf changes,
        may follow the last store entry). Apply listeners are kept; they are
        not called (the runtime tells watchers about the jump). Auth
        listeners are called."""
        with self._lock:
            self._check_running()
            self._backend.restore_file(path)  # a bad snapshot raises here, state unchanged
            try:
                if index is not None:
                    meta = self._backend.read_meta()
                    if index > meta.applied_index:
                        meta.applied_index = index
                        self._backend.begin()
                        self._backend.write_meta(meta)
                        self._backend.commit()
                self._load()
            except BaseException as exc:
                self._backend.rollback()
                self._stopped = exc
                logger.exception("rebuilding after a restore failed; the state machine stops")
                raise
            self._notify_auth()
