"""The websocket protocol the node's client port speaks: uvicorn's
websockets-sansio protocol, plus what every websocket of the node is held
to (how many may be open, and how large a client's message may be) and one
ASGI extension for fan-out.

Bounds (``WebsocketCensus``). Every websocket, ``/ws/v1/config`` and
``/ws/v1/watch`` alike, is counted here from its upgrade until its
connection is lost, and a socket past either bound is accepted and at once
closed with 1013 (try again later) and a reason saying which bound:

- ``max_open`` websockets on the node, checked here at the upgrade, before
  any application sees it: each is a file descriptor, and running out of
  them would leave the store unable to open its own files;
- ``max_unauthenticated_per_address`` sockets of one client address
  *waiting for their client to authenticate*: an application that has
  nothing to check in the handshake and must wait for a message says so
  (the live consumer, whose client may send its token in ``hello``), and
  closes the socket if the census answers a reason; saying it is
  authenticated ends the wait. So one client cannot
  pin more than that many anonymous sockets, each for at most the live
  consumer's ``CONFIG_CENTER_LIVE_HELLO_SECONDS``. A socket whose handshake
  carries a token or session is not waiting: its check is the server's
  own, bounded in time, and ends in authentication or a close. Counting
  every socket from its upgrade instead would refuse a client's burst of
  valid handshakes (the benchmarks' swarms keep 100 in flight each; a
  fleet behind one NAT reconnects at once after a member fails) while
  their tokens are being checked.

The address is the TCP peer's, never a forwarded header a client could
make up: behind a proxy every client has the proxy's address, so raise the
per-address bound there. Applications speak to the census through the ASGI
extension ``node.websocket.census`` in the connection's scope (absent
under any other server, where nothing is bounded here):

    census = scope["extensions"]["node.websocket.census"]
    reason = census["wait_for_client"]()  # None, or why to close with 1013 now
    census["authenticated"]()             # waits no more; any number of times

Message size: a client's message may be at most ``MAX_CLIENT_MESSAGE_BYTES``
(what ``runtime_host`` gives uvicorn as ``ws_max_size``); a larger one
closes the connection with 1009. Clients of either socket send small
messages only: hello, subscribe, ack and keepalive, or one etcd watch
request.

A change pushed to 10,000 sockets is the same message 10,000 times. Through
ASGI, each copy goes through the server's ``send`` coroutine and is framed
again (the websockets library builds a frame object and serializes it), about
3 µs of Python per socket on this machine, a fifth of the fan-out. With the
extension ``node.websocket.write_frame`` in the connection's scope, an
application may instead hand over a text frame it built once, as bytes:

    write = scope["extensions"]["node.websocket.write_frame"]["write"]
    if not write(frame):   # False: not now; send the message through ASGI
        await send({"type": "websocket.send", "text": text})

``write`` writes the frame only while that is exactly what ``send`` would
do without waiting: the handshake is done, the connection is open, nothing
has closed it, no extension (compression) changes how frames look, and the
socket takes writes. Otherwise it writes nothing and answers False, and the
application falls back to ``send``, which waits or fails as ASGI says. The
application must not mix the two for one message stream out of order; the
live consumer's outbox writes one message at a time either way.
"""
from __future__ import annotations

import logging
import resource
from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.protocol import State

logger = logging.getLogger(__name__)

WRITE_FRAME_EXTENSION = "node.websocket.write_frame"
CENSUS_EXTENSION = "node.websocket.census"

# hello, subscribe, ack, keepalive and watch requests are a few hundred
# bytes; 64 KiB leaves room for many labels or a long key, and keeps one
# connection from making the server buffer uvicorn's default of 16 MiB.
MAX_CLIENT_MESSAGE_BYTES = 64 * 1024

DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS = 32
TRY_AGAIN_LATER = 1013


