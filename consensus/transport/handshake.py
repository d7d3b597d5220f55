"""Mutual authentication of two cluster members with the shared secret.

Sans-I/O: :class:`DialerHandshake` and :class:`ListenerHandshake` turn the
payloads of ``HANDSHAKE`` frames into the next payload to send; the caller
does the I/O and supplies the random nonces (``secrets.token_bytes``).

The exchange (each line one frame)::

    dialer   -> listener  HELLO     version, cluster_id, dialer_id, listener_id, nonce_d
    listener -> dialer    CHALLENGE nonce_l, proof_l
    dialer   -> listener  PROOF     proof_d
    listener -> dialer    WELCOME                          (or REFUSED, reason)

    proof_x = HMAC-SHA256(secret, LABEL_x || cluster_id || dialer_id || listener_id
                                  || nonce_d || nonce_l)

with fixed-width fields (ids as 8-byte big-endian, 32-byte nonces), so the MAC
input is unambiguous. Why each part is there:

- both nonces: the listener's fresh nonce makes an old PROOF useless (replay
  of a recorded dialer transcript); the dialer's fresh nonce does the same for
  an old CHALLENGE (a recorded listener answering in place of the real one);
- the direction labels: a listener's proof can never pass as a dialer's proof
  of the same nonces (reflection: an attacker who dials A and hands A's own
  challenge back to it);
- both ids and the cluster id: a proof made for one pair of members or one
  cluster does not authenticate another.

Refusals: the listener answers REFUSED (with a reason, for the operator's log)
to a wrong version, a wrong cluster id, a dialer id it does not know as a
peer, a HELLO addressed to another member id, or a wrong proof. A dialer
refuses a listener whose proof is wrong. Neither side delivers anything
before WELCOME. The comparison is :func:`hmac.compare_digest`.

What this does not give: confidentiality or integrity of the frames after the
handshake. An active attacker on the path can still inject into or read a
TCP stream once it is authenticated; a network you do not trust needs TLS
under this protocol.
"""
from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass, field
from typing import Callable

import msgpack

VERSION = 1
NONCE_SIZE = 32
_IDS = struct.Struct(">QQQ")
_MAX_UINT64 = (1 << 64) - 1
_DIALER_LABEL = b"config_center raft transport v1: dialer proof\x00"
_LISTENER_LABEL = b"config_center raft transport v1: listener proof\x00"

HELLO = "hello"
CHALLENGE = "challenge"
PROOF = "proof"
WELCOME = "welcome"
REFUSED = "refused"


class HandshakeError(Exception):
    """The handshake failed; the message says why (safe to log). The
    connection must be closed without delivering anything."""


class HandshakeRefused(HandshakeError):
    """This side refused the other one. ``reply`` is the REFUSED payload to
    send before closing (the reason helps the other side's operator)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reply = _pack(REFUSED, reason)


def proof(secret: bytes, label: bytes, cluster_id: int, dialer_id: int, listener_id: int,
          dialer_nonce: bytes, listener_nonce: bytes) -> bytes:
    """The HMAC one side sends to prove it knows ``secret`` (see module doc)."""
    message = label + _IDS.pack(cluster_id, dialer_id, listener_id) + dialer_nonce + listener_nonce
    return hmac.new(secret, message, hashlib.sha256).digest()


def check_identity(secret: bytes, cluster_id: int, node_id: int) -> None:
    """Raise ValueError for parameters no handshake could work with."""
    if not isinstance(secret, bytes) or not secret:
        raise ValueError("the cluster secret must be non-empty bytes (32 random bytes recommended)")
    if not 0 <= cluster_id <= _MAX_UINT64:
        raise ValueError(f"cluster id {cluster_id} does not fit in 64 bits")
    if not 0 < node_id <= _MAX_UINT64:
        raise ValueError(f"node id {node_id} must be a positive 64-bit integer")


@dataclass(frozen=True, slots=True)
class Identity:
    """Who this member is, as the handshake proves it. ``repr`` hides the secret."""

    node_id: int
    cluster_id: int
    secret: bytes = field(repr=False)

    def __post_init__(self) -> None:
        check_identity(self.secret, self.cluster_id, self.node_id)


class DialerHandshake:
    """The connecting side, which knows whom it expects to reach.

    Use: send :meth:`hello`; feed the answer to :meth:`on_challenge` and send
    what it returns; feed the next answer to :meth:`on_result`. Any method
    raises :class:`HandshakeError` on failure.
    """

    def __init__(self, *, secret: bytes, cluster_id: int, node_id: int, peer_id: int, nonce: bytes) -> None:
        check_identity(secret, cluster_id, node_id)
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
        self._secret = secret
        self._cluster_id = cluster_id
        self._node_id = node_id
        self._peer_id = peer_id
        self._nonce = nonce
        self._listener_nonce: bytes | None = None

    def hello(self) -> bytes:
        return _pack(HELLO, VERSION, self._cluster_id, self._node_id, self._peer_id, self._nonce)

    def on_challenge(self, payload: bytes | memoryview) -> bytes:
        """Check the listener's proof; return our PROOF payload."""
        fields = _unpack(payload, CHALLENGE, 2)
        listener_nonce, listener_proof = fields
        if type(listener_nonce) is not bytes or len(listener_nonce) != NONCE_SIZE or type(listener_proof) is not bytes:
            raise HandshakeError("malformed challenge")
        expected = proof(self._secret, _LISTENER_LABEL, self._cluster_id, self._node_id, self._peer_id,
                         self._nonce, listener_nonce)
        if not hmac.compare_digest(expected, listener_proof):
            raise HandshakeError(
                f"member {self._peer_id} failed to prove it knows the cluster secret "
                "(wrong secret, or not the member configured at this address)"
            )
        self._listener_nonce = listener_nonce
        mine = proof(self._secret, _DIALER_LABEL, self._cluster_id, self._node_id, self._peer_id,
                     self._nonce, listener_nonce)
        return _pack(PROOF, mine)

    def on_result(self, payload: bytes | memoryview) -> None:
        """Return if the listener accepted us; raise otherwise."""
        if self._listener_nonce is None:
            raise HandshakeError("result before challenge")
        _unpack(payload, WELCOME, 0)


