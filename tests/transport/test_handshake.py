"""Mutual authentication: the sans-I/O exchange, then against a live listener."""
import asyncio
import logging

import msgpack
import pytest

from consensus.transport.codec import encode_batch
from consensus.transport.frames import FrameKind
from consensus.transport.handshake import (
    _DIALER_LABEL,
    DialerHandshake,
    HandshakeError,
    HandshakeRefused,
    ListenerHandshake,
    proof,
)

from .support import (
    CLUSTER,
    SECRET,
    Member,
    RawConnection,
    close_all,
    cluster,
    eventually,
    heartbeat,
    raw_dial,
    run,
)

N_D = b"d" * 32
N_L = b"l" * 32


def dialer(**kw):
    args = dict(secret=SECRET, cluster_id=CLUSTER, node_id=1, peer_id=2, nonce=N_D)
    args.update(kw)
    return DialerHandshake(**args)


def listener(peers=(1, 3), **kw):
    args = dict(secret=SECRET, cluster_id=CLUSTER, node_id=2, is_peer=lambda i: i in peers, nonce=N_L)
    args.update(kw)
    return ListenerHandshake(**args)


def exchange(d, l):
    challenge = l.on_hello(d.hello())
    proof = d.on_challenge(challenge)
    welcome = l.on_proof(proof)
    d.on_result(welcome)
    return l.peer_id


def test_right_secret_authenticates_both_sides():
    assert exchange(dialer(), listener()) == 1


def test_listener_with_wrong_secret_is_refused_by_the_dialer():
    d, l = dialer(), listener(secret=b"other secret")
    with pytest.raises(HandshakeError, match="failed to prove"):
        d.on_challenge(l.on_hello(d.hello()))


def test_dialer_with_wrong_secret_is_refused_by_the_listener():
    d, l = dialer(secret=b"other secret"), listener()
    challenge = l.on_hello(d.hello())
    with pytest.raises(HandshakeError):
        d.on_challenge(challenge)  # an honest dialer notices first...
    listener_nonce = msgpack.unpackb(challenge)[1]
    bad = msgpack.packb(["proof", proof(b"other secret", _DIALER_LABEL, CLUSTER, 1, 2, N_D, listener_nonce)])
    with pytest.raises(HandshakeRefused, match="wrong cluster secret"):
        l.on_proof(bad)  # ...and the listener refuses a proof made with another secret
    assert l.peer_id is None


@pytest.mark.parametrize(
    ("dialer_kw", "listener_kw", "reason"),
    [
        ({"cluster_id": 7}, {}, "cluster id mismatch"),
        ({"node_id": 9}, {}, "not a known peer"),
        ({"peer_id": 3}, {}, "this is member 2, not 3"),
        ({"node_id": 2, "peer_id": 2}, {}, "not a known peer"),
    ],
)
def test_listener_refuses_wrong_cluster_unknown_member_or_wrong_address(dialer_kw, listener_kw, reason):
    d, l = dialer(**dialer_kw), listener(**listener_kw)
    with pytest.raises(HandshakeRefused, match=reason) as refused:
        l.on_hello(d.hello())
    with pytest.raises(HandshakeError, match="refused by the other member"):
        d.on_challenge(refused.value.reply)


def test_replayed_dialer_transcript_is_refused():
    # An eavesdropper records a complete, successful exchange...
    d, l = dialer(), listener()
    hello = d.hello()
    proof = d.on_challenge(l.on_hello(hello))
    l.on_proof(proof)
    # ...and replays the dialer's side to the listener, which picks a fresh nonce.
    fresh = listener(nonce=b"L" * 32)
    fresh.on_hello(hello)
    with pytest.raises(HandshakeRefused, match="wrong cluster secret"):
        fresh.on_proof(proof)


def test_replayed_listener_transcript_is_refused():
    d, l = dialer(), listener()
    challenge = l.on_hello(d.hello())
    fresh = dialer(nonce=b"D" * 32)
    fresh.hello()
    with pytest.raises(HandshakeError, match="failed to prove"):
        fresh.on_challenge(challenge)


