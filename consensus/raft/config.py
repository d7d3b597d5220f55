"""A node's static Raft parameters, and the error a refused proposal raises."""
from __future__ import annotations

from dataclasses import dataclass

from .messages import NONE


class ProposalDroppedError(Exception):
    """The proposal was not appended: no known leader, a leader transfer is in
    progress, this node was removed, or a configuration change is pending.
    The caller may retry, possibly on another node."""


@dataclass(frozen=True, slots=True)
class Config:
    """Static parameters of one node. Ticks are the only unit of time:
    ``election_tick`` must be well above ``heartbeat_tick`` (10x is usual)."""

    id: int
    peers: tuple[int, ...] = ()  # initial voters: bootstrapped into an empty log, else ignored
    learners: tuple[int, ...] = ()
    election_tick: int = 10
    heartbeat_tick: int = 1
    applied: int = 0
    max_size_per_msg: int = 1 << 20
    max_inflight_msgs: int = 256
    check_quorum: bool = True
    pre_vote: bool = True

    def validate(self) -> None:
        if self.id == NONE:
            raise ValueError("node id must be non-zero")
        if self.heartbeat_tick <= 0:
            raise ValueError("heartbeat_tick must be greater than 0")
        if self.election_tick <= self.heartbeat_tick:
            raise ValueError("election_tick must be greater than heartbeat_tick")
        if self.max_inflight_msgs <= 0:
            raise ValueError("max_inflight_msgs must be greater than 0")
