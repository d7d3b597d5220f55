"""Cluster membership as operators see it: member list, add, remove, promote.

Raft knows members only by ID (the configuration in the log). Their names
and URLs are kept, as in etcd, in the replicated store itself: one record per
member under ``system_keys.MEMBERS_PREFIX``. The records ride along in every
store snapshot, so a member that catches up from a snapshot learns where its
peers are. A record whose ID is not in the Raft configuration is ignored:
the configuration is the truth, records only describe it.

Each member writes (publishes) its own record once it sees a leader, so the
name and client URLs in the list are the ones the member itself runs with.

Adding a member: its record is written first, then the conf change is
proposed, whose context carries the peer address so that every member can
dial the newcomer the moment the change applies. Removal is the reverse.
"""
from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from consensus.member_identity import added_member_id
from consensus.node import NotLeaderError
from consensus.mvcc.api import DeleteRangeRequest, PutRequest, RangeRequest, StoreError
from consensus.mvcc.system_keys import MEMBERS_PREFIX
from consensus.raft.messages import ConfChange, ConfChangeType

logger = logging.getLogger(__name__)

# etcd promotes a learner only once its log is this close to the leader's.
LEARNER_READY_FRACTION = 0.9


class MemberNotFoundError(StoreError):
    grpc_code = 5
    message = "etcdserver: member not found"


class PeerURLExistsError(StoreError):
    grpc_code = 9
    message = "etcdserver: Peer URLs already exists"


class InvalidPeerURLError(StoreError):
    grpc_code = 3
    message = "etcdserver: given member URLs are invalid"


class MemberNotLearnerError(StoreError):
    grpc_code = 9
    message = "etcdserver: can only promote a learner member"


class LearnerNotReadyError(StoreError):
    grpc_code = 9
    message = "etcdserver: can only promote a learner member which is in sync with leader"


class NotEnoughStartedMembersError(StoreError):
    grpc_code = 2
    message = "etcdserver: re-configuration failed due to not enough started members"


class NotLeaderForMembershipError(StoreError):
    grpc_code = 14
    message = "etcdserver: not leader; send membership changes to the leader"


class NotLeaderForMoveError(StoreError):
    grpc_code = 9
    message = "etcdserver: not leader"


class BadLeaderTransfereeError(StoreError):
    grpc_code = 9
    message = "etcdserver: bad leader transferee"


class LeaderTransferTimeoutError(StoreError):
    grpc_code = 14
    message = "etcdserver: request timed out, leader transfer took too long"


def record_key(member_id: int) -> bytes:
    return MEMBERS_PREFIX + f"{member_id:016x}".encode()


def normalize_peer_url(text: str) -> str:
    """``host:port`` or ``scheme://host:port`` -> ``tcp://host:port`` (the peer
    transport is plain TCP, not HTTP). Raises InvalidPeerURLError."""
    text = str(text).strip()
    if "://" not in text:
        text = "tcp://" + text
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise InvalidPeerURLError() from None
    if parts.scheme not in ("tcp", "http", "https") or not parts.hostname or port is None or parts.path not in ("", "/"):
        raise InvalidPeerURLError()
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    return f"tcp://{host}:{port}"


def peer_host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(normalize_peer_url(url))
    return parts.hostname, parts.port


@dataclass(frozen=True, slots=True)
class MemberInfo:
    id: int
    name: str = ""
    peer_urls: tuple[str, ...] = ()
    client_urls: tuple[str, ...] = ()
    is_learner: bool = False
    # Where etcd's gRPC API is served (--listen-grpc): what the gRPC Cluster
    # service reports as a member's clientURLs, since etcd's clients dial
    # those over gRPC; the JSON gateway reports the HTTP ``client_urls``.
    grpc_urls: tuple[str, ...] = ()

    def to_record(self) -> bytes:
        record = {"id": str(self.id), "name": self.name, "peerURLs": list(self.peer_urls),
                  "clientURLs": list(self.client_urls)}
        if self.grpc_urls:
            record["grpcURLs"] = list(self.grpc_urls)
        return json.dumps(record, separators=(",", ":")).encode()

    @classmethod
    def from_record(cls, data: bytes) -> "MemberInfo":
        obj = json.loads(data)
        return cls(
            id=int(obj["id"]), name=obj.get("name", ""), peer_urls=tuple(obj.get("peerURLs", ())),
            client_urls=tuple(obj.get("clientURLs", ())), grpc_urls=tuple(obj.get("grpcURLs", ())),
        )