def test_reflected_proof_is_refused():
    # Someone without the secret dials member 2 as member 1, gets 2's challenge,
    # and sends 2's own proof back as its answer (same nonces, same ids).
    d, l = dialer(), listener()
    challenge = l.on_hello(d.hello())
    listener_proof = msgpack.unpackb(challenge)[2]
    with pytest.raises(HandshakeRefused, match="wrong cluster secret"):
        l.on_proof(msgpack.packb(["proof", listener_proof]))


def test_garbage_in_the_handshake_is_refused():
    with pytest.raises(HandshakeRefused):
        listener().on_hello(b"\xc1garbage")
    with pytest.raises(HandshakeError):
        dialer().on_challenge(b"")


def test_secret_must_not_be_empty():
    with pytest.raises(ValueError, match="secret"):
        dialer(secret=b"")


# -- against a live transport --------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "reason"),
    [
        ({"secret": b"wrong secret"}, "wrong cluster secret"),
        ({"cluster_id": 12345}, "cluster id mismatch"),
        ({"node_id": 9}, "not a known peer"),
    ],
)
def test_live_listener_refuses_and_delivers_nothing(kw, reason, caplog):
    async def body():
        (b,) = await cluster(2)
        b.transport.set_peer(1, "127.0.0.1", 1)  # member 1 is a known peer (never reachable)
        args = {"node_id": 1, "peer_id": 2}
        args.update(kw)
        conn, result = await raw_dial(b.port, **args)
        # However the handshake ended, a batch sent now must never be delivered.
        try:
            await conn.send(FrameKind.MESSAGES, encode_batch([heartbeat(args["node_id"], 2)]))
        except ConnectionError:
            pass
        assert await conn.closed_by_peer()
        await asyncio.sleep(0.05)
        assert b.delivered == []
        assert result is None or b"welcome" not in bytes(result[1])
        conn.close()
        await close_all([b])

    with caplog.at_level(logging.WARNING, logger="consensus.transport"):
        run(body())
    assert any("refused a peer connection" in r.getMessage() and reason in r.getMessage() for r in caplog.records)


def test_live_replay_of_a_recorded_handshake_is_refused():
    async def body():
        (b,) = await cluster(2)
        b.transport.set_peer(1, "127.0.0.1", 1)
        # An eavesdropper records a real, successful handshake of member 1...
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        real = RawConnection(reader, writer)
        handshake = DialerHandshake(secret=SECRET, cluster_id=CLUSTER, node_id=1, peer_id=2, nonce=b"n" * 32)
        hello = handshake.hello()
        await real.send(FrameKind.HANDSHAKE, hello)
        _, challenge = await real.recv()
        recorded_proof = handshake.on_challenge(challenge)
        await real.send(FrameKind.HANDSHAKE, recorded_proof)
        _, welcome = await real.recv()
        handshake.on_result(welcome)
        real.close()
        # ...and replays member 1's side on a new connection: the listener's nonce is new.
        reader, writer = await asyncio.open_connection("127.0.0.1", b.port)
        replay = RawConnection(reader, writer)
        await replay.send(FrameKind.HANDSHAKE, hello)
        _, new_challenge = await replay.recv()
        assert bytes(new_challenge) != bytes(challenge)
        await replay.send(FrameKind.HANDSHAKE, recorded_proof)
        answer = await replay.recv()
        assert answer is not None and b"refused" in bytes(answer[1])
        try:
            await replay.send(FrameKind.MESSAGES, encode_batch([heartbeat(1, 2)]))
        except ConnectionError:
            pass
        assert await replay.closed_by_peer()
        assert b.delivered == []
        replay.close()
        await close_all([b])

    run(body())


def test_transports_with_different_secrets_never_connect():
    async def body():
        a = await Member(1).start()
        b = await Member(2, secret=b"another secret").start()
        a.knows(b)
        b.knows(a)
        await asyncio.sleep(0.2)
        a.transport.send([heartbeat(1, 2)])
        b.transport.send([heartbeat(2, 1)])
        await asyncio.sleep(0.1)
        assert a.delivered == [] and b.delivered == []
        assert not a.transport.stats()[2].connected and not b.transport.stats()[1].connected
        await eventually(lambda: 2 in a.unreachable and 1 in b.unreachable)
        await close_all([a, b])

    run(body())
