"""The client port's HTTP protocol: the writes of one loop turn leave in one
write to the real transport, in order, and nothing buffered is lost when the
connection is closed. Real sockets, real event loops (asyncio's and uvloop's)."""
from __future__ import annotations

import asyncio
import socket

import pytest
import uvloop

from consensus.http_protocol import CoalescingTransport

LOOPS = {"asyncio": asyncio.new_event_loop, "uvloop": uvloop.new_event_loop}


class Sink(asyncio.Protocol):
    def __init__(self) -> None:
        self.closed = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc) -> None:
        self.closed.set_result(exc)


def run(make_loop, body):
    loop = make_loop()
    try:
        return loop.run_until_complete(body())
    finally:
        loop.close()


async def connected():
    """A real transport over one end of a socket pair, its write calls
    recorded; the other end as a plain blocking socket."""
    ours, theirs = socket.socketpair()
    transport, protocol = await asyncio.get_running_loop().connect_accepted_socket(Sink, ours)
    recording = RecordingTransport(transport)
    return recording, protocol, theirs, recording.writes


class RecordingTransport:
    """The real transport, with every ``write`` call it receives recorded
    (uvloop's transport type takes no new attributes)."""

    def __init__(self, transport) -> None:
        self.transport = transport
        self.writes: list[bytes] = []

    def write(self, data) -> None:
        self.writes.append(bytes(data))
        self.transport.write(data)

    def __getattr__(self, name):
        return getattr(self.transport, name)


def read_until_closed(sock: socket.socket) -> bytes:
    sock.settimeout(5)
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("loop_name", LOOPS)
def test_writes_of_one_turn_become_one_write_in_order(loop_name):
    async def body():
        transport, protocol, peer, writes = await connected()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        wrapped.write(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n")
        wrapped.write(bytearray(b"hel"))
        wrapped.writelines([memoryview(b"lo")])
        assert writes == [], "nothing is sent before the turn ends"
        assert wrapped.get_write_buffer_size() == len(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
        await asyncio.sleep(0)
        assert writes == [b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"]
        wrapped.write(b"next turn")
        await asyncio.sleep(0)
        assert writes[1:] == [b"next turn"]
        wrapped.close()
        await protocol.closed
        return await asyncio.to_thread(read_until_closed, peer)

    assert run(LOOPS[loop_name], body) == b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhellonext turn"


@pytest.mark.parametrize("loop_name", LOOPS)
def test_close_and_write_eof_send_what_is_buffered_first(loop_name):
    async def body():
        transport, protocol, peer, writes = await connected()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        wrapped.write(b"last words")
        wrapped.write_eof()
        assert writes == [b"last words"]
        received = await asyncio.to_thread(read_until_closed, peer)
        wrapped.write(b"after eof is dropped by nobody but the transport")
        wrapped.abort()
        await protocol.closed
        return received, wrapped.get_write_buffer_size()

    received, left = run(LOOPS[loop_name], body)
    assert received == b"last words"
    assert left == 0


@pytest.mark.parametrize("loop_name", LOOPS)
def test_abort_drops_the_buffer_and_other_calls_reach_the_real_transport(loop_name):
    async def body():
        transport, protocol, peer, writes = await connected()
        wrapped = CoalescingTransport(transport, asyncio.get_running_loop())
        assert wrapped.get_extra_info("socket") is not None
        assert wrapped.is_closing() is False
        wrapped.write(b"never sent")
        wrapped.abort()
        await protocol.closed
        await asyncio.sleep(0)  # the end-of-turn callback finds nothing to send
        return writes, await asyncio.to_thread(read_until_closed, peer)

    writes, received = run(LOOPS[loop_name], body)
    assert writes == [] and received == b""
