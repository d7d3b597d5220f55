"""The replicated store: the MVCC state machine behind a Raft node.

This is the store's client interface (put / range / delete / txn / compact /
leases / watch), the one the service layer and the HTTP gateway use. Writes
go through the log: the request is encoded, proposed, and the caller gets the
response the state machine produced when it applied the entry. Reads are
linearizable by default (ReadIndex, then a local read once this member has
applied that far); ``serializable=True`` reads local state directly.

Leases follow etcd: their existence, TTL and attached keys are replicated;
their deadlines are counted only by the leader (``LeaseClock``). Keep-alives
go to the leader and renew a deadline in memory. When a deadline passes, the
leader *proposes* a revoke, so every member deletes the lease's keys at the
same revision; a member that becomes leader gives every lease a fresh TTL
before counting, so a failover never mass-expires healthy leases.
"""
from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Awaitable, Callable

from consensus.node import NotLeaderError, RaftNode

from .api import (
    AlarmAction,
    AlarmRequest,
    AlarmResponse,
    AlarmType,
    NoSpaceError,
    CompactionRequest,
    CompactionResponse,
    DefragmentRequest,
    DefragmentResponse,
    DeleteRangeRequest,
    DeleteRangeResponse,
    HashKVRequest,
    HashKVResponse,
    HashResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseLeasesResponse,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    LeaseTimeToLiveRequest,
    LeaseTimeToLiveResponse,
    Limits,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    ResponseHeader,
    StoreError,
    TxnRequest,
    TxnResponse,
    WatchCreateRequest,
)
from .lease_clock import LeaseClock
from .log_codec import check_request_size, encode_request
from .state_machine import StoreStateMachine
from .watch_hub import WatchHub

logger = logging.getLogger(__name__)

# How often the leader looks for expired leases (etcd checks every 500 ms).
LEASE_CHECK_INTERVAL = 0.5
# At most this many revokes proposed per check, so an expiry storm cannot
# flood the log (etcd's leaseRevokeRate is 1000/s).
MAX_REVOKES_PER_CHECK = 500


class StoreApplier:
    """Adapts ``StoreStateMachine`` to the node's ``StateMachine`` protocol:
    entry payloads are ``log_codec`` bytes; a refused request comes back as
    its ``StoreError`` value, not raised, so the node keeps applying. Leader
    deadline bookkeeping follows applied grants and revokes."""

    def __init__(self, machine: StoreStateMachine, clock: LeaseClock, now: Callable[[], float]) -> None:
        self.machine = machine
        self.clock = clock
        self.now = now

    def apply(self, index: int, payload: bytes) -> object:
        try:
            response = self.machine.apply(index, payload)
        except StoreError as error:
            return error
        self._follow_leases([response])
        return response

    def apply_batch(self, entries: list[tuple[int, bytes]]) -> list[object]:
        """Consecutive entries in one database transaction (results as
        ``apply`` would return them, refusals included)."""
        batch = getattr(self.machine, "apply_batch", None)
        if batch is None:
            return [self.apply(index, payload) for index, payload in entries]
        results = batch(entries)
        self._follow_leases(results)
        return results

    def _follow_leases(self, responses: list[object]) -> None:
        revoked = False
        for response in responses:
            if isinstance(response, LeaseGrantResponse):
                self.clock.on_grant(response.ID, response.TTL, self.now())
            elif isinstance(response, LeaseRevokeResponse):
                revoked = True
        if revoked:
            self.clock.retain(lease_id for lease_id, _ in self.machine.leases())

    def snapshot_into(self, write: Callable[[bytes], object]) -> None:
        self.machine.snapshot_into(write)

    def restore_from(self, path: Path, index: int) -> None:
        # The database is durable on its own: on a restart it is usually
        # already past the Raft snapshot, and re-installing the snapshot
        # would only roll it back for the log to replay again.
        if self.machine.applied_index >= index:
            return
        self.machine.restore_file(path, index)
        self.clock.reset(self.machine.leases(), self.now())


