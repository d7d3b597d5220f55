"""The peer transport facade the node runtime uses.

Connections: each member dials each of its peers and writes its Raft traffic
on that one outbound connection; it reads its peers' traffic on the
connections they dialed to its listener. So two members share two TCP
connections, one per direction, like etcd's rafthttp streams.

Threading: every method runs on the event loop's thread (``send`` included);
callbacks are called on the loop, never from inside ``send``, so the node may
call into its Raft core from them without re-entering its own ready handling.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Callable, Iterable

from consensus.raft.messages import LOCAL_MESSAGES, Message, MessageType

from .codec import CodecError, encode_message
from .handshake import Identity
from .log_limit import RateLimitedLog
from .frames import DEFAULT_MAX_FRAME
from .options import TransportOptions
from .discovery import Lookup
from .peer import PeerSender
from .server import PeerListener
from .snapshot_stream import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_SNAPSHOT, SnapshotPayloads, snapshot_header
from .stats import PeerCounters, PeerStats

logger = logging.getLogger(__name__)


class PeerTransport:
    """Sends Raft messages to peers and delivers theirs.

    ``deliver(message)`` is called on the loop for each inbound message from
    an authenticated, current peer whose ``frm`` is that peer and whose ``to``
    is ``node_id``, in the order that peer sent them (a SNAP message arrives
    once all its chunks have; see ``snapshot_stream`` for how it orders with
    the rest). It must not block; the node typically puts the message on its
    input queue and steps it from its owner task.

    ``on_unreachable(peer_id)``: a message to ``peer_id`` was dropped (queue
    full, peer down, unknown peer, too large) or may have been lost (its
    connection broke). Call the Raft core's ``report_unreachable``. Reports
    are coalesced: at most one per peer per loop iteration.

    ``on_snapshot_sent(peer_id, ok)``: a SNAP message was delivered to the
    peer's transport and handed to its ``deliver`` (True), or it failed
    (False: dropped, replaced by a newer snapshot, refused by the receiver, or
    cut off). Raft's own retry (the follower is probed again after an election
    timeout in snapshot state) covers a failure; the node may also report it.

    ``payloads``: where snapshot payload files are (the member's
    ``DurableStorage``; ``snapshot_stream.SnapshotPayloads``): a snapshot
    referring to one is streamed from that file and received into a new
    one. Without it, only snapshots holding their data inline are sent and
    received.

    ``secret`` authenticates members to each other (every member needs the
    same one; 32 random bytes are plenty) and ``cluster_id`` keeps members of
    different clusters apart; see ``handshake``. The limits and timings are
    explained on :class:`TransportOptions`; ``rng`` only jitters reconnects.

    ``lookup_member(peer_url)``: (member id, cluster id) of the member added
    with that peer URL, or None; answers members joining after ``member
    add`` (see ``discovery``). Without it such requests are refused.
    """

    def __init__(
        self,
        *,
        node_id: int,
        cluster_id: int,
        secret: bytes,
        deliver: Callable[[Message], None],
        on_unreachable: Callable[[int], None] = lambda peer_id: None,
        on_snapshot_sent: Callable[[int, bool], None] = lambda peer_id, ok: None,
        max_queue_messages: int = 4096,
        max_queue_bytes: int = 64 << 20,
        max_frame_bytes: int = DEFAULT_MAX_FRAME,
        snapshot_chunk_bytes: int = DEFAULT_CHUNK_SIZE,
        max_snapshot_bytes: int = DEFAULT_MAX_SNAPSHOT,
        dial_timeout: float = 2.0,
        handshake_timeout: float = 5.0,
        ping_interval: float = 1.0,
        dead_peer_timeout: float = 5.0,
        backoff_initial: float = 0.05,
        backoff_max: float = 1.0,
        rng: random.Random | None = None,
        lookup_member: Lookup | None = None,
        payloads: SnapshotPayloads | None = None,
    ) -> None:
        self._identity = Identity(node_id, cluster_id, secret)
        self._payloads = payloads
        self._options = TransportOptions(
            max_queue_messages=max_queue_messages,
            max_queue_bytes=max_queue_bytes,
            max_frame_bytes=max_frame_bytes,
            snapshot_chunk_bytes=snapshot_chunk_bytes,
            max_snapshot_bytes=max_snapshot_bytes,
            dial_timeout=dial_timeout,
            handshake_timeout=handshake_timeout,
            ping_interval=ping_interval,
            dead_peer_timeout=dead_peer_timeout,
            backoff_initial=backoff_initial,
            backoff_max=backoff_max,
        )
        self._deliver = deliver
        self._on_unreachable = on_unreachable
        self._on_snapshot_sent = on_snapshot_sent
        self._rng = rng or random.Random()
        self._log = RateLimitedLog(logging.getLogger("consensus.transport"))
        self._peers: dict[int, PeerSender] = {}
        self._counters: dict[int, PeerCounters] = {}
        self._unreachable: set[int] = set()
        self._unreachable_scheduled = False
        self._closed = False
        self._closing: set[asyncio.Task] = set()  # senders of removed peers, shutting down
        self._listener = PeerListener(
            identity=self._identity,
            options=self._options,
            is_peer=self._counters.__contains__,
            counters=self._counters.get,
            deliver=deliver,
            log=self._log,
            lookup_member=lookup_member,
            on_authenticated=self._peer_is_up,
            payloads=payloads,
        )
        self._started = False

    @property
    def node_id(self) -> int:
        return self._identity.node_id

    @property
    def options(self) -> TransportOptions:
        return self._options

    async def start(self, host: str, port: int) -> None:
        """Bind the listener. Raises OSError if the address is taken or
        invalid. Peers may be set before or after."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        if self._started:
            raise RuntimeError("the transport is already started")
        await self._listener.start(host, port)
        self._started = True
        logger.info("member %d listening for peers on %s:%d", self.node_id, *self.address)

    @property
    def address(self) -> tuple[str, int]:
        """The bound (host, port); raises RuntimeError before :meth:`start`."""
        return self._listener.address

    def set_peer(self, peer_id: int, host: str, port: int) -> None:
        """Add a peer, or move it to a new address (its connection is
        re-established). Must be called on the running loop."""
        if self._closed:
            raise RuntimeError("the transport is closed")
        if peer_id == self.node_id or peer_id <= 0:
            raise ValueError(f"{peer_id} cannot be a peer of member {self.node_id}")
        peer = self._peers.get(peer_id)
        if peer is not None:
            peer.set_address(host, port)
            return
        counters = PeerCounters()
        peer = PeerSender(
            peer_id=peer_id,
            host=host,
            port=port,
            identity=self._identity,
            options=self._options,
            counters=counters,
            report_unreachable=self._report_unreachable,
            report_snapshot=self._report_snapshot,
            rng=self._rng,
            log=self._log,
            payloads=self._payloads,
        )
        self._counters[peer_id] = counters
        self._peers[peer_id] = peer
        peer.start()

    def _peer_is_up(self, peer_id: int) -> None:
        peer = self._peers.get(peer_id)
        if peer is not None:
            peer.nudge()

    def remove_peer(self, peer_id: int) -> None:
        """Forget ``peer_id``: stop sending to it, close its connections, and
        drop (and log, rate-limited) anything it still sends. A no-op for an
        unknown id."""
        peer = self._peers.pop(peer_id, None)
        self._counters.pop(peer_id, None)
        self._listener.disconnect(peer_id)
        if peer is not None:
            task = asyncio.get_running_loop().create_task(peer.close(), name=f"raft-peer-{peer_id}-close")
            self._closing.add(task)
            task.add_done_callback(self._closing.discard)

    def send(self, messages: Iterable[Message]) -> None:
        """Queue each message for its ``to`` peer, in order. Never blocks and
        never raises for a peer that is down, unknown or overloaded: such a
        message is dropped, counted and reported through ``on_unreachable``.
        Raises ValueError for a local message type or a message that cannot be
        encoded (a caller bug)."""
        if self._closed:
            return
        for message in messages:
            if message.type in LOCAL_MESSAGES:
                raise ValueError(f"{message.type.name} is local to a node and is never sent")
            peer = self._peers.get(message.to)
            if peer is None:
                self._log.log(logging.WARNING, ("unknown-to", message.to),
                              "dropped %s to %d: not a peer of member %d", message.type.name, message.to, self.node_id)
                self._report_unreachable(message.to)
                continue
            is_snapshot = message.type == MessageType.SNAP and message.snapshot is not None
            try:
                encoded = snapshot_header(message, self._payloads) if is_snapshot else encode_message(message)
            except CodecError as exc:
                raise ValueError(str(exc)) from exc
            peer.enqueue(message, encoded, snapshot=is_snapshot)

    def stats(self) -> dict[int, PeerStats]:
        """Counters of every current peer (see :class:`PeerStats`)."""
        return {
            peer_id: self._counters[peer_id].snapshot(peer.queued_messages, peer.queued_bytes)
            for peer_id, peer in self._peers.items()
        }

    async def close(self) -> None:
        """Stop the listener and every peer; returns once every task the
        transport started has ended. No callback is called afterwards.
        Idempotent."""
        if self._closed:
            return
        self._closed = True
        peers = list(self._peers.values())
        self._peers.clear()
        self._counters.clear()
        await asyncio.gather(self._listener.close(), *(peer.close() for peer in peers))
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)

    # -- callbacks, always from the loop, never inside send() -------------------

    def _report_unreachable(self, peer_id: int) -> None:
        self._unreachable.add(peer_id)
        if not self._unreachable_scheduled:
            self._unreachable_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_unreachable)

    def _flush_unreachable(self) -> None:
        self._unreachable_scheduled = False
        peers, self._unreachable = sorted(self._unreachable), set()
        if self._closed:
            return
        for peer_id in peers:
            try:
                self._on_unreachable(peer_id)
            except Exception:
                logger.exception("on_unreachable(%d) failed", peer_id)

    def _report_snapshot(self, peer_id: int, ok: bool) -> None:
        asyncio.get_running_loop().call_soon(self._call_snapshot_sent, peer_id, ok)

    def _call_snapshot_sent(self, peer_id: int, ok: bool) -> None:
        if self._closed:
            return
        try:
            self._on_snapshot_sent(peer_id, ok)
        except Exception:
            logger.exception("on_snapshot_sent(%d, %s) failed", peer_id, ok)
