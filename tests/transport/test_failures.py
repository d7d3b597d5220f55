"""Peers going down, overload, removal and misbehaving peers."""
import asyncio
import logging

import msgpack

from consensus.raft.messages import Message, MessageType
from consensus.transport.codec import encode_batch
from consensus.transport.frames import FrameKind, HEADER

from .support import Member, RawListener, close_all, cluster, eventually, heartbeat, raw_dial, run


def test_reconnects_after_the_listener_restarts():
    async def body():
        a, b = await cluster(1, 2)
        a.transport.send([heartbeat(1, 2, commit=1)])
        await eventually(lambda: len(b.delivered) == 1)
        port = b.port
        await b.transport.close()
        await eventually(lambda: not a.transport.stats()[2].connected, what="a to notice b is gone")
        await eventually(lambda: 2 in a.unreachable, what="b reported unreachable")
        a.transport.send([heartbeat(1, 2, commit=2)])  # b is down: dropped, not queued
        assert a.transport.stats()[2].queued_messages == 0
        b2 = await Member(2).start(port)  # the same member comes back on the same port
        b2.knows(a)
        await eventually(lambda: a.transport.stats()[2].connected, what="a to reconnect")
        a.transport.send([heartbeat(1, 2, commit=3)])
        await eventually(lambda: [m.commit for m in b2.delivered] == [3])
        await close_all([a, b2])

    run(body())


def test_a_down_peer_costs_nothing_and_is_reported_unreachable():
    async def body():
        a = await Member(1, max_queue_messages=10).start()
        a.transport.set_peer(2, "127.0.0.1", 1)  # nothing listens there
        a.transport.send([heartbeat(1, 2)])
        await eventually(lambda: a.unreachable == [2], what="the failed dial to drop the message")
        for i in range(1000):
            a.transport.send([heartbeat(1, 2, commit=i)])
            assert a.transport.stats()[2].queued_messages <= 10
        # Dropped at once while down; at most a queue's worth waits for a dial in progress.
        await eventually(lambda: a.transport.stats()[2].messages_dropped == 1001)
        await eventually(lambda: len(a.unreachable) >= 2)
        assert set(a.unreachable) == {2}
        assert not a.transport.stats()[2].connected
        await a.transport.close()

    run(body())


def test_the_queue_is_bounded_while_a_peer_is_slow_to_answer():
    async def body():
        silent = await RawListener(node_id=2, handshake=False).start()  # accepts, never answers
        a = await Member(1, max_queue_messages=10, max_queue_bytes=1 << 20, dial_timeout=5.0).start()
        a.transport.set_peer(2, "127.0.0.1", silent.port)
        await eventually(lambda: silent.connections == 1)
        a.transport.send([heartbeat(1, 2, commit=i) for i in range(100)])
        stats = a.transport.stats()[2]
        assert stats.queued_messages == 10 and stats.messages_dropped == 90
        await asyncio.sleep(0)
        assert a.unreachable == [2], "drops are reported once per loop iteration, not per message"
        await a.transport.close()
        await silent.stop()

    run(body())


def test_the_queue_is_bounded_in_bytes_when_the_peer_stops_reading():
    async def body():
        stuck = await RawListener(node_id=2, read=False).start()  # handshakes, then never reads
        limit = 2 << 20
        a = await Member(1, max_queue_bytes=limit).start()
        a.transport.set_peer(2, "127.0.0.1", stuck.port)
        await eventually(lambda: a.transport.stats()[2].connected)
        big = Message(MessageType.APP, to=2, frm=1, term=1, context=b"x" * (256 << 10))
        for _ in range(200):  # 50 MiB, far more than socket buffers and queue together
            a.transport.send([big])
            assert a.transport.stats()[2].queued_bytes <= limit
            await asyncio.sleep(0)
        stats = a.transport.stats()[2]
        assert stats.messages_dropped > 0 and stats.queued_bytes <= limit
        assert stats.messages_sent + stats.queued_messages + stats.messages_dropped == 200
        assert 2 in a.unreachable
        await a.transport.close()
        await stuck.stop()

    run(body())


def test_messages_for_unknown_members_are_dropped_and_reported():
    async def body():
        (a,) = await cluster(1)
        a.transport.send([heartbeat(1, 7), heartbeat(1, 7), heartbeat(1, 8)])
        await eventually(lambda: sorted(a.unreachable) == [7, 8])
        assert a.transport.stats() == {}
        await a.transport.close()

    run(body())


def test_messages_too_large_for_a_frame_are_dropped_and_reported(caplog):
    async def body():
        a, b = await cluster(1, 2, max_frame_bytes=64 << 10, snapshot_chunk_bytes=16 << 10)
        huge = Message(MessageType.APP, to=2, frm=1, context=b"x" * (64 << 10))
        a.transport.send([huge, heartbeat(1, 2, commit=5)])
        await eventually(lambda: [m.commit for m in b.delivered] == [5])
        assert a.transport.stats()[2].messages_dropped == 1 and a.unreachable == [2]
        await close_all([a, b])

    run(body())
    assert any("does not fit in a frame" in r.getMessage() for r in caplog.records)


def test_a_removed_peer_is_no_longer_heard(caplog):
    async def body():
        a, b = await cluster(1, 2)
        a.transport.send([heartbeat(1, 2, commit=1)])
        await eventually(lambda: len(b.delivered) == 1)
        b.transport.remove_peer(1)
        assert 1 not in b.transport.stats()
        for i in range(2, 30):
            a.transport.send([heartbeat(1, 2, commit=i)])
            await asyncio.sleep(0.005)
        assert [m.commit for m in b.delivered] == [1]
        await close_all([a, b])

    with caplog.at_level(logging.WARNING, logger="consensus.transport"):
        run(body())
    # Its reconnection attempts are refused, and the refusals are rate-limited.
    refusals = [r for r in caplog.records if "not a known peer" in r.getMessage()]
    assert 1 <= len(refusals) <= 2


