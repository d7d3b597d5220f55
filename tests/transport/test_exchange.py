"""Two and three transports over loopback: delivery, order, batching, stats, close."""
import asyncio

from consensus.raft.messages import Entry, Message, MessageType
from consensus.transport.codec import decode_batch
from consensus.transport.frames import FrameKind

from .support import Member, RawListener, close_all, cluster, eventually, heartbeat, run


def append(frm: int, to: int, index: int, size: int = 100) -> Message:
    entry = Entry(term=2, index=index, data=index.to_bytes(8, "big") * (size // 8))
    return Message(MessageType.APP, to=to, frm=frm, term=2, log_term=2, index=index - 1, entries=(entry,), commit=index)


def test_batches_flow_in_both_directions():
    async def body():
        a, b = await cluster(1, 2)
        a.transport.send([append(1, 2, i) for i in range(1, 51)])
        b.transport.send([heartbeat(2, 1, commit=i) for i in range(30)])
        await eventually(lambda: len(b.delivered) == 50 and len(a.delivered) == 30)
        assert b.delivered == [append(1, 2, i) for i in range(1, 51)]
        assert a.delivered == [heartbeat(2, 1, commit=i) for i in range(30)]
        assert a.unreachable == [] and b.unreachable == []
        await close_all([a, b])

    run(body())


def test_order_is_preserved_per_peer_under_load():
    async def body():
        a, b, c = await cluster(1, 2, 3)
        index = 0
        for burst in range(40):  # bursts sent while earlier writes are still in flight
            msgs = []
            for _ in range(50):
                index += 1
                msgs += [append(1, 2, index, size=2000), append(1, 3, index, size=500)]
            a.transport.send(msgs)
            if burst % 3 == 0:
                await asyncio.sleep(0)
        await eventually(lambda: len(b.delivered) == index and len(c.delivered) == index, timeout=10)
        assert [m.index for m in b.delivered] == list(range(index))
        assert [m.index for m in c.delivered] == list(range(index))
        assert b.delivered[-1] == append(1, 2, index, size=2000)
        assert a.transport.stats()[2].messages_dropped == 0
        await close_all([a, b, c])

    run(body(), timeout=20)


def test_everything_queued_goes_out_in_one_frame():
    async def body():
        raw = await RawListener(node_id=2).start()
        a = Member(1)
        await a.start()
        a.transport.set_peer(2, "127.0.0.1", raw.port)
        await eventually(lambda: a.transport.stats()[2].connected)
        a.transport.send([heartbeat(1, 2, commit=i) for i in range(1000)])
        await eventually(lambda: sum(len(decode_batch(b)) for b in raw.kinds(FrameKind.MESSAGES)) == 1000)
        batches = raw.kinds(FrameKind.MESSAGES)
        assert len(batches) == 1, "one send() call before the writer ran: one frame"
        assert [m.commit for m in decode_batch(batches[0])] == list(range(1000))
        await a.transport.close()
        await raw.stop()

    run(body())


def test_round_trips_are_not_delayed():
    # Each message is written as soon as it is sent: a writer that waited to
    # batch (or Nagle with delayed ACKs) would cost tens of ms per exchange.
    async def body():
        a, b = await cluster(1, 2)
        done = asyncio.Event()

        def a_deliver(m):
            if m.commit < 200:
                a.transport.send([heartbeat(1, 2, commit=m.commit + 1)])
            else:
                done.set()

        b.on_deliver = lambda m: b.transport.send([heartbeat(2, 1, commit=m.commit)])
        a.on_deliver = a_deliver
        await eventually(lambda: a.transport.stats()[2].connected and b.transport.stats()[1].connected)
        start = asyncio.get_running_loop().time()
        a.transport.send([heartbeat(1, 2, commit=1)])
        await asyncio.wait_for(done.wait(), 5)
        elapsed = asyncio.get_running_loop().time() - start
        assert elapsed < 4.0, f"200 round trips took {elapsed:.2f} s"  # ~0.03 s when idle
        await close_all([a, b])

    run(body())


def test_stats_counters_move():
    async def body():
        a, b = await cluster(1, 2)
        a.transport.send([append(1, 2, i) for i in range(1, 11)])
        await eventually(lambda: len(b.delivered) == 10)
        await eventually(lambda: a.transport.stats()[2].rtt_seconds is not None)
        sent, received = a.transport.stats()[2], b.transport.stats()[1]
        assert sent.connected and sent.messages_sent == 10 and sent.messages_dropped == 0
        assert sent.bytes_sent > 10 * 100 and 0 < sent.rtt_seconds < 1
        assert sent.bytes_received > 0  # pongs
        assert received.messages_received == 10
        assert received.bytes_received >= sent.bytes_sent - 20  # the last ping may still be in flight
        assert sent.queued_messages == 0 and sent.queued_bytes == 0
        await close_all([a, b])

    run(body())


def test_close_leaves_no_pending_tasks():
    async def body():
        before = asyncio.all_tasks()
        a, b, c = await cluster(1, 2, 3)
        a.transport.send([append(1, 2, i) for i in range(1, 100)])
        a.transport.set_peer(4, "127.0.0.1", 1)  # one peer down, in backoff
        await eventually(lambda: len(b.delivered) == 99)
        b.transport.remove_peer(3)
        await close_all([a, b, c])
        await a.transport.close()  # idempotent
        assert asyncio.all_tasks() == before

    run(body())