@dataclass(slots=True)
class ConfChangeContext:
    """What a membership change carries besides the ID: the newcomer's peer
    URL, and a nonce that makes the entry unique."""

    peer_url: str = ""
    nonce: str = field(default_factory=lambda: secrets.token_hex(8))

    def encode(self) -> bytes:
        return json.dumps({"peer": self.peer_url, "nonce": self.nonce}, separators=(",", ":")).encode()

    @classmethod
    def decode(cls, data: bytes) -> "ConfChangeContext":
        if not data:
            return cls(peer_url="", nonce="")
        obj = json.loads(data)
        return cls(peer_url=obj.get("peer", ""), nonce=obj.get("nonce", ""))


class ClusterMembers:
    """The membership service of one member. ``store`` is the
    ``ReplicatedStore``; ``self_info`` this member's own record."""

    def __init__(self, store, node, *, cluster_token: str, self_info: MemberInfo) -> None:
        self.store = store
        self.node = node
        self.cluster_token = cluster_token
        self.self_info = self_info

    # -- reading -------------------------------------------------------------------------

    def records(self) -> dict[int, MemberInfo]:
        """The member records this member holds (a local read)."""
        end = MEMBERS_PREFIX[:-1] + bytes([MEMBERS_PREFIX[-1] + 1])
        response = self.store.machine.range(RangeRequest(key=MEMBERS_PREFIX, range_end=end, serializable=True))
        found = {}
        for kv in response.kvs:
            try:
                info = MemberInfo.from_record(kv.value)
            except (ValueError, KeyError, TypeError):
                logger.warning("ignoring an unreadable member record at %r", kv.key)
                continue
            found[info.id] = info
        return found

    def members(self) -> list[MemberInfo]:
        """Every member of the current configuration, voters and learners,
        described by its record when there is one."""
        status = self.node.status()
        records = self.records()
        out = []
        for member_id in sorted(set(status.voters) | set(status.learners)):
            info = records.get(member_id, MemberInfo(id=member_id))
            if member_id == self.self_info.id and not info.name:
                info = self.self_info
            out.append(MemberInfo(
                id=member_id, name=info.name, peer_urls=info.peer_urls, client_urls=info.client_urls,
                is_learner=member_id in status.learners, grpc_urls=info.grpc_urls,
            ))
        return out

    async def list(self, *, linearizable: bool = True) -> list[MemberInfo]:
        if linearizable:
            await self.node.read_index()
        return self.members()

    # -- changing ----------------------------------------------------------------------------

    async def add(self, peer_urls: list[str], *, is_learner: bool = False, name: str = "") -> MemberInfo:
        if not peer_urls:
            raise InvalidPeerURLError()
        urls = tuple(normalize_peer_url(url) for url in peer_urls)
        await self.node.read_index()
        for member in self.members():
            if set(member.peer_urls) & set(urls):
                raise PeerURLExistsError()
        context = ConfChangeContext(peer_url=urls[0])
        member_id = added_member_id(urls[0], self.cluster_token, context.nonce)
        info = MemberInfo(id=member_id, name=name, peer_urls=urls, is_learner=is_learner)
        # The record first: the moment the change applies, the new member
        # must be describable and dialable.
        await self.store.put(PutRequest(key=record_key(member_id), value=info.to_record()))
        change_type = ConfChangeType.ADD_LEARNER if is_learner else ConfChangeType.ADD_NODE
        await self._propose(ConfChange(change_type, member_id, context.encode()))
        return info

    async def remove(self, member_id: int) -> None:
        await self.node.read_index()
        status = self.node.status()
        if member_id not in status.voters and member_id not in status.learners:
            raise MemberNotFoundError()
        if member_id in status.voters and len(status.voters) == 1:
            raise NotEnoughStartedMembersError()
        if member_id == self.node.id and self.node.is_leader:
            # A leader that removes itself would leave the others to wait out
            # an election timeout; it hands leadership over first, and the
            # change then goes to the new leader like any follower's. With two
            # voters it must: the other one, not knowing the removal committed,
            # would wait for the removed member's vote forever.
            if not await self.node.hand_over_leadership() and len(status.voters) == 2:
                raise LeaderTransferTimeoutError()
        # The record goes first: a member removing itself stops the moment
        # the change applies and could not write anything after it. A change
        # refused puts the record back; one whose outcome is unknown leaves
        # it out, which is harmless either way (a member without a record
        # is listed without its URLs until it restarts and writes it again).
        record = self.records().get(member_id)
        await self.store.delete_range(DeleteRangeRequest(key=record_key(member_id)))
        try:
            await self._propose(ConfChange(ConfChangeType.REMOVE_NODE, member_id, ConfChangeContext().encode()))
        except NotLeaderError:
            if record is not None:
                await self.store.put(PutRequest(key=record_key(member_id), value=record.to_record()))
            raise

    async def update(self, member_id: int, peer_urls: list[str]) -> MemberInfo:
        """etcd's MemberUpdate: new peer URLs for a member. The URLs live in
        the member's record (replicated like every key), not in Raft's
        configuration, so this is one write; every member points its
        transport at the new address as the record applies
        (``member.serve_member``). The member itself must be restarted with
        matching flags, as with etcd, or it publishes its old URL again."""
        if not peer_urls:
            raise InvalidPeerURLError()
        urls = tuple(normalize_peer_url(url) for url in peer_urls)
        await self.node.read_index()
        status = self.node.status()
        if member_id not in status.voters and member_id not in status.learners:
            raise MemberNotFoundError()
        for member in self.members():
            if member.id != member_id and set(member.peer_urls) & set(urls):
                raise PeerURLExistsError()
        record = self.records().get(member_id) or MemberInfo(id=member_id)
        updated = dataclasses.replace(record, peer_urls=urls)
        await self.store.put(PutRequest(key=record_key(member_id), value=updated.to_record()))
        if member_id == self.self_info.id:
            self.self_info = dataclasses.replace(self.self_info, peer_urls=urls)
        return next(m for m in self.members() if m.id == member_id)

    async def promote(self, member_id: int) -> MemberInfo:
        await self.node.read_index()
        status = self.node.status()
        if member_id not in status.voters and member_id not in status.learners:
            raise MemberNotFoundError()
        if member_id not in status.learners:
            raise MemberNotLearnerError()
        if not self.node.is_leader:
            raise NotLeaderForMembershipError()
        progress = self.node.raw.status().progress
        learner, leader = progress.get(member_id), progress.get(self.node.id)
        if learner is None or leader is None or learner.match < leader.match * LEARNER_READY_FRACTION:
            raise LearnerNotReadyError()
        await self._propose(ConfChange(ConfChangeType.ADD_NODE, member_id, ConfChangeContext().encode()))
        return next(m for m in self.members() if m.id == member_id)

    async def move_leader(self, target_id: int) -> None:
        """etcd's MoveLeader: hand leadership to voter ``target_id``; sent to
        the leader (as etcd, any other member answers "not leader")."""
        if not self.node.is_leader:
            raise NotLeaderForMoveError()
        if target_id == self.node.id:
            return  # leads already
        try:
            await self.node.move_leader(target_id)
        except ValueError:
            raise BadLeaderTransfereeError() from None
        except NotLeaderError:
            raise NotLeaderForMoveError() from None
        except TimeoutError:
            raise LeaderTransferTimeoutError() from None

    async def _propose(self, change: ConfChange) -> None:
        # A change proposed while another is in flight is refused by Raft
        # (one at a time); retry for a little while before giving up.
        for attempt in range(20):
            try:
                await self.node.propose_conf_change(change)
                return
            except NotLeaderError as error:
                if not isinstance(error, NotLeaderError) or "pending" not in str(error) or attempt == 19:
                    raise
                await asyncio.sleep(0.1)

    async def publish_self(self) -> None:
        """Write this member's record if it is missing or out of date.
        Retries until it succeeds (there may be no leader yet)."""
        delay = 0.1
        while True:
            current = self.records().get(self.self_info.id)
            if current == self.self_info:
                return
            try:
                await self.store.put(PutRequest(key=record_key(self.self_info.id), value=self.self_info.to_record()))
                return
            except Exception as error:  # no leader yet, timeout: try again
                logger.debug("publishing member record: %s", error)
                await asyncio.sleep(delay)
                # Short: clients find members' URLs (and followers the
                # leader's, to forward keep-alives) only once this is done.
                delay = min(delay * 2, 0.5)
