"""The live outbox on its own: written through while the socket can take
frames, a writer task only while one has to wait, order kept, the bound
kept, and a socket that fails or a connection that stops writes nothing
more. The socket here is an async send like uvicorn's: it returns at once
while writable, and waits for writability otherwise."""
from __future__ import annotations

import asyncio

import pytest

from config_center.ws.eager import run_eagerly
from config_center.ws.outbox import Outbox


class Socket:
    def __init__(self) -> None:
        self.writable = asyncio.Event()
        self.writable.set()
        self.frames: list[str] = []
        self.gone = False

    async def send(self, text: str) -> None:
        await self.writable.wait()
        if self.gone:
            raise ConnectionResetError("the client went away")
        self.frames.append(text)


def run(coro):
    return asyncio.run(coro)


def test_a_writable_socket_is_written_in_the_caller_without_a_task():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send)
        tasks_before = len(asyncio.all_tasks())
        assert outbox.put_nowait("a", "ns", 5)
        # Written before put_nowait returned: no task was woken for it.
        assert socket.frames == ["a"]
        assert len(outbox) == 0 and outbox.sent == {"ns": 5}
        assert len(asyncio.all_tasks()) == tasks_before
    run(scenario())


def test_a_socket_that_must_wait_gets_a_writer_and_order_is_kept():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send)
        socket.writable.clear()
        for n in range(5):
            assert outbox.put_nowait(str(n), "ns", n)
        assert socket.frames == [] and len(outbox) == 5
        await asyncio.sleep(0)
        assert socket.frames == []  # still waiting for the socket
        socket.writable.set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert socket.frames == ["0", "1", "2", "3", "4"]
        assert outbox.sent == {"ns": 4} and len(outbox) == 0
        # Idle again: the next message is written through.
        outbox.put_nowait("5", "ns", 5)
        assert socket.frames[-1] == "5"
    run(scenario())


def test_the_bound_refuses_without_queueing_and_put_waits_for_progress():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send, max_messages=3, stall_seconds=5)
        socket.writable.clear()
        assert all(outbox.put_nowait(str(n)) for n in range(3))
        assert not outbox.put_nowait("refused")
        assert len(outbox) == 3
        waiting = asyncio.create_task(outbox.put("after room"))
        await asyncio.sleep(0.01)
        assert not waiting.done()
        socket.writable.set()
        assert await asyncio.wait_for(waiting, 2)
        for _ in range(20):
            await asyncio.sleep(0)
        assert socket.frames == ["0", "1", "2", "after room"]
    run(scenario())


def test_put_gives_up_when_the_socket_makes_no_progress():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send, max_messages=1, stall_seconds=0.05)
        socket.writable.clear()
        assert outbox.put_nowait("stuck")
        assert await outbox.put("never") is False
        assert socket.frames == []
        outbox.stop()
    run(scenario())


def test_a_failed_send_stops_the_outbox_without_raising_to_the_producer():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send)
        socket.gone = True
        assert outbox.put_nowait("lost")  # the producer is not the one to handle a dead socket
        assert len(outbox) == 0
        socket.gone = False
        outbox.put_nowait("after")
        assert socket.frames == []  # nothing is written once stopped
    run(scenario())


def test_stop_cancels_a_waiting_writer_and_drops_the_backlog():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send)
        socket.writable.clear()
        outbox.put_nowait("a")
        outbox.put_nowait("b")
        outbox.stop()
        socket.writable.set()
        for _ in range(20):
            await asyncio.sleep(0)
        assert socket.frames == [] and len(outbox) == 0
    run(scenario())


def test_run_eagerly_finishes_a_coroutine_that_waits_in_a_task():
    async def scenario():
        gate = asyncio.Event()
        steps = []

        async def work():
            steps.append("before")
            await gate.wait()
            steps.append("after")
            return 42

        task = run_eagerly(work())
        assert steps == ["before"] and task is not None
        gate.set()
        assert await task == 42
        assert steps == ["before", "after"]

        async def quick():
            steps.append("quick")

        assert run_eagerly(quick()) is None and steps[-1] == "quick"

        async def fails():
            raise ValueError("at once")

        with pytest.raises(ValueError):
            run_eagerly(fails())

        gate.clear()
        cancelled = run_eagerly(work())
        cancelled.cancel()
        with pytest.raises(asyncio.CancelledError):
            await cancelled
        assert steps[-1] == "before"
    run(scenario())


def test_frames_go_to_the_servers_frame_writer_while_it_takes_them():
    async def scenario():
        socket = Socket()
        frames: list[bytes] = []
        takes = True

        def write_frame(frame: bytes) -> bool:
            if takes:
                frames.append(frame)
            return takes

        outbox = Outbox(socket.send, write_frame=write_frame)
        outbox.put_nowait("a", "ns", 1)
        assert frames == [b"\x81\x01a"] and socket.frames == [] and outbox.sent == {"ns": 1}
        takes = False  # e.g. the socket's buffer is full: the ASGI send decides
        outbox.put_nowait("b", "ns", 2)
        assert socket.frames == ["b"] and len(frames) == 1 and outbox.sent == {"ns": 2}
    run(scenario())


def test_a_held_outbox_writes_nothing_until_released_and_drops_what_it_is_told_to():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send)
        assert outbox.put_nowait("a1", "a", 1)
        outbox.hold()
        for text, ns, revision in (("b2", "b", 2), ("a3", "a", 3), ("b4", "b", 4), ("own", None, 0)):
            assert outbox.put_nowait(text, ns, revision)
        for _ in range(5):
            await asyncio.sleep(0)
        assert socket.frames == ["a1"] and len(outbox) == 4
        outbox.drop("b")  # b's subscription ended while held: none of it is written
        outbox.release()
        for _ in range(5):
            await asyncio.sleep(0)
        assert socket.frames == ["a1", "a3", "own"]
        assert outbox.sent == {"a": 3}
    run(scenario())


def test_holding_stops_a_writer_that_waits_after_the_frame_it_is_writing():
    async def scenario():
        socket = Socket()
        outbox = Outbox(socket.send)
        socket.writable.clear()
        for n in range(3):
            assert outbox.put_nowait(str(n), "ns", n)
        outbox.hold()
        outbox.drop("ns")  # the frame already being written stays; the others go
        socket.writable.set()
        for _ in range(10):
            await asyncio.sleep(0)
        assert socket.frames == ["0"] and len(outbox) == 0
        outbox.put_nowait("3", "ns", 3)
        for _ in range(5):
            await asyncio.sleep(0)
        assert socket.frames == ["0"]
        outbox.release()
        assert socket.frames == ["0", "3"]
    run(scenario())
