"""Helpers for transport tests: real loopback sockets on port 0, bounded waits."""
from __future__ import annotations

import asyncio
import random
from typing import Awaitable, Callable

import msgpack

from consensus.raft.messages import Message, MessageType
from consensus.transport import PeerTransport
from consensus.transport.frames import FrameDecoder, FrameKind, encode_frame
from consensus.transport.handshake import _DIALER_LABEL, DialerHandshake, ListenerHandshake, proof

SECRET = b"s" * 32
CLUSTER = 0xC0FFEE
HOST = "127.0.0.1"


def run(coro: Awaitable, timeout: float = 10.0):
    """Run a test coroutine on a fresh loop, bounded by ``timeout``."""

    async def bounded():
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


async def eventually(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
    """Poll ``predicate`` every few milliseconds until it holds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


class Member:
    """A transport plus what it delivered and reported."""

    def __init__(self, node_id: int, **kwargs) -> None:
        self.node_id = node_id
        self.delivered: list[Message] = []
        self.unreachable: list[int] = []
        self.snapshots: list[tuple[int, bool]] = []
        self.on_deliver: Callable[[Message], None] | None = None  # a test's reaction to each message
        kwargs.setdefault("secret", SECRET)
        kwargs.setdefault("cluster_id", CLUSTER)
        kwargs.setdefault("rng", random.Random(node_id))
        kwargs.setdefault("backoff_initial", 0.01)
        kwargs.setdefault("backoff_max", 0.05)
        self.transport = PeerTransport(
            node_id=node_id,
            deliver=self._deliver,
            on_unreachable=self.unreachable.append,
            on_snapshot_sent=lambda peer, ok: self.snapshots.append((peer, ok)),
            **kwargs,
        )

    def _deliver(self, message: Message) -> None:
        self.delivered.append(message)
        if self.on_deliver is not None:
            self.on_deliver(message)

    async def start(self, port: int = 0) -> "Member":
        await self.transport.start(HOST, port)
        return self

    @property
    def port(self) -> int:
        return self.transport.address[1]

    def knows(self, other: "Member") -> None:
        self.transport.set_peer(other.node_id, HOST, other.port)


async def cluster(*ids: int, **kwargs) -> list[Member]:
    """Started members that all know each other."""
    members = [await Member(i, **kwargs).start() for i in ids]
    for a in members:
        for b in members:
            if a is not b:
                a.knows(b)
    return members


async def close_all(members: list[Member]) -> None:
    await asyncio.gather(*(m.transport.close() for m in members))


def heartbeat(frm: int, to: int, commit: int = 0, term: int = 1) -> Message:
    return Message(MessageType.HEARTBEAT, to=to, frm=frm, term=term, commit=commit)


# -- raw peers speaking the protocol by hand (for misbehaving-peer tests) -------



class RawConnection:
    """A client connection driven frame by frame by the test."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.decoder = FrameDecoder(1 << 30)
        self.frames: list = []

    async def send(self, kind: FrameKind, body: bytes) -> None:
        self.writer.write(encode_frame(kind, body, 1 << 30))
        await self.writer.drain()

    async def recv(self, timeout: float = 5.0):
        """The next frame, or None if the connection closed."""
        while not self.frames:
            data = await asyncio.wait_for(self.reader.read(65536), timeout)
            if not data:
                return None
            self.frames.extend(self.decoder.feed(data))
        return self.frames.pop(0)

    async def closed_by_peer(self, timeout: float = 5.0) -> bool:
        """True once the other side closed (frames arriving meanwhile are skipped)."""
        try:
            while True:
                data = await asyncio.wait_for(self.reader.read(65536), timeout)
                if not data:
                    return True
        except (ConnectionError, OSError):
            return True

    def close(self) -> None:
        self.writer.transport.abort()


async def raw_dial(port: int, *, node_id: int, peer_id: int, secret: bytes = SECRET,
                   cluster_id: int = CLUSTER, nonce: bytes = b"n" * 32) -> tuple[RawConnection, object]:
    """Connect and run the dialer side of the handshake by hand. The proof is
    sent even if the listener's own proof does not verify (so a dialer with a
    wrong secret reaches the listener's check). Returns the connection and the
    listener's last frame (WELCOME, REFUSED) or None if it closed."""
    reader, writer = await asyncio.open_connection(HOST, port)
    conn = RawConnection(reader, writer)
    handshake = DialerHandshake(secret=secret, cluster_id=cluster_id, node_id=node_id, peer_id=peer_id, nonce=nonce)
    await conn.send(FrameKind.HANDSHAKE, handshake.hello())
    frame = await conn.recv()
    if frame is None:
        return conn, None
    fields = msgpack.unpackb(frame[1])
    if fields[0] != "challenge":
        return conn, frame
    mine = proof(secret, _DIALER_LABEL, cluster_id, node_id, peer_id, nonce, fields[1])
    await conn.send(FrameKind.HANDSHAKE, msgpack.packb(["proof", mine]))
    return conn, await conn.recv()


class RawListener:
    """A hand-driven listener: accepts, optionally completes the handshake
    (accepting any dialer), then records every frame it reads (``read``), or
    stops reading altogether. ``close_after`` closes a connection after that
    many frames."""

    def __init__(self, *, node_id: int, handshake: bool = True, read: bool = True,
                 close_after: int | None = None) -> None:
        self.node_id = node_id
        self.handshake = handshake
        self.read = read
        self.close_after = close_after
        self.frames: list[tuple[FrameKind, bytes]] = []
        self.connections = 0
        self._tasks: set = set()
        self._server = None

    async def start(self) -> "RawListener":
        self._server = await asyncio.start_server(self._handle, HOST, 0)
        return self

    @property
    def port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    def kinds(self, kind: FrameKind) -> list[bytes]:
        return [body for k, body in self.frames if k == kind]

    async def _handle(self, reader, writer):
        self._tasks.add(asyncio.current_task())
        self.connections += 1
        conn = RawConnection(reader, writer)
        try:
            if self.handshake:
                listener = ListenerHandshake(secret=SECRET, cluster_id=CLUSTER, node_id=self.node_id,
                                             is_peer=lambda _: True, nonce=b"l" * 32)
                _, body = await conn.recv()
                await conn.send(FrameKind.HANDSHAKE, listener.on_hello(body))
                _, body = await conn.recv()
                await conn.send(FrameKind.HANDSHAKE, listener.on_proof(body))
            if not self.read:
                await asyncio.sleep(3600)
            count = 0
            while (frame := await conn.recv(timeout=3600)) is not None:
                self.frames.append((frame[0], bytes(frame[1])))
                count += 1
                if self.close_after is not None and count >= self.close_after:
                    break
        except (asyncio.CancelledError, ConnectionError, asyncio.TimeoutError):
            pass
        finally:
            conn.close()

    async def stop(self) -> None:
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()