class ListenerHandshake:
    """The accepting side. ``is_peer(id)`` says whether ``id`` is currently a
    known peer; it is asked when the HELLO arrives.

    Use: feed the first payload to :meth:`on_hello` and send the CHALLENGE it
    returns; feed the next one to :meth:`on_proof` and send the WELCOME it
    returns. On failure they raise :class:`HandshakeRefused` (send its
    ``reply``, then close) or :class:`HandshakeError` (just close).
    ``peer_id`` is the authenticated dialer once :meth:`on_proof` returned.
    """

    def __init__(self, *, secret: bytes, cluster_id: int, node_id: int,
                 is_peer: Callable[[int], bool], nonce: bytes) -> None:
        check_identity(secret, cluster_id, node_id)
        if len(nonce) != NONCE_SIZE:
            raise ValueError(f"nonce must be {NONCE_SIZE} bytes")
        self._secret = secret
        self._cluster_id = cluster_id
        self._node_id = node_id
        self._is_peer = is_peer
        self._nonce = nonce
        self._claimed_id: int | None = None
        self._dialer_nonce = b""
        self.peer_id: int | None = None

    @property
    def claimed_id(self) -> int | None:
        """The id the dialer claimed in its HELLO (not yet authenticated)."""
        return self._claimed_id

    def on_hello(self, payload: bytes | memoryview) -> bytes:
        try:
            version, cluster_id, dialer_id, listener_id, dialer_nonce = _unpack(payload, HELLO, 5)
        except HandshakeError as exc:
            raise HandshakeRefused(str(exc)) from None
        if version != VERSION:
            raise HandshakeRefused(f"unsupported transport version {version!r} (this member speaks {VERSION})")
        if type(dialer_id) is not int or not 0 < dialer_id <= _MAX_UINT64:
            raise HandshakeRefused("malformed hello: bad member id")
        if type(dialer_nonce) is not bytes or len(dialer_nonce) != NONCE_SIZE:
            raise HandshakeRefused("malformed hello: bad nonce")
        self._claimed_id = dialer_id
        if cluster_id != self._cluster_id:
            raise HandshakeRefused(f"cluster id mismatch: this member is in cluster {self._cluster_id:#x}, "
                                   f"not {cluster_id!r}")
        if listener_id != self._node_id:
            raise HandshakeRefused(f"this is member {self._node_id}, not {listener_id!r}: check the peer addresses")
        if dialer_id == self._node_id or not self._is_peer(dialer_id):
            raise HandshakeRefused(f"member {dialer_id} is not a known peer of member {self._node_id}")
        self._dialer_nonce = dialer_nonce
        mine = proof(self._secret, _LISTENER_LABEL, self._cluster_id, dialer_id, self._node_id,
                     dialer_nonce, self._nonce)
        return _pack(CHALLENGE, self._nonce, mine)

    def on_proof(self, payload: bytes | memoryview) -> bytes:
        if self._claimed_id is None:
            raise HandshakeError("proof before hello")
        try:
            (dialer_proof,) = _unpack(payload, PROOF, 1)
        except HandshakeError as exc:
            raise HandshakeRefused(str(exc)) from None
        expected = proof(self._secret, _DIALER_LABEL, self._cluster_id, self._claimed_id, self._node_id,
                         self._dialer_nonce, self._nonce)
        if type(dialer_proof) is not bytes or not hmac.compare_digest(expected, dialer_proof):
            raise HandshakeRefused("authentication failed: wrong cluster secret")
        self.peer_id = self._claimed_id
        return _pack(WELCOME)


def _pack(step: str, *fields: object) -> bytes:
    return msgpack.packb((step, *fields), use_bin_type=True)


def _unpack(payload: bytes | memoryview, step: str, count: int) -> tuple:
    try:
        item = msgpack.unpackb(payload, raw=False, use_list=False, strict_map_key=True)
    except Exception:
        raise HandshakeError(f"malformed {step} (not msgpack)") from None
    if type(item) is not tuple or not item or type(item[0]) is not str:
        raise HandshakeError(f"malformed {step}")
    if item[0] == REFUSED and step != REFUSED:
        reason = item[1] if len(item) > 1 and type(item[1]) is str else "no reason given"
        raise HandshakeError(f"refused by the other member: {reason[:200]}")
    if item[0] != step or len(item) != count + 1:
        raise HandshakeError(f"expected {step}, got a malformed or different handshake step")
    return item[1:]