def test_inbound_messages_must_be_from_the_authenticated_peer_and_for_us():
    async def body():
        b, c = await cluster(2, 3)
        b.transport.set_peer(1, "127.0.0.1", 1)
        conn, result = await raw_dial(b.port, node_id=1, peer_id=2)
        assert b"welcome" in bytes(result[1])
        forged = [
            heartbeat(3, 2, commit=1),  # member 1 speaking for member 3
            heartbeat(1, 3, commit=2),  # for another member
            heartbeat(1, 2, commit=3),  # fine
        ]
        await conn.send(FrameKind.MESSAGES, encode_batch(forged))
        await eventually(lambda: len(b.delivered) == 1)
        await asyncio.sleep(0.02)
        assert [m.commit for m in b.delivered] == [3]
        assert b.transport.stats()[1].messages_received == 1
        conn.close()
        await close_all([b, c])

    run(body())


def test_garbage_and_oversized_frames_close_only_that_connection():
    async def body():
        b, c = await cluster(2, 3, max_frame_bytes=1 << 20)
        b.transport.set_peer(1, "127.0.0.1", 1)
        # A batch that does not decode.
        conn, _ = await raw_dial(b.port, node_id=1, peer_id=2)
        await conn.send(FrameKind.MESSAGES, msgpack.packb([[1, 2, 3]]))
        assert await conn.closed_by_peer()
        conn.close()
        # A frame over the limit: refused from its length alone.
        conn, _ = await raw_dial(b.port, node_id=1, peer_id=2)
        conn.writer.write(HEADER.pack((1 << 20) + 1, FrameKind.MESSAGES))
        await conn.writer.drain()
        assert await conn.closed_by_peer()
        conn.close()
        # Before the handshake the limit is tiny.
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        writer.write(HEADER.pack(100_000, FrameKind.HANDSHAKE))
        await writer.drain()
        assert await reader.read() == b""
        writer.close()
        # The listener still serves everyone else.
        c.transport.send([heartbeat(3, 2, commit=9)])
        await eventually(lambda: [m.commit for m in b.delivered] == [9])
        assert b.delivered[0].frm == 3
        await close_all([b, c])

    run(body())


def test_callbacks_are_never_called_from_inside_send():
    async def body():
        (a,) = await cluster(1)
        inside = []
        a.transport._on_unreachable = lambda peer: inside.append(sending)
        sending = True
        a.transport.send([heartbeat(1, 9)])
        sending = False
        await asyncio.sleep(0)
        assert inside == [False]
        await a.transport.close()

    run(body())


def test_set_peer_moves_a_peer_to_its_new_address():
    async def body():
        a, b = await cluster(1, 2)
        await eventually(lambda: a.transport.stats()[2].connected)
        b_new = await Member(2).start()  # member 2 restarted elsewhere
        b_new.knows(a)
        await b.transport.close()
        a.transport.set_peer(2, "127.0.0.1", b_new.port)
        for _ in range(200):  # resend until it gets through, as Raft would
            a.transport.send([heartbeat(1, 2, commit=7)])
            if b_new.delivered:
                break
            await asyncio.sleep(0.01)
        assert {m.commit for m in b_new.delivered} == {7}
        assert a.transport.stats()[2].connected
        await close_all([a, b_new])

    run(body())


def test_a_peer_that_stops_answering_pings_is_redialed():
    async def body():
        mute = await RawListener(node_id=2).start()  # handshakes, reads, never answers a ping
        a = await Member(1, ping_interval=0.05, dead_peer_timeout=0.2).start()
        a.transport.set_peer(2, "127.0.0.1", mute.port)
        await eventually(lambda: mute.connections >= 2, what="a to give up on the mute connection and redial")
        assert 2 in a.unreachable
        await a.transport.close()
        await mute.stop()

    run(body())


def test_the_listener_closes_a_silent_inbound_connection():
    async def body():
        (b,) = await cluster(2, ping_interval=0.05, dead_peer_timeout=0.2)
        b.transport.set_peer(1, "127.0.0.1", 1)
        conn, result = await raw_dial(b.port, node_id=1, peer_id=2)
        assert b"welcome" in bytes(result[1])
        start = asyncio.get_running_loop().time()
        assert await conn.closed_by_peer(timeout=3)  # no ping, no message: presumed dead
        assert asyncio.get_running_loop().time() - start < 2  # 0.2 s, plus slack for a loaded machine
        conn.close()
        await b.transport.close()

    run(body())


def test_a_peer_that_connects_to_us_is_redialed_at_once_not_after_the_backoff():
    # A member added to a running cluster is not ready when the others first
    # dial it; once it connects to them, they must not sit out their backoff
    # before sending it anything.
    async def body():
        a = await Member(1, backoff_initial=5.0, backoff_max=5.0).start()
        b = await Member(2).start()
        a.knows(b)  # b does not know a yet: a's dial is refused, a backs off 5 s
        a.transport.send([heartbeat(1, 2)])
        await eventually(lambda: 2 in a.unreachable, what="a's first dial to fail")
        assert not a.transport.stats()[2].connected
        b.knows(a)
        b.transport.send([heartbeat(2, 1)])  # b dials a
        await eventually(lambda: len(a.delivered) == 1, what="b's heartbeat")
        await eventually(lambda: a.transport.stats()[2].connected, timeout=2.5, what="a to redial at once")
        a.transport.send([heartbeat(1, 2, commit=7)])
        await eventually(lambda: [m.commit for m in b.delivered] == [7])
        await close_all([a, b])

    run(body())
