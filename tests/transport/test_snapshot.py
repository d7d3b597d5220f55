"""Streamed snapshots: delivered intact in chunks, acknowledged, failures reported."""
import asyncio
import os

import msgpack

from consensus.raft.messages import ConfState, Message, MessageType, Snapshot, SnapshotMetadata
from consensus.transport.codec import decode_batch
from consensus.transport.frames import FrameKind

from .support import Member, RawListener, close_all, cluster, eventually, heartbeat, run


def snap(frm: int, to: int, data: bytes, index: int = 500) -> Message:
    meta = SnapshotMetadata(index=index, term=4, conf_state=ConfState((1, 2, 3), (4,)))
    return Message(MessageType.SNAP, to=to, frm=frm, term=4, snapshot=Snapshot(meta, data))


def test_a_snapshot_of_several_mib_arrives_intact():
    async def body():
        a, b = await cluster(1, 2)
        data = os.urandom(5 << 20) + b"end"
        before = heartbeat(1, 2, commit=1)
        a.transport.send([before, snap(1, 2, data), heartbeat(1, 2, commit=2)])
        await eventually(lambda: len(b.delivered) == 3, timeout=10)
        snaps = [m for m in b.delivered if m.type == MessageType.SNAP]
        assert snaps == [snap(1, 2, data)]
        assert b.delivered[0] == before, "what was queued before the snapshot arrives before it"
        await eventually(lambda: a.snapshots == [(2, True)])
        stats = a.transport.stats()[2]
        assert stats.snapshots_sent == 1 and stats.bytes_sent > len(data)
        assert stats.queued_bytes == 0
        await close_all([a, b])

    run(body(), timeout=20)


def test_the_snapshot_travels_in_chunks_interleaved_with_messages():
    async def body():
        raw = await RawListener(node_id=2).start()
        a = await Member(1, snapshot_chunk_bytes=64 << 10).start()
        a.transport.set_peer(2, "127.0.0.1", raw.port)
        await eventually(lambda: a.transport.stats()[2].connected)
        data = os.urandom(1 << 20)
        a.transport.send([snap(1, 2, data)])
        for i in range(5):  # heartbeats keep flowing while the snapshot streams
            await asyncio.sleep(0)
            a.transport.send([heartbeat(1, 2, commit=i)])
        await eventually(lambda: len(raw.kinds(FrameKind.SNAPSHOT_CHUNK)) == 16)
        await eventually(lambda: sum(len(decode_batch(b)) for b in raw.kinds(FrameKind.MESSAGES)) == 5)
        kinds = [k for k, _ in raw.frames if k in (FrameKind.SNAPSHOT_CHUNK, FrameKind.MESSAGES)]
        first_batch, last_chunk = kinds.index(FrameKind.MESSAGES), len(kinds) - 1 - kinds[::-1].index(FrameKind.SNAPSHOT_CHUNK)
        assert first_batch < last_chunk, f"heartbeats waited for the whole snapshot: {kinds}"
        chunks = [msgpack.unpackb(c) for c in raw.kinds(FrameKind.SNAPSHOT_CHUNK)]
        assert b"".join(c[5] for c in chunks) == data
        assert [c[1] for c in chunks] == [i * (64 << 10) for i in range(16)]
        await a.transport.close()
        await raw.stop()

    run(body())


def test_a_snapshot_to_a_down_peer_is_reported_failed():
    async def body():
        a = await Member(1).start()
        a.transport.set_peer(2, "127.0.0.1", 1)
        a.transport.send([heartbeat(1, 2)])
        await eventually(lambda: 2 in a.unreachable)
        a.transport.send([snap(1, 2, b"x" * 1000)])
        await eventually(lambda: a.snapshots == [(2, False)])
        assert a.transport.stats()[2].snapshots_failed == 1
        await a.transport.close()

    run(body())


def test_a_snapshot_cut_off_by_a_lost_connection_is_reported_failed():
    async def body():
        raw = await RawListener(node_id=2, close_after=3).start()  # ping + first two chunks
        a = await Member(1, snapshot_chunk_bytes=16 << 10).start()
        a.transport.set_peer(2, "127.0.0.1", raw.port)
        await eventually(lambda: a.transport.stats()[2].connected)
        a.transport.send([snap(1, 2, os.urandom(1 << 20))])
        await eventually(lambda: a.snapshots == [(2, False)])
        assert 2 in a.unreachable
        await a.transport.close()
        await raw.stop()

    run(body())


def test_a_snapshot_still_streaming_is_finished_and_a_newer_one_dropped():
    # Raft retries snapshots on a timer; a big one that streams for longer
    # than that must not be replaced by its own retry, forever.
    async def body():
        a, b = await cluster(1, 2, snapshot_chunk_bytes=16 << 10)
        old, new = snap(1, 2, os.urandom(1 << 20), index=100), snap(1, 2, os.urandom(1 << 18), index=200)
        a.transport.send([old])
        await asyncio.sleep(0)  # a chunk or two of the old one goes out
        a.transport.send([new])
        await eventually(lambda: sorted(a.snapshots) == [(2, False), (2, True)])
        assert [m.snapshot.metadata.index for m in b.delivered if m.type == MessageType.SNAP] == [100]
        await close_all([a, b])

    run(body())
