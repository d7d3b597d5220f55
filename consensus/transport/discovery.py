"""How a joining member learns the ID it was added under, over the peer port.

``member add`` picks a fresh ID (a removed ID must never come back), so the
newcomer cannot compute it. It knows the cluster secret, its own peer URL and
where the other members listen; it asks one of them::

    joiner   -> member   DISCOVER   version, peer_url, nonce_j
    member   -> joiner   CHALLENGE  nonce_m, proof_m
    joiner   -> member   PROOF      proof_j
    member   -> joiner   ANSWER     member_id, cluster_id      (or REFUSED, reason)

    proof_x = HMAC-SHA256(secret, LABEL_x || nonce_j || nonce_m || peer_url)

The same construction as the member handshake (``handshake``): both nonces
defeat replay, distinct labels defeat reflection, and the member answers only
after the joiner proved it knows the secret, so the member list is not handed
to strangers. Then the connection is closed; the newcomer's Raft traffic
starts with an ordinary handshake under its ID.

Sans-I/O classes plus :func:`ask` (the joiner's side) and
:func:`answer_discovery` (the listener's, called by ``server`` when the first
handshake frame is a DISCOVER).
"""
from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from typing import Callable

import msgpack

from .frames import HANDSHAKE_MAX_FRAME, FrameKind
from .handshake import NONCE_SIZE, HandshakeError
from .stream import FramedStream

VERSION = 1
DISCOVER = "discover"
CHALLENGE = "discover-challenge"
PROOF = "discover-proof"
ANSWER = "discover-answer"
REFUSED = "refused"
_JOINER_LABEL = b"config_center member discovery v1: joiner proof\x00"
_MEMBER_LABEL = b"config_center member discovery v1: member proof\x00"
_MAX_URL = 512

# (peer URL) -> (member id, cluster id), or None when no member has it.
Lookup = Callable[[str], "tuple[int, int] | None"]


class DiscoveryError(HandshakeError):
    """Discovery failed; the message says why."""


def _proof(secret: bytes, label: bytes, joiner_nonce: bytes, member_nonce: bytes, peer_url: str) -> bytes:
    return hmac.new(secret, label + joiner_nonce + member_nonce + peer_url.encode(), hashlib.sha256).digest()


def _pack(*fields: object) -> bytes:
    return msgpack.packb(fields, use_bin_type=True)


def _unpack(payload, step: str, count: int) -> tuple:
    try:
        item = msgpack.unpackb(payload, raw=False, use_list=False)
    except Exception:
        raise DiscoveryError(f"malformed {step}") from None
    if type(item) is not tuple or not item:
        raise DiscoveryError(f"malformed {step}")
    if item[0] == REFUSED and step != REFUSED:
        reason = item[1] if len(item) > 1 and isinstance(item[1], str) else "no reason given"
        raise DiscoveryError(f"refused: {reason[:300]}")
    if item[0] != step or len(item) != count + 1:
        raise DiscoveryError(f"expected {step}")
    return item[1:]


def is_discover(payload) -> bool:
    """Whether a first handshake payload opens a discovery, not a handshake."""
    try:
        item = msgpack.unpackb(payload, raw=False, use_list=False)
    except Exception:
        return False
    return type(item) is tuple and bool(item) and item[0] == DISCOVER


class JoinerDiscovery:
    def __init__(self, *, secret: bytes, peer_url: str, nonce: bytes) -> None:
        self._secret = secret
        self._peer_url = peer_url
        self._nonce = nonce

    def discover(self) -> bytes:
        return _pack(DISCOVER, VERSION, self._peer_url, self._nonce)

    def on_challenge(self, payload) -> bytes:
        member_nonce, member_proof = _unpack(payload, CHALLENGE, 2)
        if type(member_nonce) is not bytes or len(member_nonce) != NONCE_SIZE or type(member_proof) is not bytes:
            raise DiscoveryError("malformed challenge")
        expected = _proof(self._secret, _MEMBER_LABEL, self._nonce, member_nonce, self._peer_url)
        if not hmac.compare_digest(expected, member_proof):
            raise DiscoveryError("the member failed to prove it knows the cluster secret (different secret?)")
        return _pack(PROOF, _proof(self._secret, _JOINER_LABEL, self._nonce, member_nonce, self._peer_url))

    @staticmethod
    def on_answer(payload) -> tuple[int, int]:
        member_id, cluster_id = _unpack(payload, ANSWER, 2)
        if type(member_id) is not int or type(cluster_id) is not int or member_id <= 0:
            raise DiscoveryError("malformed answer")
        return member_id, cluster_id


