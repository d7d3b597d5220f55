"""The HTTP protocol the node's client port speaks: uvicorn's httptools
protocol, with the writes of one event-loop turn leaving in one send.

An ASGI response is at least two messages (``http.response.start``, then
``http.response.body``), and uvicorn writes each to the socket as it comes:
two ``send`` syscalls, two TCP segments, and on loopback two wake-ups of the
client, for every response. Measured on a put through the store API (one
client, cProfile): each of those writes cost about as much as decoding,
authorizing and proposing the request together. Both writes happen in the
same turn of the loop (the gateway does not yield between them), so
buffering a turn's writes and sending them from a callback scheduled for
the end of the turn halves the sends without delaying anything: the bytes
leave before the loop next waits for I/O.

Every other transport method is the real transport's; the ones that end or
measure the output (``close``, ``write_eof``, ``abort``,
``get_write_buffer_size``) see the buffer first. A websocket upgraded from
such a connection gets the real transport (``handle_websocket_upgrade``).
"""
from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class CoalescingTransport:
    """Wraps a transport: ``write`` buffers, and one callback per loop turn
    hands the buffer to the real transport as a single write."""

    __slots__ = ("_transport", "_loop", "_pending")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        # A caller may reuse a mutable buffer once write() returns.
        self._pending.append(data if isinstance(data, bytes) else bytes(data))

    def writelines(self, list_of_data) -> None:
        for data in list_of_data:
            self.write(data)

    def flush(self) -> None:
        """Send what is buffered now (also the end-of-turn callback)."""
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        self.flush()
        self._transport.close()

    def write_eof(self) -> None:
        self.flush()
        self._transport.write_eof()

    def abort(self) -> None:
        self._pending.clear()
        self._transport.abort()

    def get_write_buffer_size(self) -> int:
        return self._transport.get_write_buffer_size() + sum(map(len, self._pending))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's ``httptools`` protocol over a ``CoalescingTransport``."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # A websocket sends one frame per message, and a change fanned out to
        # thousands of sockets is one frame per socket per turn: deferring each
        # to an end-of-turn callback only adds a callback per frame (about 3 µs
        # each, a tenth of a 10,000-subscriber fan-out) and holds every frame
        # back until the whole fan-out has run. The upgraded protocol writes to
        # the socket itself.
        if isinstance(self.transport, CoalescingTransport):
            self.transport.flush()
            self.transport = self.transport._transport
        super().handle_websocket_upgrade()
