"""The node runtime: drives one ``RawNode`` on the asyncio loop.

One task owns the Raft node. Every input — a tick, a peer message, a client
proposal, a read request — reaches it through one queue, so the core is never
touched concurrently. After each burst of inputs the task handles ready
batches strictly in the order the Ready contract demands:

    persist (WAL append + fsync, in the node's own worker thread so the loop
             stays live and nothing else in the process queues ahead of it)
      -> send (peer messages, handed to the transport, which never blocks;
         a leader's appends may go first, never a new term or vote:
         ``consensus.runtime.ready_steps`` has the rules)
      -> apply (committed entries, in order, to the state machine)
      -> release reads -> advance

Inputs that arrive while an fsync is in progress wait in the queue and go
into the next batch: that is where proposal batching comes from.

A proposal's future completes only after its entry is applied, never when it
is proposed. Entry data is ``request_id (8 bytes) + payload`` so the node that
proposed it can match the applied entry to the waiting caller.
"""
from __future__ import annotations

import asyncio
import itertools
import logging
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol

from consensus import metrics
from consensus.raft.messages import ConfChange, ConfState, Entry, EntryType, Message, StateType
from consensus.raft.raft import Config, ProposalDroppedError
from consensus.raft.raw_node import RawNode, Ready
from consensus.runtime import ready_steps
from consensus.storage.durable import CATCH_UP_ENTRIES, DurableStorage
from consensus.storage.snapshot_payloads import PayloadRef

logger = logging.getLogger(__name__)

_REQUEST_ID_BYTES = 8


class StateMachine(Protocol):
    """What the node applies committed entries to. ``apply`` must be
    deterministic: every member applies the same entries in the same order.
    It returns the request's result, including a refusal (an error value);
    raising means the replica is broken and stops the node."""

    def apply(self, index: int, payload: bytes) -> Any: ...

    def snapshot_into(self, write: Callable[[bytes], object]) -> None:
        """Hand the whole state to ``write`` in pieces (into a snapshot's
        payload file; it need never be whole in memory)."""

    def restore_from(self, path: Path, index: int) -> None:
        """Replace the whole state with the payload in ``path``, taken at
        Raft ``index``."""


class Transport(Protocol):
    """Where the node's outgoing peer messages go. ``send`` must not block
    and must not raise for an unreachable peer: Raft tolerates loss and
    retries on its own."""

    def send(self, messages: Iterable[Message]) -> None: ...


class NotLeaderError(Exception):
    """This member cannot accept the request now (no leader, or another member
    leads). Retryable; ``leader_id`` names the leader when known."""

    def __init__(self, message: str, leader_id: int = 0) -> None:
        super().__init__(message)
        self.leader_id = leader_id


@dataclass(frozen=True, slots=True)
class NodeStatus:
    id: int
    term: int
    leader: int
    role: str
    commit: int
    applied: int
    last_index: int
    voters: tuple[int, ...]
    learners: tuple[int, ...]


class AppliedEntryCounter:
    """The state machine used until the MVCC store is plugged in: it records
    how many normal entries were applied and the payload size, which is
    enough to see the log replicate, persist and recover."""

    def __init__(self) -> None:
        self.entries = 0
        self.bytes = 0
        self.last_index = 0

    def apply(self, index: int, payload: bytes) -> int:
        self.entries += 1
        self.bytes += len(payload)
        self.last_index = index
        return index

    def snapshot_into(self, write: Callable[[bytes], object]) -> None:
        write(f"{self.entries} {self.bytes} {self.last_index}".encode())

    def restore_from(self, path: Path, index: int) -> None:
        entries, size, last = (int(x) for x in Path(path).read_bytes().split())
        self.entries, self.bytes, self.last_index = entries, size, last