class MemberDiscovery:
    def __init__(self, *, secret: bytes, lookup: Lookup, nonce: bytes) -> None:
        self._secret = secret
        self._lookup = lookup
        self._nonce = nonce
        self._joiner_nonce = b""
        self.peer_url = ""

    def on_discover(self, payload) -> bytes:
        version, peer_url, joiner_nonce = _unpack(payload, DISCOVER, 3)
        if version != VERSION:
            raise DiscoveryError(f"unsupported discovery version {version!r}")
        if type(peer_url) is not str or not 0 < len(peer_url) <= _MAX_URL:
            raise DiscoveryError("malformed discover: bad peer URL")
        if type(joiner_nonce) is not bytes or len(joiner_nonce) != NONCE_SIZE:
            raise DiscoveryError("malformed discover: bad nonce")
        self.peer_url, self._joiner_nonce = peer_url, joiner_nonce
        mine = _proof(self._secret, _MEMBER_LABEL, joiner_nonce, self._nonce, peer_url)
        return _pack(CHALLENGE, self._nonce, mine)

    def on_proof(self, payload) -> bytes:
        (joiner_proof,) = _unpack(payload, PROOF, 1)
        expected = _proof(self._secret, _JOINER_LABEL, self._joiner_nonce, self._nonce, self.peer_url)
        if type(joiner_proof) is not bytes or not hmac.compare_digest(expected, joiner_proof):
            raise DiscoveryError("authentication failed: wrong cluster secret")
        found = self._lookup(self.peer_url)
        if found is None:
            return _pack(REFUSED, f"no member was added with peer URL {self.peer_url}; run member add first")
        return _pack(ANSWER, *found)


async def _frame(stream: FramedStream):
    kind, body = await stream.read_frame()
    if kind != FrameKind.HANDSHAKE:
        raise DiscoveryError(f"expected a handshake frame, got {kind.name}")
    return body


async def ask(host: str, port: int, *, secret: bytes, peer_url: str, timeout: float = 5.0) -> tuple[int, int]:
    """(member id, cluster id) that the member at host:port holds for
    ``peer_url``. Raises DiscoveryError or OSError."""
    joiner = JoinerDiscovery(secret=secret, peer_url=peer_url, nonce=secrets.token_bytes(NONCE_SIZE))
    async with asyncio.timeout(timeout):
        reader, writer = await asyncio.open_connection(host, port)
        stream = FramedStream(reader, writer, HANDSHAKE_MAX_FRAME)
        try:
            stream.write_frame(FrameKind.HANDSHAKE, joiner.discover())
            await stream.drain()
            stream.write_frame(FrameKind.HANDSHAKE, joiner.on_challenge(await _frame(stream)))
            await stream.drain()
            return joiner.on_answer(await _frame(stream))
        finally:
            stream.abort()


async def answer_discovery(stream: FramedStream, first_payload, *, secret: bytes, lookup: Lookup | None,
                           timeout: float) -> str:
    """Serve one discovery on an accepted connection; returns the peer URL
    asked about. Raises DiscoveryError when refused."""
    if lookup is None:
        raise DiscoveryError("this member does not answer discovery requests")
    member = MemberDiscovery(secret=secret, lookup=lookup, nonce=secrets.token_bytes(NONCE_SIZE))
    async with asyncio.timeout(timeout):
        stream.write_frame(FrameKind.HANDSHAKE, member.on_discover(first_payload))
        await stream.drain()
        stream.write_frame(FrameKind.HANDSHAKE, member.on_proof(await _frame(stream)))
        await stream.drain()
    return member.peer_url
