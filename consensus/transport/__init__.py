"""Layer 3: Raft peer messages over asyncio TCP.

Pure parts: ``codec`` (messages <-> msgpack), ``frames`` (length-prefixed
frames), ``handshake`` (mutual HMAC authentication), ``snapshot_stream``
(chunking and reassembly). I/O parts: ``stream`` (a framed connection),
``peer`` (the outbound queue and writer for one peer), ``server`` (the
listener), and the facade the node uses, ``transport.PeerTransport``.
Imports only ``consensus.raft`` from this project.
"""
from .codec import CodecError
from .frames import FrameError
from .handshake import HandshakeError
from .stats import PeerStats
from .transport import PeerTransport

__all__ = ["CodecError", "FrameError", "HandshakeError", "PeerStats", "PeerTransport"]
