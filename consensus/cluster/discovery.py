"""How a member joining a running cluster learns the ID it was added under.

``member add`` gives the newcomer an ID that nobody can derive (a removed ID
must never come back, so each add is unique). The newcomer knows the peer
addresses of the members and the cluster secret; it asks them, over the
authenticated peer transport, which member ID belongs to its own peer URL.
"""
from __future__ import annotations

from consensus.member_identity import IdentityError


async def discover_member(peers: list[tuple[str, int]], own_peer_url: str, secret: bytes) -> tuple[int, int]:
    """(member id, cluster id) for ``own_peer_url``, asked of ``peers``."""
    raise IdentityError("--initial-cluster-state existing: joining is not available yet")
