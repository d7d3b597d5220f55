"""What one websocket has still to send, with a bound.

A connection's subscriptions ``put`` their messages, which are written to
the socket in order (at once when the socket is idle). When the outbox is
full (``max_messages`` or ``max_bytes``) a producer waits for room — the store's watch keeps what it has not taken
yet, within its own bound, re-reading history rather than buffering when a
watcher falls far behind — so a client that reads slowly but steadily, or
is catching up on a long backlog, is never cut off. One that makes no
progress for ``stall_seconds`` while messages wait for it is: ``put``
answers False and the connection closes the socket with ``SLOW_CONSUMER``
and the revisions to resume from (``resume_reason``). The server never
buffers without bound, and never drops a message and carries on.

The revisions in that reason are those of the last message of each
namespace that was written to the socket whole. uvicorn's websocket
protocol waits for the socket to be writable before it writes a frame and
then writes it at once, so a send cancelled while waiting wrote nothing:
everything up to the reported revision was sent, nothing after it. A close
frame queues behind those messages: a client that reads on gets them all,
then the close; one that has stopped reading altogether is cut off by the
server's ping timeout and resumes from the revision it applied last, which
is the one a client should trust anyway.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections import deque
from typing import Awaitable, Callable

from .eager import run_eagerly
from .frames import frame_of

logger = logging.getLogger(__name__)

# Close codes of the live websockets (4000-4999 are the application's).
UNAUTHENTICATED = 4001
FORBIDDEN = 4003
SLOW_CONSUMER = 4008
PROTOCOL_ERROR = 4400
TRY_AGAIN_LATER = 1013

MAX_REASON_BYTES = 123  # RFC 6455: a close frame's payload is at most 125 bytes, 2 of them the code


def close_reason(text: str) -> str:
    """``text`` cut to what a close frame can carry."""
    data = text.encode()
    if len(data) <= MAX_REASON_BYTES:
        return text
    return data[:MAX_REASON_BYTES - 3].decode(errors="ignore") + "..."


class Outbox:
    """Messages waiting for one websocket, written through when it is idle.

    There is no writer task while nothing waits: ``put_nowait`` on an idle
    outbox runs the socket's send at once (``eager.run_eagerly``), which
    finishes without waiting when the socket can take the frame, as it
    nearly always can. Only a send that has to wait gets a task, which
    then sends whatever queued behind it, in order, and ends."""

    def __init__(self, send: Callable[[str], Awaitable[None]], *, max_messages: int = 256,
                 max_bytes: int = 8 * 1024 * 1024, stall_seconds: float = 30.0,
                 write_frame: Callable[[bytes], bool] | None = None) -> None:
        self._send = send
        # The server's direct frame writer (``frames``), if it has one: a
        # message many sockets get is then framed once for all of them.
        self._write_frame = write_frame
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.stall_seconds = stall_seconds
        self._queue: deque[tuple[str, str | None, int]] = deque()
        self._bytes = 0
        self._writer: asyncio.Task | None = None  # only while a send waits
        self._waiting_send: asyncio.Task | None = None  # the send it waits for first
        self._stopped = False
        self._held = False  # queue, but write nothing (``hold``)
        self._progress = asyncio.Event()  # set after each message written
        # namespace -> revision of its last message written whole
        self.sent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._queue)

    def _full(self, size: int) -> bool:
        # An empty outbox takes any one message, however large.
        return bool(self._queue) and (len(self._queue) >= self.max_messages or self._bytes + size > self.max_bytes)

    def put_nowait(self, text: str, namespace: str | None = None, revision: int = 0) -> bool:
        """Queue ``text`` if there is room, and write it now if the socket
        is idle; False (nothing queued) if there is no room."""
        if self._full(len(text)):
            return False
        if self._stopped:
            return True  # the connection is going away: nothing is written any more
        self._queue.append((text, namespace, revision))
        self._bytes += len(text)
        if self._writer is None:
            self._write_through()
        return True

    async def put(self, text: str, namespace: str | None = None, revision: int = 0) -> bool:
        """Queue ``text``, waiting for room while the writer makes progress;
        False (nothing queued) once it has made none for ``stall_seconds``."""
        while self._full(len(text)):
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), self.stall_seconds)
            except asyncio.TimeoutError:
                return False
        return self.put_nowait(text, namespace, revision)

    def hold(self) -> None:
        """Write nothing more until ``release``; messages still queue (within
        the bound). For a connection whose access is being checked again:
        what it may no longer see must not reach it meanwhile. A frame
        already on its way to the socket is not called back."""
        self._held = True

    def release(self) -> None:
        self._held = False
        if self._writer is None:
            self._write_through()

    def drop(self, namespace: str) -> None:
        """Forget the queued messages of ``namespace`` (a subscription ended
        while held), except one a send is already writing."""
        in_flight = self._queue[0] if self._queue and self._writer is not None else None
        kept = deque(entry for entry in self._queue if entry[1] != namespace or entry is in_flight)
        self._bytes = sum(len(entry[0]) for entry in kept)
        self._queue = kept

    def _write_through(self) -> None:
        """Write queued messages in the caller until one has to wait; that
        one, and the rest, go to a writer task."""
        while self._queue and not self._stopped and not self._held:
            if self._write_frame is not None and self._write_frame(frame_of(self._queue[0][0])):
                self._written()
                continue
            try:
                waiting = run_eagerly(self._send(self._queue[0][0]))
            except Exception as error:
                self._fail(error)
                return
            if waiting is not None:
                self._waiting_send = waiting
                self._writer = asyncio.create_task(self._write_after(waiting), name="live-outbox")
                return
            self._written()

    async def _write_after(self, waiting: asyncio.Task) -> None:
        try:
            await waiting
            self._waiting_send = None
            self._written()
            while self._queue and not self._stopped and not self._held:
                await self._send(self._queue[0][0])
                self._written()
        except asyncio.CancelledError:
            raise
        except Exception as error:
            self._fail(error)
        finally:
            self._writer = self._waiting_send = None

    def _written(self) -> None:
        text, namespace, revision = self._queue.popleft()
        self._bytes -= len(text)
        if namespace is not None:
            self.sent[namespace] = revision
        self._progress.set()

    def _fail(self, error: Exception) -> None:
        # The socket is gone (the client disconnected): the connection's
        # disconnect handler cleans up; nothing more can be written.
        logger.debug("live socket send failed: %r", error)
        self.stop()

    def stop(self) -> None:
        """Write nothing more: what is queued is dropped (a slow consumer's
        backlog, or a connection that is gone)."""
        self._stopped = True
        self._queue.clear()
        self._bytes = 0
        for task in (self._waiting_send, self._writer):
            if task is not None:
                task.cancel()

    def resume_reason(self, fallback: dict[str, int]) -> str:
        """The close reason for a slow consumer: the revision each namespace
        resumes from, as JSON if it fits in a close frame."""
        resume = {**fallback, **self.sent}
        reason = "slow consumer; resume with since=" + json.dumps(resume, separators=(",", ":"))
        if len(reason.encode()) <= MAX_REASON_BYTES:
            return reason
        return "slow consumer; resume from the revision you applied last"
