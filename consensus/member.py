"""One store member, assembled: WAL + Raft node + MVCC state machine +
lease clock + watch hub, run as tasks on the process's event loop.

This is the composition root of the store; ``runnode`` calls
``serve_member`` and everything else reaches the running store through
``local_store()``.
"""
from __future__ import annotations

import asyncio
import gc
import logging
import time
from dataclasses import dataclass, field

from consensus.mvcc.api import CompactedError, CompactionRequest, Limits, ResponseHeader, StoreError
from consensus.mvcc.auto_compaction import PeriodicCompaction, RevisionCompaction
from consensus.mvcc.lease_clock import LeaseClock
from consensus.mvcc.replicated_store import ReplicatedStore, StoreApplier
from consensus.mvcc.state_machine import StoreStateMachine
from consensus.mvcc.system_keys import MEMBERS_PREFIX
from consensus.mvcc.watch_hub import WatchHub
from consensus import metrics
from consensus.auth.authorizer import KeepaliveForwarding, OpenAuthorizer, StoreAuthorizer
from consensus.auth.bootstrap import bootstrap_root, write_root_password_file
from consensus.auth.routes import UNAUTHENTICATED_PATHS, build_auth_routes
from consensus.auth.service import AuthService
from consensus.auth.tokens import TokenSigner
from consensus.cluster import leader_forward
from consensus.cluster.member_routes import member_routes
from consensus.cluster.members import (
    ClusterMembers,
    ConfChangeContext,
    MemberInfo,
    normalize_peer_url,
    peer_host_port,
)
from consensus.node_config import AutoCompaction
from consensus.node import NotLeaderError, RaftNode, local_node, member_dir, register_local_node
from consensus.raft.messages import ConfChange, ConfChangeType, ConfState
from consensus.storage.durable import DurableStorage

logger = logging.getLogger(__name__)

STORE_FILE = "store.sqlite3"
# etcd sweeps lagging watchers every 100 ms.
WATCH_SYNC_INTERVAL = 0.1
# etcd's default is 10 minutes; a config center wants idle clients to know
# they are current much sooner.
WATCH_PROGRESS_INTERVAL = 5.0

_local_store: ReplicatedStore | None = None
_local_members: ClusterMembers | None = None
_local_transport = None
_local_services: "MemberServices | None" = None


def local_store() -> ReplicatedStore | None:
    """The store served by this process, while it runs."""
    return _local_store


def local_members() -> ClusterMembers | None:
    """This process's membership service, while its member runs."""
    return _local_members


@dataclass(frozen=True)
class MemberServices:
    """What the HTTP edge needs from the running member besides the store:
    the authorizer for the store API and the handlers of the auth and
    cluster endpoints (path -> handler; ``unauthenticated`` paths are
    served without asking who the caller is)."""

    authorizer: object
    routes: dict
    unauthenticated: frozenset = frozenset()
    auth_service: AuthService | None = None  # the auth calls, for the gRPC Auth service
    members: ClusterMembers | None = None  # membership, for the gRPC Cluster service (None: no cluster)


def local_services() -> MemberServices | None:
    """The running member's authorizer and extra routes."""
    return _local_services


def local_transport():
    """This process's peer transport, while its member runs."""
    return _local_transport


metrics.REGISTRY.register(metrics.MemberCollector(lambda: _local_store and _local_store.node, local_store, local_transport))


class PeerListenError(Exception):
    """The peer port cannot be bound; the message names the flag."""


# How long a member that applied its own removal keeps running (etcd: 1 s).
REMOVED_STOP_DELAY = 1.0


class MemberRemovedError(Exception):
    """This member was removed from the cluster; the process stops."""


@dataclass(frozen=True)
class ClusterSetup:
    """What a member of a cluster needs beyond its storage: who it is, the
    shared secret, where to listen for peers and where its peers are at
    bootstrap (``initial_peers``: member ID -> (host, port), others only)."""

    cluster_id: int
    secret: bytes
    cluster_token: str
    listen_peer: tuple[str, int]
    self_info: MemberInfo
    initial_peers: dict[int, tuple[str, int]] = field(default_factory=dict)