class RaftNode:
    """A single Raft member with durable storage, ticking on the loop.

    ``run()`` is the owner task; the other coroutines enqueue work for it and
    await their futures. Peer messages leave through ``transport`` and come
    in through ``deliver``.
    """

    def __init__(
        self,
        *,
        node_id: int,
        peers: tuple[int, ...],
        storage: DurableStorage,
        state_machine: StateMachine,
        heartbeat_ms: int = 100,
        election_ms: int = 1000,
        snapshot_count: int = 10_000,
        rng: random.Random | None = None,
        transport: Transport | None = None,
        on_conf_change: Callable[[ConfChange, ConfState], None] | None = None,
        on_snapshot_restored: Callable[[], None] | None = None,
    ) -> None:
        self.id = node_id
        self.transport = transport
        # Called on the loop after a membership change is applied / after the
        # state machine was replaced by a leader's snapshot, so the caller
        # can update peer addresses.
        self.on_conf_change = on_conf_change
        self.on_snapshot_restored = on_snapshot_restored
        self.storage = storage
        self.state_machine = state_machine
        self.heartbeat_s = heartbeat_ms / 1000
        self.election_timeout_s = election_ms / 1000
        self.snapshot_count = snapshot_count
        snapshot = storage.snapshot()
        if not snapshot.is_empty:
            state_machine.restore_from(storage.payload_path(snapshot), snapshot.metadata.index)
        self.conf_state: ConfState = snapshot.metadata.conf_state
        config = Config(
            id=node_id,
            peers=peers,
            election_tick=max(2, election_ms // heartbeat_ms),
            heartbeat_tick=1,
        )
        self.raw = RawNode(config, storage, rng=rng or random.Random(os.urandom(8)), logger=logger)
        self._inbox: asyncio.Queue = asyncio.Queue()
        self._proposals: dict[bytes, asyncio.Future] = {}
        self._reads: dict[bytes, asyncio.Future] = {}
        # Conf changes are matched by their encoded entry data, which is
        # unique because the context carries a request id.
        self._conf_changes: dict[bytes, asyncio.Future] = {}
        self._request_ids = itertools.count(1)
        self._run_id = os.urandom(4)
        self._last_leader = 0
        # The term this member leads in (0: it does not lead), and who wants
        # to hear of every change of it (``add_leadership_listener``).
        self._led_term = 0
        self._leadership_listeners: list[Callable[[bool], None]] = []
        self._leader_moved = asyncio.Event()  # set after each Ready that changed who leads
        self._stopped = False
        # The node's own worker threads: the WAL fsync must never queue
        # behind whatever else the process runs in the loop's default
        # executor (Django parks a default-executor thread per request).
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"raft-{node_id}-wal")
        self._exclusive: list[tuple[Callable[[], Any], asyncio.Future]] = []  # run_exclusive's work, in order
        self._snapshots = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"raft-{node_id}-snap")

    # -- client side -------------------------------------------------------

    async def propose(self, payload: bytes, timeout: float = 5.0) -> Any:
        """Replicate ``payload`` and return the state machine's result once it
        is applied here. Raises NotLeaderError (retryable) or TimeoutError."""
        self._check_running()
        request_id = self._run_id + next(self._request_ids).to_bytes(_REQUEST_ID_BYTES - 4, "big")
        future = asyncio.get_running_loop().create_future()
        self._proposals[request_id] = future
        self._inbox.put_nowait(("propose", request_id + payload))
        try:
            return await asyncio.wait_for(future, timeout)
        except (NotLeaderError, TimeoutError):
            metrics.proposals_failed.inc()
            raise
        finally:
            self._proposals.pop(request_id, None)

    async def read_index(self, timeout: float = 5.0) -> int:
        """A linearizable read point: returns once this member has applied
        everything committed when the call was made."""
        self._check_running()
        context = self._run_id + b"r" + next(self._request_ids).to_bytes(8, "big")
        future = asyncio.get_running_loop().create_future()
        self._reads[context] = future
        self._inbox.put_nowait(("read", context))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._reads.pop(context, None)

    async def propose_conf_change(self, cc: ConfChange, timeout: float = 10.0) -> ConfState:
        """Replicate a membership change; returns the configuration once it is
        applied here. ``cc.context`` must make the change unique (e.g. carry a
        request id). Raises NotLeaderError (retryable: no leader, or a change
        is already in flight) or TimeoutError."""
        self._check_running()
        data = cc.encode()
        if data in self._conf_changes:
            raise ValueError("this exact conf change is already pending")
        future = asyncio.get_running_loop().create_future()
        self._conf_changes[data] = future
        self._inbox.put_nowait(("conf_change", cc))
        try:
            return await asyncio.wait_for(future, timeout)
        finally:
            self._conf_changes.pop(data, None)

    def _check_running(self) -> None:
        # Once the owner task has ended nothing reads the inbox: a request
        # queued now would only wait out its timeout.
        if self._stopped:
            raise NotLeaderError("node is shutting down")

    @property
    def stopped(self) -> bool:
        """True once ``run()`` has ended; requests are refused from then on."""
        return self._stopped

    def deliver(self, message: Message) -> None:
        """A message from a peer (called by the transport, on the loop)."""
        self._inbox.put_nowait(("message", message))

    def report_unreachable(self, peer_id: int) -> None:
        """The transport could not deliver to ``peer_id`` (on the loop)."""
        self._inbox.put_nowait(("unreachable", peer_id))

    def report_snapshot(self, peer_id: int, delivered: bool) -> None:
        """The transport finished sending a snapshot to ``peer_id`` (on the
        loop); see ``RawNode.report_snapshot``."""
        self._inbox.put_nowait(("snapshot_sent", (peer_id, delivered)))

    def transfer_leadership(self, transferee: int) -> None:
        self._inbox.put_nowait(("transfer", transferee))

    async def run_exclusive(self, fn: Callable[[], Any]) -> Any:
        """Run ``fn`` in a worker thread between two Ready steps, with
        nothing applied meanwhile (the owner task waits for it, as for a
        snapshot), and return what it returns. For work on the state machine
        that applies must not interleave with and the loop must not wait
        for: a defragment. The node handles no input while it runs, as
        etcd's member serves nothing during a defragment; ticks wait and
        are handled after."""
        self._check_running()
        done = asyncio.get_running_loop().create_future()
        self._inbox.put_nowait(("exclusive", (fn, done)))
        return await done

    def best_transferee(self) -> int | None:
        """The voter to hand leadership to: the most up to date of those
        heard from lately (None when this member does not lead, or leads
        alone)."""
        raft = self.raw.raft
        if not self.raw.is_leader:
            return None
        candidates = [(pr.match, node_id) for node_id, pr in raft.prs.items()
                      if node_id != self.id and node_id in raft.voters and pr.recent_active]
        return max(candidates)[1] if candidates else None

    async def move_leader(self, target: int, timeout: float | None = None) -> None:
        """Hand leadership to voter ``target`` (Raft thesis §3.10: the leader
        brings it up to date, then tells it to campaign at once) and return
        once this member follows it. Raises NotLeaderError when this member
        does not lead, ValueError for a target that is not another voter,
        TimeoutError if the transfer did not complete within ``timeout``
        (default: two election timeouts; the leader gives up after one)."""
        self._check_running()
        if not self.raw.is_leader:
            raise NotLeaderError("only the leader can hand over leadership", self.raw.leader_id)
        if target == self.id or target not in self.raw.raft.voters:
            raise ValueError(f"{target:x} is not another voting member")
        self._inbox.put_nowait(("transfer", target))
        async with asyncio.timeout(timeout if timeout is not None else 2 * self.election_timeout_s):
            while not (self.raw.leader_id == target and not self.raw.is_leader):
                self._leader_moved.clear()
                await self._leader_moved.wait()

    async def hand_over_leadership(self, timeout: float | None = None) -> bool:
        """Before this member stops or leaves: if it leads others, move
        leadership to the best voter, so the cluster does not wait out an
        election timeout without a leader. True if it was handed over."""
        target = self.best_transferee()
        if target is None:
            return False
        started = time.perf_counter()
        try:
            await self.move_leader(target, timeout)
        except (NotLeaderError, ValueError, TimeoutError) as error:
            logger.warning("node %d: leadership not handed over to %x: %s", self.id, target, error or "timed out")
            return False
        logger.info("node %d: leadership handed over to %x in %.0f ms", self.id, target,
                    (time.perf_counter() - started) * 1000)
        return True

    @property
    def term(self) -> int:
        return self.raw.raft.term

    @property
    def pending_proposals(self) -> int:
        return len(self._proposals)

    def status(self) -> NodeStatus:
        st = self.raw.status()
        return NodeStatus(
            id=st.id, term=st.term, leader=st.lead, role=st.state.name.lower(), commit=st.commit,
            applied=st.applied, last_index=st.last_index, voters=st.voters, learners=st.learners,
        )

    # -- the owner task -------------------------------------------------------

    async def run(self) -> None:
        ticker = asyncio.create_task(self._ticker(), name=f"raft-{self.id}-ticker")
        try:
            await self._drain_ready()
            if self.raw.raft.voters == {self.id}:
                # A one-member cluster need not wait out an election timeout.
                self.raw.campaign()
            while True:
                await self._drain_ready()
                item = await self._inbox.get()
                self._handle(item)
                while not self._inbox.empty():
                    self._handle(self._inbox.get_nowait())
                if self._exclusive:
                    await self._drain_ready()
                    await self._run_exclusive()
        finally:
            ticker.cancel()
            self._stopped = True
            self._fail_waiters(NotLeaderError("node is shutting down"))
            for _, done in self._exclusive:
                if not done.done():
                    done.set_exception(NotLeaderError("node is shutting down"))
            # Work already handed to a thread finishes there; nothing new starts.
            self._disk.shutdown(wait=False)
            self._snapshots.shutdown(wait=False)

    async def _ticker(self) -> None:
        while True:
            await asyncio.sleep(self.heartbeat_s)
            self._inbox.put_nowait(("tick", None))

    def _handle(self, item: tuple[str, Any]) -> None:
        kind, value = item
        if kind == "tick":
            was_leader = self.raw.is_leader
            self.raw.tick()
            if was_leader and not self.raw.is_leader:
                # Pending reads will never be confirmed by this term: fail them
                # so the caller retries. Pending proposals may still commit
                # under the next leader, so they are left to time out
                # (outcome unknown) rather than be reported as failed.
                for key in list(self._reads):
                    self._resolve(self._reads, key, error=NotLeaderError("leadership lost", self.raw.leader_id))
        elif kind == "propose":
            try:
                self.raw.propose(value)
            except ProposalDroppedError as exc:
                self._resolve(self._proposals, value[:_REQUEST_ID_BYTES], error=NotLeaderError(str(exc), self.raw.leader_id))
        elif kind == "read":
            try:
                self.raw.read_index(value)
            except ProposalDroppedError as exc:
                self._resolve(self._reads, value, error=NotLeaderError(str(exc), self.raw.leader_id))
        elif kind == "message":
            self.raw.step(value)
        elif kind == "conf_change":
            try:
                self.raw.propose_conf_change(value)
            except ProposalDroppedError as exc:
                self._resolve(self._conf_changes, value.encode(), error=NotLeaderError(str(exc), self.raw.leader_id))
        elif kind == "unreachable":
            self.raw.report_unreachable(value)
        elif kind == "snapshot_sent":
            self.raw.report_snapshot(*value)
        elif kind == "transfer":
            self.raw.transfer_leader(value)
        elif kind == "exclusive":
            self._exclusive.append(value)
        else:
            raise ValueError(f"unknown node input {kind!r}")

    async def _run_exclusive(self) -> None:
        work, self._exclusive = self._exclusive, []
        for fn, done in work:
            try:
                result = await self._in(self._snapshots, fn)
            except Exception as exc:  # the caller's failure, reported to the caller
                if not done.done():
                    done.set_exception(exc)
            else:
                if not done.done():
                    done.set_result(result)

    async def _drain_ready(self) -> None:
        while self.raw.has_ready():
            await self._handle_ready(self.raw.ready())

    async def _handle_ready(self, rd: Ready) -> None:
        """Perform ``rd``'s steps in the order ``ready_steps`` gives them (the
        ordering rules are written there, for this runtime and the
        simulation alike), then advance."""
        for step in ready_steps.steps(rd, is_leader=self.raw.is_leader):
            if isinstance(step, ready_steps.Send):
                if self.transport is not None:
                    self.transport.send(step.messages)
            elif isinstance(step, ready_steps.Persist):
                # Nothing after this step happens until the fsync has returned.
                if step.sync:
                    started = time.perf_counter()
                    await self._in(self._disk, self.storage.save, step.hard_state, step.entries, step.snapshot)
                    metrics.wal_fsync_duration.observe(time.perf_counter() - started)
                else:
                    self.storage.save(step.hard_state, sync=False)
            elif isinstance(step, ready_steps.Restore):
                await self._in(self._snapshots, self.state_machine.restore_from,
                               self.storage.payload_path(step.snapshot), step.snapshot.metadata.index)
                self.conf_state = step.snapshot.metadata.conf_state
                ref = PayloadRef.decode(step.snapshot.data)
                logger.info("node %d: installed a snapshot at index %d (%d bytes)",
                            self.id, step.snapshot.metadata.index, ref.size if ref else len(step.snapshot.data))
                if self.on_snapshot_restored is not None:
                    self.on_snapshot_restored()
            elif isinstance(step, ready_steps.Apply):
                self._apply_entries(step.entries)
            elif isinstance(step, ready_steps.Release):
                for rs in step.read_states:
                    self._resolve(self._reads, rs.context, result=rs.index)
        self._note_leader(rd)
        self._note_leadership()
        self.raw.advance(rd)
        await self._maybe_snapshot()

    def add_leadership_listener(self, fn: Callable[[bool], None]) -> None:
        """Call ``fn(leads)`` on the loop each time this member becomes leader
        (in a new term: also when it lost and won again between two calls)
        and each time it stops being leader; checked after every Ready."""
        self._leadership_listeners.append(fn)

    def _note_leadership(self) -> None:
        led = self.raw.raft.term if self.raw.is_leader else 0
        if led == self._led_term:
            return
        self._led_term = led
        for fn in list(self._leadership_listeners):
            try:
                fn(bool(led))
            except Exception:
                logger.exception("node %d: leadership listener %r failed", self.id, fn)

    def _note_leader(self, rd: Ready) -> None:
        if rd.soft_state is not None:
            self._leader_moved.set()
        if rd.soft_state is not None and rd.soft_state.lead and rd.soft_state.lead != self._last_leader:
            self._last_leader = rd.soft_state.lead
            metrics.leader_changes.inc()
            # Reads this follower passed to the previous leader may never be
            # answered (it may be dead): ask the new one too. Any answer to
            # a request made after the read began is a valid read point,
            # and the first one resolves the read.
            for context in list(self._reads):
                self._inbox.put_nowait(("read", context))

    def _apply_entries(self, entries: list[Entry]) -> None:
        """Apply in log order. Runs of client entries go to the state
        machine's ``apply_batch`` when it has one (one database transaction
        for the run); membership changes and a new leader's empty entry are
        handled here, between runs.

        A request the state machine refuses is an ordinary result (returned,
        not raised); an exception here means the replica can no longer apply
        the log, and the node must stop rather than diverge."""
        batch_apply = getattr(self.state_machine, "apply_batch", None)
        run: list[Entry] = []
        for entry in entries:
            if entry.type == EntryType.NORMAL and entry.data:
                run.append(entry)
                continue
            self._apply_run(run, batch_apply)
            run = []
            if entry.type == EntryType.CONF_CHANGE:
                cc = ConfChange.decode(entry.data)
                self.conf_state = self.raw.apply_conf_change(cc)
                if self.on_conf_change is not None:
                    self.on_conf_change(cc, self.conf_state)
                self._resolve(self._conf_changes, entry.data, result=self.conf_state)
        self._apply_run(run, batch_apply)

    def _apply_run(self, run: list[Entry], batch_apply) -> None:
        if not run:
            return
        split = [(e.index, e.data[:_REQUEST_ID_BYTES], e.data[_REQUEST_ID_BYTES:]) for e in run]
        started = time.perf_counter()
        if batch_apply is not None:
            results = batch_apply([(index, payload) for index, _, payload in split])
        else:
            results = [self.state_machine.apply(index, payload) for index, _, payload in split]
        metrics.apply_duration.observe(time.perf_counter() - started)
        metrics.proposals_committed.inc(len(split))
        for (_, request_id, _), result in zip(split, results):
            self._resolve(self._proposals, request_id, result=result)

    async def _maybe_snapshot(self) -> None:
        applied = self.raw.raft.raft_log.applied
        if not ready_steps.snapshot_due(applied, self.storage.snapshot().metadata.index, self.snapshot_count):
            return
        # Both steps run in a worker thread: a large store takes a while to
        # copy, and the loop must keep serving meanwhile. Nothing is applied
        # in between, since this task (the only one that applies) waits here.
        started = time.perf_counter()
        payload = self.storage.payload_writer()
        try:
            await self._in(self._snapshots, self.state_machine.snapshot_into, payload.write)
        except BaseException:
            payload.abort()
            raise
        await self._in(self._snapshots, self.storage.create_snapshot, applied, self.conf_state, payload)
        metrics.snapshot_duration.observe(time.perf_counter() - started)
        logger.info("node %d: snapshot at applied index %d", self.id, applied)

    @staticmethod
    async def _in(executor: ThreadPoolExecutor, fn: Callable, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)

    @staticmethod
    def _resolve(waiters: dict, key: bytes, *, result: Any = None, error: BaseException | None = None) -> None:
        future = waiters.pop(key, None)
        if future is None or future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)

    def _fail_waiters(self, error: Exception) -> None:
        for waiters in (self._proposals, self._reads, self._conf_changes):
            for key in list(waiters):
                self._resolve(waiters, key, error=error)

    @property
    def is_leader(self) -> bool:
        return self.raw.raft.state == StateType.LEADER

    @property
    def leader_known(self) -> bool:
        """This member follows a leader (or is one) and is running."""
        return not self._stopped and self.raw.raft.lead != 0


# -- the process's own member ---------------------------------------------------

_local_node: RaftNode | None = None


def local_node() -> RaftNode | None:
    """The member running in this process, while it runs."""
    return _local_node


def register_local_node(node: RaftNode | None) -> None:
    """Make ``node`` the one ``local_node()`` returns (None when it stops)."""
    global _local_node
    _local_node = node


MEMBER_DIR = "member"


def member_dir(data_dir) -> Path:
    return Path(data_dir) / MEMBER_DIR


def open_member_storage(data_dir, *, catch_up_entries: int = CATCH_UP_ENTRIES) -> DurableStorage:
    """Open (and lock) the member's WAL and snapshots under ``<data-dir>/member``."""
    return DurableStorage.open(member_dir(data_dir), catch_up_entries=catch_up_entries)
