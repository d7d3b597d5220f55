"""Per-peer counters of the transport, and the snapshot of them it reports."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class PeerStats:
    """One peer as seen by this member at the moment ``stats()`` was called.

    ``connected``: the outbound connection to the peer is up and authenticated.
    ``bytes_sent``/``messages_sent``: written to that connection (frames
    included; a message counts once it is handed to the socket).
    ``bytes_received``/``messages_received``: read from the peer's inbound
    connections; messages count when delivered.
    ``messages_dropped``: outbound messages that never reached the socket
    (queue full, peer down, connection lost with messages queued, too large).
    ``rtt_seconds``: the last ping/pong round trip, None until one completed.
    ``queued_messages``/``queued_bytes``: what waits in the outbound queue now.
    """

    connected: bool
    bytes_sent: int
    bytes_received: int
    messages_sent: int
    messages_received: int
    messages_dropped: int
    rtt_seconds: float | None
    queued_messages: int
    queued_bytes: int
    snapshots_sent: int
    snapshots_failed: int


class PeerCounters:
    """The mutable counters behind :class:`PeerStats`, shared by the peer's
    outbound sender and the inbound connections from it."""

    __slots__ = (
        "connected", "bytes_sent", "bytes_received", "messages_sent", "messages_received",
        "messages_dropped", "rtt_seconds", "snapshots_sent", "snapshots_failed",
    )

    def __init__(self) -> None:
        self.connected = False
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages_sent = 0
        self.messages_received = 0
        self.messages_dropped = 0
        self.rtt_seconds: float | None = None
        self.snapshots_sent = 0
        self.snapshots_failed = 0

    def snapshot(self, queued_messages: int, queued_bytes: int) -> PeerStats:
        return PeerStats(
            connected=self.connected,
            bytes_sent=self.bytes_sent,
            bytes_received=self.bytes_received,
            messages_sent=self.messages_sent,
            messages_received=self.messages_received,
            messages_dropped=self.messages_dropped,
            rtt_seconds=self.rtt_seconds,
            queued_messages=queued_messages,
            queued_bytes=queued_bytes,
            snapshots_sent=self.snapshots_sent,
            snapshots_failed=self.snapshots_failed,
        )