# Young-generation collections every 100,000 allocations instead of 700: the
# watch hub and the apply loop allocate many short-lived objects per event,
# and with the default threshold the collector ran often enough to dominate
# the fan-out tail (bench/README.md: 10,000 watchers, p99 65 ms -> 18 ms).
GC_THRESHOLDS = (100_000, 50, 1000)


def tune_gc() -> None:
    """Collector settings for a long-running member: move everything alive
    now (the key index just built, modules) out of the collector's sight,
    since it lives as long as the process, and collect young objects less
    often."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


async def serve_member(
    storage: DurableStorage, *, data_dir, node_id: int, peers: tuple[int, ...], heartbeat_ms: int,
    election_ms: int, snapshot_count: int, limits: Limits = Limits(), cluster: ClusterSetup | None = None,
    store_auth: bool = True, auto_compaction: AutoCompaction | None = None,
) -> None:
    """Run this process's member until cancelled; closes what it opened.
    Without ``cluster`` the member has no peer listener (a one-member
    cluster that can never grow, used by in-process tests).
    ``auto_compaction``: etcd's policy, if any (``run_auto_compaction``)."""
    global _local_store, _local_members, _local_transport, _local_services
    machine = StoreStateMachine.open(member_dir(data_dir) / STORE_FILE, limits=limits)
    tune_gc()
    clock = LeaseClock()
    applier = StoreApplier(machine, clock, time.monotonic)
    node_ref: list[RaftNode] = []

    cluster_id = cluster.cluster_id if cluster else 0

    def header(revision: int) -> ResponseHeader:
        return ResponseHeader(
            cluster_id=cluster_id, member_id=node_id, revision=revision,
            raft_term=node_ref[0].term if node_ref else 0,
        )

    hub = WatchHub.attach(machine, header=header)
    transport = None
    removed = asyncio.get_running_loop().create_future()
    members_ref: list[ClusterMembers] = []
    if cluster is not None:
        from consensus.transport import PeerTransport

        def lookup_member(peer_url: str):
            """Answer a member joining after ``member add``: its ID, if the
            configuration holds a member with that peer URL."""
            if not members_ref:
                return None
            try:
                wanted = normalize_peer_url(peer_url)
            except Exception:
                return None
            for info in members_ref[0].members():
                if wanted in info.peer_urls:
                    return info.id, cluster.cluster_id
            return None

        transport = PeerTransport(
            node_id=node_id, cluster_id=cluster.cluster_id, secret=cluster.secret,
            deliver=lambda message: node_ref[0].deliver(message),
            on_unreachable=lambda peer_id: node_ref[0].report_unreachable(peer_id),
            # A lost snapshot: stop waiting on it (Raft probes the follower again).
            on_snapshot_sent=lambda peer_id, ok: node_ref[0].report_snapshot(peer_id, ok),
            lookup_member=lookup_member,
            payloads=storage,  # snapshots stream from payload file to payload file
        )

    def on_conf_change(cc: ConfChange, conf_state: ConfState) -> None:
        if cc.type == ConfChangeType.REMOVE_NODE:
            if cc.node_id == node_id:
                logger.warning("this member (%x) was removed from the cluster; stopping in %.1f s",
                               node_id, REMOVED_STOP_DELAY)

                def stop() -> None:
                    if not removed.done():
                        removed.set_exception(MemberRemovedError(f"member {node_id:x} was removed from the cluster"))

                # Not at once, as etcd: a leader removed tells the others the
                # commit index as it steps down (they may not know the change
                # committed), and those messages must leave first.
                asyncio.get_running_loop().call_later(REMOVED_STOP_DELAY, stop)
            elif transport is not None:
                transport.remove_peer(cc.node_id)
            return
        if transport is None or cc.node_id == node_id:
            return
        peer_url = ConfChangeContext.decode(cc.context).peer_url
        if peer_url:
            transport.set_peer(cc.node_id, *peer_host_port(peer_url))

    def refresh_peers() -> None:
        """Peer addresses from the member records (after a restart or a
        snapshot, the conf changes that named them are not replayed)."""
        if transport is None or not members_ref:
            return
        status = node_ref[0].status()
        records = members_ref[0].records()
        for member_id in set(status.voters) | set(status.learners):
            if member_id == node_id:
                continue
            info = records.get(member_id)
            if info is not None and info.peer_urls:
                transport.set_peer(member_id, *peer_host_port(info.peer_urls[0]))

    def on_records_applied(revision: int, events: list) -> None:
        # A member record changed (MemberUpdate, a member publishing itself):
        # dial peers where their records now say.
        if any(event.kv.key.startswith(MEMBERS_PREFIX) for event in events):
            refresh_peers()

    machine.add_apply_listener(on_records_applied)

    def on_snapshot_restored() -> None:
        hub.on_restore()
        refresh_peers()

    node = RaftNode(
        node_id=node_id, peers=peers, storage=storage, state_machine=applier, heartbeat_ms=heartbeat_ms,
        election_ms=election_ms, snapshot_count=snapshot_count, transport=transport,
        on_conf_change=on_conf_change, on_snapshot_restored=on_snapshot_restored,
    )
    node_ref.append(node)
    store = ReplicatedStore(node, machine, applier, hub, limits=limits, cluster_id=cluster_id)
    tasks = []
    if cluster is not None:
        members = ClusterMembers(store, node, cluster_token=cluster.cluster_token, self_info=cluster.self_info)
        members_ref.append(members)
        for peer_id, (host, port) in cluster.initial_peers.items():
            transport.set_peer(peer_id, host, port)
        refresh_peers()
        try:
            await transport.start(*cluster.listen_peer)
        except OSError as error:
            host, port = cluster.listen_peer
            raise PeerListenError(f"--listen-peer: cannot listen on {host}:{port}: {error.strerror or error}") from None
        _local_members = members
        _local_transport = transport

        forwarding = KeepaliveForwarding(cluster.secret)

        async def forward_keepalive(leader_id: int, request):
            info = members.records().get(leader_id)
            if info is None or not info.client_urls:
                raise NotLeaderError("lease keep-alives are served by the leader, whose URL is not known yet", leader_id)
            try:
                return await leader_forward.forward_keepalive(
                    info.client_urls[0], request, authorization=forwarding.proof(request.ID))
            except leader_forward.ForwardError as error:
                raise NotLeaderError(f"lease keep-alive not forwarded: {error}", leader_id) from None

        store.forward_keepalive = forward_keepalive
        tasks.append(asyncio.create_task(members.publish_self(), name="publish-member"))
    # Auth: tokens are signed with a key derived from the cluster secret, so
    # any member verifies a token any other member issued.
    signer = TokenSigner(cluster.secret if cluster is not None else _process_secret())
    auth_service = AuthService(node, machine, signer, header=header, limits=limits)
    authorizer = (
        StoreAuthorizer(machine, signer, read_index=node.read_index, limits=limits,
                        forwarding=KeepaliveForwarding(cluster.secret) if cluster is not None else None)
        if store_auth else OpenAuthorizer()
    )
    routes = dict(build_auth_routes(auth_service))
    if members_ref:
        def member_header() -> dict:
            status = node.status()
            return {"cluster_id": str(cluster_id), "member_id": str(status.id), "raft_term": str(status.term)}

        routes.update(member_routes(members_ref[0], member_header, lambda user, kind: authorizer.authorize(user, kind, None)))
    _local_services = MemberServices(authorizer=authorizer, routes=routes, unauthenticated=frozenset(UNAUTHENTICATED_PATHS),
                                     auth_service=auth_service, members=members_ref[0] if members_ref else None)
    register_local_node(node)
    _local_store = store
    if store_auth:
        tasks.append(asyncio.create_task(_bootstrap_root_when_leader(node, auth_service, data_dir), name="auth-bootstrap"))
    tasks += [
        asyncio.create_task(node.run(), name="raft-node"),
        asyncio.create_task(store.run_lease_expiry(), name="lease-expiry"),
        asyncio.create_task(_watch_upkeep(hub), name="watch-upkeep"),
    ]
    if auto_compaction is not None:
        tasks.append(asyncio.create_task(run_auto_compaction(store, auto_compaction), name="auto-compaction"))
    background = {task for task in tasks if task.get_name() in ("publish-member", "auth-bootstrap")}
    try:
        # The first task to end (they only end by failing; publishing the
        # member record ends when done) ends the member.
        watched = [task for task in tasks if task not in background] + [removed]
        while True:
            done, _ = await asyncio.wait(watched + list(background), return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task in background:
                    background.discard(task)
                    task.result()
                    continue
                task.result()
                return
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if transport is not None:
            await transport.close()
        _local_store = None
        _local_members = None
        _local_transport = None
        _local_services = None
        register_local_node(None)
        hub.close()
        machine.close()
        storage.close()


def _process_secret() -> bytes:
    """A secret for in-process members without a cluster (tests): tokens
    they sign are good only in this process."""
    import secrets

    return secrets.token_bytes(32)


async def hand_over_leadership() -> None:
    """If this process's member leads others, hand leadership to the best
    of them (``RaftNode.hand_over_leadership``): for a graceful stop."""
    node = local_node()
    if node is not None and not node.stopped:
        await node.hand_over_leadership()


async def _bootstrap_root_when_leader(node: RaftNode, service: AuthService, data_dir) -> None:
    """On a new cluster, the first leader creates user ``root`` with a
    random password, enables auth, prints the password once and writes it
    to ``<data-dir>/root-password`` (0600). Ends once the auth state is
    known to be initialized (by this member or any other)."""
    while not node.stopped:
        if node.is_leader:
            try:
                password = await bootstrap_root(service)
            except Exception as error:  # not leader any more, timeout: try again
                if asyncio.current_task().cancelling():
                    # asyncio.wait_for (3.11) answers a cancel that races
                    # with its future's failure by raising the failure:
                    # the member is stopping, do not retry.
                    raise asyncio.CancelledError() from error
                logger.info("auth bootstrap not done yet: %s", error)
            else:
                if password is not None:
                    path = write_root_password_file(data_dir, password)
                    logger.warning(
                        "store auth is on: created user root with password %s (also written to %s); "
                        "this is the only time it is shown", password, path,
                    )
                return
        elif node.status().leader and not (await _auth_pristine(service)):
            return  # another member led and bootstrapped already
        await asyncio.sleep(0.2)


async def _auth_pristine(service: AuthService) -> bool:
    try:
        return (await service.state()).pristine
    except Exception:
        return True


def compaction_policy(wanted: AutoCompaction, now: float) -> PeriodicCompaction | RevisionCompaction:
    if wanted.mode == "periodic":
        return PeriodicCompaction(wanted.retention, now)
    return RevisionCompaction(int(wanted.retention))


async def run_auto_compaction(store: ReplicatedStore, wanted: AutoCompaction) -> None:
    """etcd's auto-compaction (``consensus.mvcc.auto_compaction``): every
    member samples its revision; the leader proposes the compactions. A
    failed proposal (leadership lost, a timeout) is logged and tried again
    at the next check."""
    loop = asyncio.get_running_loop()
    policy = compaction_policy(wanted, loop.time())
    while True:
        await asyncio.sleep(policy.interval)
        now = loop.time()
        target = policy.due(now, store.machine.revision)
        if target is None or not store.node.is_leader:
            continue
        try:
            await store.compact(CompactionRequest(revision=target))
        except CompactedError:
            pass  # done already, as etcd counts it
        except (StoreError, NotLeaderError, TimeoutError) as error:
            logger.warning("auto-compaction to revision %d failed (%s); trying again later", target, error)
            continue
        logger.info("auto-compaction: compacted to revision %d (%s retention %g)", target, wanted.mode,
                    wanted.retention)
        policy.done(now, target)


async def _watch_upkeep(hub: WatchHub) -> None:
    """Catch lagging watchers up and send progress notifications."""
    since_progress = 0.0
    while True:
        await asyncio.sleep(WATCH_SYNC_INTERVAL)
        hub.sync_watchers()
        since_progress += WATCH_SYNC_INTERVAL
        if since_progress >= WATCH_PROGRESS_INTERVAL:
            since_progress = 0.0
            hub.progress()
