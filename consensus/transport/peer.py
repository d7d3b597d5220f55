"""The outbound side for one peer: a bounded queue, one connection, one writer.

Life of a peer sender (one task, :meth:`PeerSender._run`)::

    dial + handshake --ok--> connected: writer and pong reader run
          |                        | connection lost / no pong / address changed
          | failed                 v
          +-------------------> down: queue dropped, unreachable reported,
                                 wait backoff (doubling to backoff_max, jitter)
                                 --> dial again

Queueing (:meth:`enqueue`, synchronous, never blocks): while dialing or
connected a message is queued unless that would pass ``max_queue_messages`` or
``max_queue_bytes``; while down it is dropped at once. Every drop counts in
``messages_dropped`` and reports the peer unreachable, which makes the leader
stop pipelining appends to it and probe instead (etcd's ReportUnreachable);
Raft resends whatever was lost.

Writing: the writer takes *everything* queued, packs it into as few batch
frames as the frame limit allows, adds at most one snapshot chunk and a ping
when one is due, writes it all and waits for the socket to drain. It never
waits for more messages when it has some: batching comes only from what
accumulated during the previous write (no Nagle-like delay; TCP_NODELAY is on).

Snapshots: a SNAP message travels in the same queue (its header sized, its data
referenced) and, when the writer reaches it, is streamed one chunk per write,
interleaved with later batches (``snapshot_stream``). The peer's transport
acknowledges a delivered snapshot; ``report_snapshot(peer_id, ok)`` is called
with True on that acknowledgement and with False if the snapshot was dropped
(a newer SNAP arriving while one is still streaming is the one dropped),
refused by the receiver or cut off by a lost connection.
"""
from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections import deque
from typing import Callable

import msgpack

from consensus.raft.messages import Message

from .codec import join_batch
from .frames import HANDSHAKE_MAX_FRAME, HEADER_SIZE, FrameError, FrameKind, frame_header
from .handshake import NONCE_SIZE, DialerHandshake, HandshakeError, Identity
from .log_limit import RateLimitedLog
from .options import TransportOptions
from .snapshot_stream import SnapshotPayloads, SnapshotSender, SnapshotStreamError, decode_ack
from .stats import PeerCounters
from .stream import FramedStream

logger = logging.getLogger(__name__)


