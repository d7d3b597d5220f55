"""The transport's limits and timings, checked once at construction."""
from __future__ import annotations

from dataclasses import dataclass

from .frames import DEFAULT_MAX_FRAME, HANDSHAKE_MAX_FRAME
from .snapshot_stream import DEFAULT_CHUNK_SIZE, DEFAULT_MAX_SNAPSHOT

# A batch frame is the kind byte, a msgpack array header (at most 5 bytes) and
# the messages: this much of a frame is never available to messages.
BATCH_OVERHEAD = 1 + 5


@dataclass(frozen=True, slots=True)
class TransportOptions:
    """Limits (bytes and counts) and timings (seconds).

    ``max_queue_messages``/``max_queue_bytes`` bound each peer's outbound queue
    (encoded sizes; a queued snapshot counts only its header, its data is the
    caller's immutable bytes, referenced and never copied whole).
    ``max_frame_bytes`` must be the same on every member: a receiver closes a
    connection that sends a larger frame, and a sender drops a message that
    cannot fit in one. ``ping_interval`` paces the RTT pings on an outbound
    connection; a connection that brings nothing back (no pong) for
    ``dead_peer_timeout`` is closed, and so is an inbound one that brings
    nothing in for as long, so a half-open TCP connection does not linger.
    Reconnects wait ``backoff_initial`` doubling up to ``backoff_max``, each
    delay scaled by a random factor in [0.5, 1) (jitter).
    """

    max_queue_messages: int = 4096
    max_queue_bytes: int = 64 << 20
    max_frame_bytes: int = DEFAULT_MAX_FRAME
    snapshot_chunk_bytes: int = DEFAULT_CHUNK_SIZE
    max_snapshot_bytes: int = DEFAULT_MAX_SNAPSHOT
    dial_timeout: float = 2.0
    handshake_timeout: float = 5.0
    ping_interval: float = 1.0
    dead_peer_timeout: float = 5.0
    backoff_initial: float = 0.05
    backoff_max: float = 1.0

    def __post_init__(self) -> None:
        for name in ("max_queue_messages", "max_queue_bytes", "max_snapshot_bytes"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.max_frame_bytes < 4 * HANDSHAKE_MAX_FRAME:
            raise ValueError(f"max_frame_bytes must be at least {4 * HANDSHAKE_MAX_FRAME}")
        if not 0 < self.snapshot_chunk_bytes <= self.max_frame_bytes - 4 * HANDSHAKE_MAX_FRAME:
            raise ValueError("snapshot_chunk_bytes must be positive and leave room in a frame for its header")
        for name in ("dial_timeout", "handshake_timeout", "ping_interval", "backoff_initial"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.dead_peer_timeout <= self.ping_interval:
            raise ValueError("dead_peer_timeout must be longer than ping_interval (pongs are what keep a connection alive)")
        if self.backoff_max < self.backoff_initial:
            raise ValueError("backoff_max must be at least backoff_initial")

    @property
    def max_message_bytes(self) -> int:
        """The largest encoded message that fits in a batch frame."""
        return self.max_frame_bytes - BATCH_OVERHEAD