class ReplicatedStore:
    """etcd's KV, Lease and Watch services over one member."""

    def __init__(
        self, node: RaftNode, machine: StoreStateMachine, applier: StoreApplier, hub: WatchHub,
        *, limits: Limits = Limits(), now: Callable[[], float] = time.monotonic, cluster_id: int = 0,
    ) -> None:
        self.limits = limits
        self.node = node
        self.machine = machine
        self.applier = applier
        self.clock = applier.clock
        self.hub = hub
        self.now = now
        self.cluster_id = cluster_id
        # (leader id, request) -> the leader's answer; set by the member
        # when it can reach other members (see cluster.leader_forward).
        self.forward_keepalive: Callable[[int, LeaseKeepAliveRequest], Awaitable[LeaseKeepAliveResponse]] | None = None
        node.add_leadership_listener(self._leadership_changed)

    # -- writes (through the log) ---------------------------------------------------------

    async def _propose(self, request: object) -> object:
        payload = encode_request(request)
        check_request_size(payload, self.limits)  # refused before it reaches the log
        result = await self.node.propose(payload)
        if isinstance(result, StoreError):
            if isinstance(result, NoSpaceError) and not self.machine.space_exhausted:
                await self._raise_no_space()
            raise result
        return result

    async def _raise_no_space(self) -> None:
        """A write went over the quota: raise the NOSPACE alarm for this
        member, as etcd's server does, so the cluster refuses what adds data
        until an operator compacts, defragments and disarms. Best effort: a
        failure is logged; the next refused write tries again."""
        try:
            await self.node.propose(encode_request(
                AlarmRequest(action=AlarmAction.ACTIVATE, memberID=self.node.id, alarm=AlarmType.NOSPACE)))
        except Exception as exc:  # noqa: BLE001 (the write's own refusal is what the client gets)
            logger.warning("raising the NOSPACE alarm failed: %s", exc)
        else:
            logger.warning("the store is over its quota: NOSPACE alarm raised for member %x", self.node.id)

    async def alarm(self, request: AlarmRequest) -> AlarmResponse:
        """etcd's Alarm (every action through the log, as in etcd 3.4)."""
        return await self._propose(request)

    async def put(self, request: PutRequest) -> PutResponse:
        return await self._propose(request)

    async def delete_range(self, request: DeleteRangeRequest) -> DeleteRangeResponse:
        return await self._propose(request)

    async def txn(self, request: TxnRequest) -> TxnResponse:
        # Read-only txns go through the log too (etcd serves them like a
        # range); they do not move the revision either way.
        return await self._propose(request)

    async def compact(self, request: CompactionRequest) -> CompactionResponse:
        return await self._propose(request)

    async def lease_grant(self, request: LeaseGrantRequest) -> LeaseGrantResponse:
        return await self._propose(request)

    async def lease_revoke(self, request: LeaseRevokeRequest) -> LeaseRevokeResponse:
        return await self._propose(request)

    # -- reads ---------------------------------------------------------------------------------

    async def range(self, request: RangeRequest) -> RangeResponse:
        if not request.serializable:
            await self.node.read_index()
        return self.machine.range(request)

    async def lease_keepalive(self, request: LeaseKeepAliveRequest) -> LeaseKeepAliveResponse:
        # The clock counts deadlines only once it has been promoted, which
        # run_lease_expiry does up to one check interval after this member
        # won its election: a keep-alive in between takes up the lease duties
        # at once (the clock refused it with a RuntimeError before).
        if self.node.is_leader and not self.clock.is_leader:
            self._leadership_changed(True)
        if not self.node.is_leader or not self.clock.is_leader:
            leader = self.node.status().leader
            if self.forward_keepalive is not None and leader and leader != self.node.id:
                # etcd forwards a follower's keep-alive to the leader; so do we.
                return await self.forward_keepalive(leader, request)
            raise NotLeaderError("lease keep-alives are served by the leader", leader)
        ttl = self.clock.keepalive(request.ID, self.now())
        return LeaseKeepAliveResponse(header=self._header(), ID=request.ID, TTL=ttl)

    async def lease_time_to_live(self, request: LeaseTimeToLiveRequest) -> LeaseTimeToLiveResponse:
        await self.node.read_index()
        remaining = self.clock.remaining(request.ID, self.now()) if self.node.is_leader else None
        return self.machine.lease_time_to_live(request, remaining)

    async def lease_leases(self) -> LeaseLeasesResponse:
        await self.node.read_index()
        return self.machine.lease_leases()

    async def hash(self) -> HashResponse:
        """etcd's ``Hash``, answered with this member's KV hash at its
        current revision (``StoreStateMachine.hash_kv``), not a hash of the
        database file as etcd's is. Local, like etcd's: no ReadIndex."""
        kv = self.machine.hash_kv(0)
        return HashResponse(header=kv.header, hash=kv.hash)

    async def defragment(self, request: DefragmentRequest) -> DefragmentResponse:
        """This member's database rewritten without its free space; nothing
        is applied while it runs (``RaftNode.run_exclusive``)."""
        await self.node.run_exclusive(self.machine.defragment)
        return DefragmentResponse(header=self._header())

    async def hash_kv(self, request: HashKVRequest) -> HashKVResponse:
        """etcd's ``HashKV`` at ``request.revision`` (0: the current one),
        read linearizably: after a ReadIndex, so a member that is behind
        first applies what was committed when the call was made. Raises
        ``CompactedError`` / ``FutureRevisionError`` as etcd does."""
        await self.node.read_index()
        return self.machine.hash_kv(request.revision)

    def watch(self, request: WatchCreateRequest):
        """A watcher on this member's hub (see ``watch_hub``)."""
        return self.hub.watch(request)

    def leader_known(self) -> bool:
        """Whether this member follows a leader: when it does not, what it
        serves locally (watches, serializable reads) may be behind."""
        return self.node.leader_known

    def header(self) -> ResponseHeader:
        """A response header for this member now: its ID, its Raft term and
        the store's current revision."""
        return self._header()

    def _header(self) -> ResponseHeader:
        # Every response carries one: read the two numbers directly rather
        # than build the node's whole status.
        return ResponseHeader(
            cluster_id=self.cluster_id, member_id=self.node.id, revision=self.machine.revision,
            raft_term=self.node.term,
        )

    # -- the leader's lease duties ----------------------------------------------------------

    def _leadership_changed(self, leads: bool) -> None:
        """The node became leader (in a new term) or stopped being leader
        (``RaftNode.add_leadership_listener``): the lease clock follows at
        once, so a member that loses and wins leadership again never keeps
        deadlines from an earlier term."""
        if leads:
            # A new leader does not know how long ago each lease was renewed:
            # it grants every lease a full TTL again, plus an election
            # timeout of grace, as etcd's lessor Promote does.
            self.clock.reset(self.machine.leases(), self.now())
            self.clock.promote(self.now(), extend=self.node.election_timeout_s)
        elif self.clock.is_leader:
            self.clock.demote()

    async def run_lease_expiry(self, interval: float = LEASE_CHECK_INTERVAL) -> None:
        """Until cancelled: as leader, propose a revoke for every lease whose
        deadline passed."""
        while True:
            self.check_leases_once()
            await asyncio.sleep(interval)

    def check_leases_once(self) -> list[int]:
        """One round of ``run_lease_expiry``; returns the leases whose revoke
        was proposed (the proposals complete in the background)."""
        if not self.node.is_leader or not self.clock.is_leader:
            return []
        expired = self.clock.expired(self.now(), limit=MAX_REVOKES_PER_CHECK)
        for lease_id in expired:
            task = asyncio.get_running_loop().create_task(self._revoke_expired(lease_id))
            task.add_done_callback(_log_failure)
        return expired

    async def _revoke_expired(self, lease_id: int) -> None:
        try:
            await self._propose(LeaseRevokeRequest(ID=lease_id))
        except LeaseNotFoundError:
            pass  # revoked meanwhile by a client
        except (NotLeaderError, TimeoutError) as exc:
            # The clock returns it again after its retry interval if it is
            # still there and we still lead.
            logger.info("revoke of expired lease %x not completed: %s", lease_id, exc)


def _log_failure(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        logger.error("lease revoke task failed", exc_info=task.exception())
