"""The listener: accepts peers' connections, authenticates them, delivers.

Per connection: handshake (within ``handshake_timeout``, frames limited to
``HANDSHAKE_MAX_FRAME``), then a read loop until the connection ends. The
connection is bound to the member id the handshake authenticated; a message
is delivered only if

- that member is still a peer (a removed member's messages are dropped and
  logged, rate-limited, and its connections are closed by ``disconnect``),
- the message's ``frm`` is that member (one member cannot speak for another),
- the message's ``to`` is this member.

The listener answers pings with pongs and streamed snapshots with an ack on
the same connection; nothing else is ever written to it. A frame that breaks
the framing, a batch that does not decode, or a bad snapshot stream closes the
connection (the dialer reconnects; what it had sent is lost and Raft resends).
A newer authenticated connection from the same member replaces the older one.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from typing import Callable

from consensus.raft.messages import Message

from .codec import CodecError, decode_batch
from .discovery import Lookup, answer_discovery, is_discover
from .frames import HANDSHAKE_MAX_FRAME, HEADER_SIZE, FrameError, FrameKind
from .handshake import NONCE_SIZE, HandshakeError, HandshakeRefused, Identity, ListenerHandshake
from .log_limit import RateLimitedLog
from .options import TransportOptions
from .snapshot_stream import SnapshotAssembler, SnapshotPayloads, SnapshotStreamError, encode_ack
from .stats import PeerCounters
from .stream import FramedStream

logger = logging.getLogger(__name__)

_MAX_PING_BODY = 64


class PeerListener:
    """Accepts peer connections. ``is_peer(id)`` and ``counters(id)`` reflect
    the transport's current peers; ``deliver(message)`` is called on the loop
    for each accepted message, in the order the peer sent them."""

    def __init__(
        self,
        *,
        identity: Identity,
        options: TransportOptions,
        is_peer: Callable[[int], bool],
        counters: Callable[[int], PeerCounters | None],
        deliver: Callable[[Message], None],
        log: RateLimitedLog,
        lookup_member: Lookup | None = None,
        on_authenticated: Callable[[int], None] = lambda peer_id: None,
        payloads: SnapshotPayloads | None = None,
    ) -> None:
        self._identity = identity
        self._payloads = payloads
        self._options = options
        self._is_peer = is_peer
        self._counters = counters
        self._deliver = deliver
        self._log = log
        self._lookup_member = lookup_member
        self._on_authenticated = on_authenticated
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task] = set()
        self._by_peer: dict[int, asyncio.Task] = {}
        self._closed = False

    async def start(self, host: str, port: int) -> None:
        """Bind and listen; raises OSError if the address is taken."""
        self._server = await asyncio.start_server(self._handle, host, port)

    @property
    def address(self) -> tuple[str, int]:
        if self._server is None or not self._server.sockets:
            raise RuntimeError("the peer listener is not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return host, port

    def disconnect(self, peer_id: int) -> None:
        """Close the authenticated connection from ``peer_id``, if any."""
        task = self._by_peer.pop(peer_id, None)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        """Stop listening and end every connection; returns when all are done."""
        self._closed = True
        if self._server is not None:
            self._server.close()
        # A connection accepted just before may have a handler task that has
        # not run yet: it sees _closed and ends at once, but wait for it too.
        await asyncio.sleep(0)
        while self._handlers:
            handlers = list(self._handlers)
            for task in handlers:
                task.cancel()
            await asyncio.gather(*handlers, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()
        self._by_peer.clear()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        if self._closed:
            writer.transport.abort()
            return
        self._handlers.add(task)
        stream = FramedStream(reader, writer, HANDSHAKE_MAX_FRAME)
        peer_id = None
        try:
            async with asyncio.timeout(self._options.handshake_timeout):
                first = await _handshake_frame(stream)
            if is_discover(first):
                # A member joining after ``member add`` asks for its ID.
                url = await answer_discovery(stream, first, secret=self._identity.secret,
                                             lookup=self._lookup_member, timeout=self._options.handshake_timeout)
                logger.info("told the member joining from %s its ID (peer URL %s)", stream.peername, url)
                return
            peer_id = await self._handshake(stream, first)
            older = self._by_peer.get(peer_id)
            if older is not None:
                older.cancel()
            self._by_peer[peer_id] = task
            logger.info("member %d connected from %s", peer_id, stream.peername)
            self._on_authenticated(peer_id)
            await self._serve(stream, peer_id)
        except asyncio.CancelledError:
            pass  # closed by us: transport closing, peer removed or replaced
        except HandshakeError as exc:
            self._log.log(logging.WARNING, ("refused", stream.peername.rsplit(":", 1)[0], str(exc)),
                          "refused a peer connection from %s: %s", stream.peername, exc)
        except (OSError, FrameError, CodecError, SnapshotStreamError, EOFError) as exc:
            self._log.log(logging.WARNING, ("inbound", peer_id, type(exc).__name__),
                          "connection from member %s (%s) closed: %s", peer_id, stream.peername, exc)
        except Exception:
            logger.exception("unexpected error on the connection from member %s (%s)", peer_id, stream.peername)
        finally:
            if peer_id is not None and self._by_peer.get(peer_id) is task:
                del self._by_peer[peer_id]
            self._handlers.discard(task)
            stream.abort()

    async def _handshake(self, stream: FramedStream, first) -> int:
        me = self._identity
        handshake = ListenerHandshake(secret=me.secret, cluster_id=me.cluster_id, node_id=me.node_id,
                                      is_peer=self._is_peer, nonce=secrets.token_bytes(NONCE_SIZE))
        try:
            async with asyncio.timeout(self._options.handshake_timeout):
                stream.write_frame(FrameKind.HANDSHAKE, handshake.on_hello(first))
                await stream.drain()
                stream.write_frame(FrameKind.HANDSHAKE, handshake.on_proof(await _handshake_frame(stream)))
                await stream.drain()
        except HandshakeRefused as refused:
            with contextlib.suppress(Exception):
                stream.write_frame(FrameKind.HANDSHAKE, refused.reply)
                async with asyncio.timeout(1):
                    await stream.drain()
            claimed = handshake.claimed_id
            raise HandshakeError(f"{refused} (claimed member id {claimed})" if claimed else str(refused)) from None
        except TimeoutError:
            raise HandshakeError(f"no complete handshake within {self._options.handshake_timeout} s") from None
        except FrameError as exc:
            raise HandshakeError(f"bad frame during the handshake: {exc}") from None
        assert handshake.peer_id is not None
        stream.max_frame = self._options.max_frame_bytes
        return handshake.peer_id

    async def _serve(self, stream: FramedStream, peer_id: int) -> None:
        assembler = SnapshotAssembler(self._options.max_snapshot_bytes, self._payloads)
        try:
            await self._serve_frames(stream, peer_id, assembler)
        finally:
            assembler.close()  # a payload file left half written is deleted

    async def _serve_frames(self, stream: FramedStream, peer_id: int, assembler: SnapshotAssembler) -> None:
        timeout = self._options.dead_peer_timeout
        while True:
            try:
                async with asyncio.timeout(timeout):  # the dialer pings every ping_interval
                    kind, body = await stream.read_frame()
            except TimeoutError:
                raise ConnectionAbortedError(f"nothing received for {timeout} s") from None
            counters = self._counters(peer_id)
            if counters is not None:
                counters.bytes_received += HEADER_SIZE + len(body)
            if kind == FrameKind.MESSAGES:
                for message in decode_batch(body):
                    self._accept(peer_id, message, counters)
            elif kind == FrameKind.SNAPSHOT_CHUNK:
                done = assembler.feed(body)
                if done is not None:
                    stream_id, finish = done
                    # fsyncs the payload file: off the loop.
                    message = await asyncio.to_thread(finish)
                    ok = self._accept(peer_id, message, counters)
                    stream.write_frame(FrameKind.SNAPSHOT_ACK, encode_ack(stream_id, ok))
                    await stream.drain()
            elif kind == FrameKind.PING:
                if len(body) > _MAX_PING_BODY:
                    raise FrameError(f"ping of {len(body)} bytes")
                stream.write_frame(FrameKind.PONG, bytes(body))
                await stream.drain()  # a peer that never reads its pongs is throttled, not buffered
            else:
                raise FrameError(f"unexpected {kind.name} frame from a dialer")

    def _accept(self, peer_id: int, message: Message, counters: PeerCounters | None) -> bool:
        """Deliver ``message`` if it passes the checks in the module docstring."""
        if counters is None or not self._is_peer(peer_id):
            self._log.log(logging.WARNING, ("removed", peer_id),
                          "dropped %s from member %d, which is no longer a peer", message.type.name, peer_id)
            return False
        if message.frm != peer_id:
            self._log.log(logging.WARNING, ("frm", peer_id),
                          "dropped %s claiming to be from member %d on member %d's connection",
                          message.type.name, message.frm, peer_id)
            return False
        if message.to != self._identity.node_id:
            self._log.log(logging.WARNING, ("to", peer_id),
                          "dropped %s from member %d addressed to member %d (this is member %d)",
                          message.type.name, peer_id, message.to, self._identity.node_id)
            return False
        try:
            self._deliver(message)
        except Exception:
            logger.exception("deliver() failed for %s from member %d", message.type.name, peer_id)
            return False
        counters.messages_received += 1
        return True


async def _handshake_frame(stream: FramedStream) -> memoryview:
    kind, body = await stream.read_frame()
    if kind != FrameKind.HANDSHAKE:
        raise HandshakeRefused(f"expected a handshake frame, got {kind.name}")
    return body