def default_max_open() -> int:
    """Three quarters of the process's open-file limit: a websocket is one
    file descriptor, and the rest is kept for the store's WAL and
    snapshots, its peers and HTTP clients. ``bench/loopback_cluster`` raises
    the limit to the hard one before starting nodes (20,000 on the bench
    machine: 15,000 websockets, for the 10,000-subscriber benchmark)."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1_000_000
    return max(1, soft * 3 // 4)


class Ticket:
    """One open websocket's place in the census: open, then perhaps
    waiting for its client, then perhaps authenticated, until released.
    Each step counts once however often it is called, and none after
    ``release``."""

    __slots__ = ("_census", "address", "authenticated", "released", "waiting")

    def __init__(self, census: WebsocketCensus, address: str) -> None:
        self._census = census
        self.address = address
        self.waiting = self.authenticated = self.released = False

    def wait_for_client(self) -> str | None:
        """Count this socket among its address's waiting ones; None if it
        may wait, else the reason to close it with (the address has its
        bound of them already, or the socket is done with waiting)."""
        if self.waiting:
            return None
        if self.authenticated or self.released:
            return "this websocket is not waiting for authentication any more"
        census = self._census
        if census.waiting.get(self.address, 0) >= census.max_unauthenticated_per_address:
            return (f"{census.max_unauthenticated_per_address} websockets from your address are waiting to "
                    "authenticate; authenticate or close those first")
        census.waiting[self.address] = census.waiting.get(self.address, 0) + 1
        self.waiting = True
        return None

    def authenticate(self) -> None:
        if not (self.authenticated or self.released):
            self.authenticated = True
            self._stop_waiting()

    def release(self) -> None:
        if not self.released:
            self.released = True
            self._census.open -= 1
            self._stop_waiting()

    def _stop_waiting(self) -> None:
        if self.waiting:
            self.waiting = False
            waiting = self._census.waiting
            waiting[self.address] -= 1
            if not waiting[self.address]:
                del waiting[self.address]


class WebsocketCensus:
    """The node's websockets: how many are open, and per client address how
    many wait for their client to authenticate (module docstring). Used on
    the event loop only."""

    def __init__(self, *, max_open: int, max_unauthenticated_per_address: int) -> None:
        self.configure(max_open=max_open, max_unauthenticated_per_address=max_unauthenticated_per_address)
        self.open = 0
        self.waiting: dict[str, int] = {}  # address -> count, only addresses with some

    def configure(self, *, max_open: int, max_unauthenticated_per_address: int) -> None:
        """Set the bounds; sockets already open stay open."""
        if max_open < 1 or max_unauthenticated_per_address < 1:
            raise ValueError(f"websocket bounds must be at least 1, got max_open={max_open}, "
                             f"max_unauthenticated_per_address={max_unauthenticated_per_address}")
        self.max_open = max_open
        self.max_unauthenticated_per_address = max_unauthenticated_per_address

    def admit(self, address: str) -> Ticket | None:
        """Count a websocket from ``address`` as open and return its
        ticket; None if the node holds ``max_open`` already."""
        if self.open >= self.max_open:
            return None
        self.open += 1
        return Ticket(self, address)


#: The node's census: a node is one process serving one client port
#: (``runtime_host``). ``config_center.asgi`` sets its bounds from the settings.
census = WebsocketCensus(max_open=default_max_open(),
                         max_unauthenticated_per_address=DEFAULT_MAX_UNAUTHENTICATED_PER_ADDRESS)


class FrameWritingWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's protocol, with each upgrade admitted by ``census`` (or
    turned away) before the application runs, the census's and the frame
    writer's extensions in the scope, and the ticket released when the
    connection is lost (module docstring)."""

    ticket: Ticket | None = None

    def handle_connect(self, event: Any) -> None:
        self.ticket = census.admit(self.client[0] if self.client else "")
        if self.ticket is None:
            self._turn_away(event, f"this node holds {census.max_open} websockets, its limit; "
                                   "try again later or another member")
            return
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # None: a bad handshake, answered by uvicorn
            scope["extensions"][CENSUS_EXTENSION] = {"wait_for_client": self.ticket.wait_for_client,
                                                     "authenticated": self.ticket.authenticate}
            if not self.conn.extensions:
                scope["extensions"][WRITE_FRAME_EXTENSION] = {"write": self.write_frame}

    def _turn_away(self, event: Any, reason: str) -> None:
        """Complete the handshake, if it is a valid one, and close at once
        with 1013 and ``reason``, without any application; the closing
        handshake then ends as uvicorn's own does."""
        logger.info("websocket from %s turned away: %s", self.client[0] if self.client else "?", reason)
        response = self.conn.accept(event)
        self.conn.send_response(response)
        if response.status_code == 101:
            self.conn.send_close(TRY_AGAIN_LATER, reason)
        self.transport.write(b"".join(self.conn.data_to_send()))
        self.handshake_initiated = self.handshake_complete = self.close_sent = True
        if response.status_code == 101:
            self.close_timer = self.loop.call_later(self.close_timeout, self.transport.close)
        else:
            self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.ticket is not None:
            self.ticket.release()

    def write_frame(self, frame: bytes) -> bool:
        """Write a complete, unmasked frame now if ``send`` would (module
        docstring); False otherwise, having written nothing."""
        if (not self.handshake_complete or self.close_sent or self.disconnected
                or self.conn.state is not State.OPEN or not self.writable.is_set()
                or self.transport.is_closing()):
            return False
        self.transport.write(frame)
        return True
