"""ReadIndex bookkeeping on the leader (Raft thesis §6.4).

A read request is recorded with the commit index at the time it arrived. The
leader then sends a heartbeat round carrying the request's context; once a
quorum has answered that round, no newer leader can have existed when the
request arrived, so every read whose index is at or below that point may be
served as soon as the state machine has applied it.

Requests are answered in arrival order: an acknowledgement for a later
context also confirms every earlier one, because the earlier heartbeat round
was sent before it.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from .messages import Message


@dataclass(slots=True)
class ReadIndexStatus:
    request: Message
    index: int
    acks: set[int] = field(default_factory=set)


class ReadOnly:
    def __init__(self) -> None:
        self._pending: dict[bytes, ReadIndexStatus] = {}
        self._queue: list[bytes] = []

    def add_request(self, index: int, request: Message) -> None:
        """Track ``request`` (identified by its context) with read ``index``.
        A context already pending is ignored: contexts must be unique."""
        ctx = request.context
        if ctx in self._pending:
            return
        self._pending[ctx] = ReadIndexStatus(request, index)
        self._queue.append(ctx)

    def recv_ack(self, node_id: int, context: bytes) -> set[int] | None:
        """Record that ``node_id`` answered the heartbeat round for ``context``;
        returns the set of nodes that answered it, or None if unknown."""
        status = self._pending.get(context)
        if status is None:
            return None
        status.acks.add(node_id)
        return status.acks

    def advance(self, context: bytes) -> list[ReadIndexStatus]:
        """Remove and return every request up to and including ``context``."""
        if context not in self._pending:
            return []
        cut = self._queue.index(context) + 1
        done = [self._pending.pop(ctx) for ctx in self._queue[:cut]]
        del self._queue[:cut]
        return done

    def last_pending_context(self) -> bytes:
        return self._queue[-1] if self._queue else b""

    def pending_count(self) -> int:
        return len(self._queue)
