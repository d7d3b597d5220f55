"""How a member joining a running cluster learns the ID it was added under.

``member add`` gives the newcomer an ID that nobody can derive (a removed ID
must never come back, so each add is unique). The newcomer knows the peer
addresses of the members and the cluster secret; it asks them, over the
authenticated peer port (``consensus.transport.discovery``), which member ID
belongs to its own peer URL, trying each until one answers.
"""
from __future__ import annotations

import asyncio
import logging

from consensus.member_identity import IdentityError
from consensus.transport.discovery import DiscoveryError, ask

logger = logging.getLogger(__name__)

ATTEMPTS = 10


async def discover_member(peers: list[tuple[str, int]], own_peer_url: str, secret: bytes) -> tuple[int, int]:
    """(member id, cluster id) for ``own_peer_url``, asked of ``peers``.
    Raises IdentityError naming what to fix once every member refused or
    none could be reached (after a few rounds, since members may be
    restarting)."""
    reasons: list[str] = []
    for attempt in range(ATTEMPTS):
        reasons = []
        for host, port in peers:
            try:
                return await ask(host, port, secret=secret, peer_url=own_peer_url)
            except DiscoveryError as error:
                reasons.append(f"{host}:{port}: {error}")
                if "no member was added" in str(error) or "secret" in str(error):
                    raise IdentityError(f"--initial-cluster-state existing: {error}") from None
            except (OSError, asyncio.TimeoutError) as error:
                reasons.append(f"{host}:{port}: {error or type(error).__name__}")
        logger.info("discovery attempt %d failed: %s", attempt + 1, "; ".join(reasons))
        await asyncio.sleep(min(0.2 * 2**attempt, 2.0))
    raise IdentityError(
        "--initial-cluster: no member of the cluster told this member its ID (" + "; ".join(reasons) + ")"
    )
