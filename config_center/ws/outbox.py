"""What one websocket has still to send, with a bound.

A connection's subscriptions ``put`` their messages; one writer task sends
them in order. When the outbox is full (``max_messages`` or ``max_bytes``)
a producer waits for room — the store's watch keeps what it has not taken
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
from collections import deque
from typing import Awaitable, Callable

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
    def __init__(self, send: Callable[[str], Awaitable[None]], *, max_messages: int = 256,
                 max_bytes: int = 8 * 1024 * 1024, stall_seconds: float = 30.0) -> None:
        self._send = send
        self.max_messages = max_messages
        self.max_bytes = max_bytes
        self.stall_seconds = stall_seconds
        self._queue: deque[tuple[str, str | None, int]] = deque()
        self._bytes = 0
        self._ready = asyncio.Event()
        self._progress = asyncio.Event()  # set by the writer after each send
        # namespace -> revision of its last message written whole
        self.sent: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._queue)

    def _full(self, size: int) -> bool:
        # An empty outbox takes any one message, however large.
        return bool(self._queue) and (len(self._queue) >= self.max_messages or self._bytes + size > self.max_bytes)

    def put_nowait(self, text: str, namespace: str | None = None, revision: int = 0) -> bool:
        """Queue ``text`` if there is room; False (nothing queued) if not."""
        if self._full(len(text)):
            return False
        self._queue.append((text, namespace, revision))
        self._bytes += len(text)
        self._ready.set()
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

    async def run(self) -> None:
        """The writer: sends queued messages in order until cancelled."""
        while True:
            if not self._queue:
                self._ready.clear()
                await self._ready.wait()
                continue
            text, namespace, revision = self._queue[0]
            await self._send(text)
            self._queue.popleft()
            self._bytes -= len(text)
            if namespace is not None:
                self.sent[namespace] = revision
            self._progress.set()

    def resume_reason(self, fallback: dict[str, int]) -> str:
        """The close reason for a slow consumer: the revision each namespace
        resumes from, as JSON if it fits in a close frame."""
        resume = {**fallback, **self.sent}
        reason = "slow consumer; resume with since=" + json.dumps(resume, separators=(",", ":"))
        if len(reason.encode()) <= MAX_REASON_BYTES:
            return reason
        return "slow consumer; resume from the revision you applied last"