class PeerSender:
    """Sends to one peer; see the module docstring. All methods run on the
    event loop's thread."""

    def __init__(
        self,
        *,
        peer_id: int,
        host: str,
        port: int,
        identity: Identity,
        options: TransportOptions,
        counters: PeerCounters,
        report_unreachable: Callable[[int], None],
        report_snapshot: Callable[[int, bool], None],
        rng: random.Random,
        log: RateLimitedLog,
        payloads: SnapshotPayloads | None = None,
    ) -> None:
        self.peer_id = peer_id
        self._payloads = payloads
        self.host = host
        self.port = port
        self._identity = identity
        self._options = options
        self._counters = counters
        self._report_unreachable = report_unreachable
        self._report_snapshot = report_snapshot
        self._rng = rng
        self._log = log
        # (encoded message, or a snapshot's encoded header; the SNAP message or None)
        self._queue: deque[tuple[bytes, Message | None]] = deque()
        self._queued_bytes = 0
        self._accepting = True  # False while down (between a failure and the next dial)
        self._wake = asyncio.Event()
        self._address_changed = asyncio.Event()
        # Set when the peer connects to us while we wait to redial it: it is
        # up now, so the backoff is pointless (a member just added and started).
        self._retry_now = asyncio.Event()
        self._snapshot: SnapshotSender | None = None
        self._awaiting_ack: dict[int, SnapshotSender] = {}
        self._next_stream_id = 1
        self._ping_id = 0
        self._ping_sent_at: float | None = None  # of the outstanding ping
        self._last_ping_at = float("-inf")
        self._closed = False
        self._task: asyncio.Task[None] | None = None

    # -- called by the transport --------------------------------------------

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=f"raft-peer-{self.peer_id}")

    @property
    def queued_messages(self) -> int:
        return len(self._queue)

    @property
    def queued_bytes(self) -> int:
        return self._queued_bytes

    def enqueue(self, message: Message, encoded: bytes, snapshot: bool = False) -> bool:
        """Queue ``message`` (already ``encoded``; for a SNAP, its header) or
        drop it. Returns whether it was queued. Never blocks or raises."""
        reason = None
        size = len(encoded)
        if not self._accepting:
            reason = "peer is down"
        elif len(self._queue) >= self._options.max_queue_messages or self._queued_bytes + size > self._options.max_queue_bytes:
            reason = "outbound queue is full"
        elif size > self._options.max_message_bytes or (
            snapshot and size + self._options.snapshot_chunk_bytes + 64 > self._options.max_frame_bytes
        ):
            reason = f"message of {size} bytes does not fit in a frame of {self._options.max_frame_bytes}"
            logger.error("dropping %s to member %d: %s", message.type.name, self.peer_id, reason)
        if reason is not None:
            self._drop(1, reason, [message] if snapshot else [])
            return False
        self._queue.append((encoded, message if snapshot else None))
        self._queued_bytes += size
        self._wake.set()
        return True

    def nudge(self) -> None:
        """The peer has just connected to us: if we are waiting to redial
        it, redial now, with the backoff reset."""
        self._retry_now.set()

    def set_address(self, host: str, port: int) -> None:
        """Reconnect to a new address (a no-op if it is unchanged)."""
        if (host, port) != (self.host, self.port):
            self.host, self.port = host, port
            self._address_changed.set()

    async def close(self) -> None:
        """Stop: cancel the task, close the connection. No callback after this."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._queue.clear()
        self._queued_bytes = 0

    # -- the connection loop ------------------------------------------------

    async def _run(self) -> None:
        backoff = self._options.backoff_initial
        while True:
            self._accepting = True
            self._address_changed.clear()
            try:
                stream = await self._dial()
            except (OSError, HandshakeError, FrameError, EOFError) as exc:
                self._log.log(logging.WARNING, ("dial", self.peer_id, str(exc)),
                              "cannot connect to member %d at %s:%d: %s", self.peer_id, self.host, self.port, exc)
                self._go_down(lost=False)
            except Exception:  # a bug here must not silence the peer for good: log it and retry
                logger.exception("unexpected error connecting to member %d", self.peer_id)
                self._go_down(lost=False)
            else:
                backoff = self._options.backoff_initial
                logger.info("connected to member %d at %s:%d", self.peer_id, self.host, self.port)
                try:
                    await self._serve(stream)
                except (OSError, FrameError, SnapshotStreamError, EOFError) as exc:
                    self._log.log(logging.WARNING, ("lost", self.peer_id),
                                  "connection to member %d lost: %s", self.peer_id, exc)
                except Exception:
                    logger.exception("unexpected error on the connection to member %d", self.peer_id)
                finally:
                    stream.abort()
                    self._go_down(lost=True)
            delay = backoff * self._rng.uniform(0.5, 1.0)
            backoff = min(backoff * 2, self._options.backoff_max)
            # An address change, or the peer connecting to us, cuts the wait short.
            self._retry_now.clear()
            waits = [asyncio.ensure_future(self._address_changed.wait()), asyncio.ensure_future(self._retry_now.wait())]
            try:
                await asyncio.wait(waits, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for waiter in waits:
                    waiter.cancel()
            if self._retry_now.is_set():
                backoff = self._options.backoff_initial

    async def _dial(self) -> FramedStream:
        opts, me = self._options, self._identity
        async with asyncio.timeout(opts.dial_timeout):
            reader, writer = await asyncio.open_connection(self.host, self.port)
            stream = FramedStream(reader, writer, HANDSHAKE_MAX_FRAME)
            try:
                handshake = DialerHandshake(secret=me.secret, cluster_id=me.cluster_id, node_id=me.node_id,
                                            peer_id=self.peer_id, nonce=secrets.token_bytes(NONCE_SIZE))
                stream.write_frame(FrameKind.HANDSHAKE, handshake.hello())
                await stream.drain()
                stream.write_frame(FrameKind.HANDSHAKE, handshake.on_challenge(await _handshake_frame(stream)))
                await stream.drain()
                handshake.on_result(await _handshake_frame(stream))
            except BaseException:
                stream.abort()
                raise
        stream.max_frame = opts.max_frame_bytes
        return stream

    async def _serve(self, stream: FramedStream) -> None:
        """Run the writer and the pong reader until one of them fails (its
        exception is raised here), the address changes, or we are cancelled."""
        self._counters.connected = True
        self._ping_sent_at = None
        self._last_ping_at = float("-inf")  # ping at once: the RTT is known early
        tasks = [
            asyncio.create_task(self._write_loop(stream), name=f"raft-peer-{self.peer_id}-writer"),
            asyncio.create_task(self._read_loop(stream), name=f"raft-peer-{self.peer_id}-reader"),
            asyncio.create_task(self._address_changed.wait(), name=f"raft-peer-{self.peer_id}-address"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        for task in done:
            if not task.cancelled() and task.exception() is not None:
                raise task.exception()  # type: ignore[misc]
        logger.info("member %d moved to %s:%d; reconnecting", self.peer_id, self.host, self.port)

    def _go_down(self, *, lost: bool) -> None:
        """The connection failed or could not be made: drop what is queued
        (its recipient is unreachable; Raft will resend) and fail every
        snapshot in flight."""
        self._counters.connected = False
        if self._closed:
            return
        self._accepting = False
        snapshots = [m for _, m in self._queue if m is not None]
        dropped = len(self._queue)
        self._queue.clear()
        self._queued_bytes = 0
        for sender in ([self._snapshot] if self._snapshot else []) + list(self._awaiting_ack.values()):
            sender.close()
            snapshots.append(sender.message)
        self._snapshot = None
        self._awaiting_ack.clear()
        if dropped or snapshots or lost:
            self._drop(dropped, "connection lost" if lost else "peer is down", snapshots)

    def _drop(self, count: int, reason: str, snapshots: list[Message]) -> None:
        self._counters.messages_dropped += count
        if count:
            self._log.log(logging.WARNING, ("drop", self.peer_id, reason),
                          "dropped %d message(s) to member %d: %s", count, self.peer_id, reason)
        if self._closed:
            return
        self._report_unreachable(self.peer_id)
        for _ in snapshots:
            self._counters.snapshots_failed += 1
            self._report_snapshot(self.peer_id, False)

    # -- writer and reader ----------------------------------------------------

    async def _write_loop(self, stream: FramedStream) -> None:
        opts = self._options
        queue = self._queue
        max_batch = opts.max_message_bytes
        while True:
            now = time.monotonic()
            ping_due = self._ping_sent_at is None and now - self._last_ping_at >= opts.ping_interval
            if not queue and self._snapshot is None and not ping_due:
                self._wake.clear()
                wait = max(0.0, self._last_ping_at + opts.ping_interval - now) if self._ping_sent_at is None else opts.ping_interval
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                continue
            parts: list[bytes] = []
            batch: list[bytes] = []
            batch_size = 0
            messages = 0
            while queue:
                encoded, snap = queue.popleft()
                self._queued_bytes -= len(encoded)
                if snap is not None:
                    messages += len(batch)
                    _flush(parts, batch, opts.max_frame_bytes)
                    batch, batch_size = [], 0
                    self._start_snapshot(snap, encoded)
                    messages += 1
                    continue
                if batch and batch_size + len(encoded) > max_batch:
                    messages += len(batch)
                    _flush(parts, batch, opts.max_frame_bytes)
                    batch, batch_size = [], 0
                batch.append(encoded)
                batch_size += len(encoded)
            messages += len(batch)
            _flush(parts, batch, opts.max_frame_bytes)
            if self._snapshot is not None:
                sender = self._snapshot
                try:
                    chunk = sender.next_chunk()
                except OSError as exc:
                    # The payload file could not be read: this stream is
                    # lost (the receiver drops it when the next one starts);
                    # Raft sends another snapshot.
                    self._snapshot = None
                    sender.close()
                    self._snapshot_lost(f"its payload could not be read: {exc}")
                    chunk = None
                if chunk is not None:
                    parts += (frame_header(FrameKind.SNAPSHOT_CHUNK, len(chunk), opts.max_frame_bytes), chunk)
                    if sender.done:
                        self._awaiting_ack[sender.stream_id] = sender
                        self._snapshot = None
            if ping_due:
                self._ping_id += 1
                body = msgpack.packb((self._ping_id,))
                parts += (frame_header(FrameKind.PING, len(body)), body)
                self._ping_sent_at = self._last_ping_at = time.monotonic()
            stream.write_raw(parts)
            self._counters.bytes_sent += sum(map(len, parts))
            self._counters.messages_sent += messages
            await stream.drain()
            if queue or self._snapshot is not None:
                # drain() does not yield when the socket took everything; a
                # long snapshot must not starve the rest of the loop.
                await asyncio.sleep(0)

    def _start_snapshot(self, message: Message, header: bytes) -> None:
        if self._snapshot is not None:
            # Finish the one in flight and drop the newer one: Raft retries a
            # snapshot on a timer, and a large one that takes longer to stream
            # than that timer would otherwise be replaced, again and again,
            # before it ever arrives. Once the older one is installed the
            # leader catches the follower up from there (by log, or by
            # another snapshot if the log moved on).
            logger.info("snapshot to member %d still streaming; dropped a newer one", self.peer_id)
            self._counters.snapshots_failed += 1
            if not self._closed:
                self._report_snapshot(self.peer_id, False)
            return
        stream_id = self._next_stream_id
        self._next_stream_id += 1
        assert message.snapshot is not None
        try:
            payload = self._payloads.payload_file(message.snapshot) if self._payloads is not None else None
            self._snapshot = SnapshotSender(message, stream_id, self._options.snapshot_chunk_bytes,
                                            header=header, payload_file=payload)
        except (OSError, ValueError) as exc:
            # e.g. pruned by a newer snapshot before the stream began.
            self._snapshot_lost(f"its payload cannot be opened: {exc}")
            return
        logger.info("streaming snapshot index=%d (%d bytes) to member %d",
                    message.snapshot.metadata.index, self._snapshot.total, self.peer_id)

    def _snapshot_lost(self, reason: str) -> None:
        logger.warning("snapshot to member %d not sent: %s", self.peer_id, reason)
        self._counters.snapshots_failed += 1
        if not self._closed:
            self._report_snapshot(self.peer_id, False)

    async def _read_loop(self, stream: FramedStream) -> None:
        """Pongs and snapshot acknowledgements. Nothing for dead_peer_timeout
        (pings are sent every ping_interval) means the peer is gone."""
        timeout = self._options.dead_peer_timeout
        while True:
            try:
                async with asyncio.timeout(timeout):
                    kind, body = await stream.read_frame()
            except TimeoutError:
                raise ConnectionAbortedError(f"no answer from member {self.peer_id} for {timeout} s") from None
            self._counters.bytes_received += HEADER_SIZE + len(body)
            if kind == FrameKind.PONG:
                self._on_pong(body)
            elif kind == FrameKind.SNAPSHOT_ACK:
                stream_id, ok = decode_ack(body)
                sender = self._awaiting_ack.pop(stream_id, None)
                if sender is None:
                    continue  # the ack of a snapshot we already gave up on
                if ok:
                    self._counters.snapshots_sent += 1
                else:
                    self._counters.snapshots_failed += 1
                    logger.warning("member %d did not accept snapshot stream %d", self.peer_id, stream_id)
                if not self._closed:
                    self._report_snapshot(self.peer_id, ok)
            else:
                raise FrameError(f"unexpected {kind.name} frame from member {self.peer_id}'s listener")

    def _on_pong(self, body: memoryview) -> None:
        try:
            (ping_id,) = msgpack.unpackb(body)
        except Exception:
            raise FrameError("malformed pong") from None
        if ping_id == self._ping_id and self._ping_sent_at is not None:
            self._counters.rtt_seconds = time.monotonic() - self._ping_sent_at
            self._ping_sent_at = None
            self._wake.set()  # the writer may be waiting for the next ping time


def _flush(parts: list[bytes], batch: list[bytes], max_frame: int) -> None:
    if batch:
        body = join_batch(batch)
        parts += (frame_header(FrameKind.MESSAGES, len(body), max_frame), body)


async def _handshake_frame(stream: FramedStream) -> memoryview:
    kind, body = await stream.read_frame()
    if kind != FrameKind.HANDSHAKE:
        raise HandshakeError(f"expected a handshake frame, got {kind.name}")
    return body
