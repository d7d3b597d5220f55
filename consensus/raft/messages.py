"""The vocabulary of the Raft core: entries, hard state, snapshots and messages.

Every type here is immutable. A message that has been handed to the caller in a
ready batch may be serialized, duplicated or delivered late by the network; nothing
the core does afterwards may change it.

``Entry`` is a ``NamedTuple`` rather than a dataclass because one is built per
proposal on the hot path (about twice as fast to construct) and because it
serializes to a plain msgpack array.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import NamedTuple

# Node IDs are positive integers; NONE marks "no leader" / "no vote".
NONE = 0


class EntryType(enum.IntEnum):
    NORMAL = 0
    CONF_CHANGE = 1


class Entry(NamedTuple):
    """One log entry. ``data`` is opaque to the core except for CONF_CHANGE
    entries, whose data is an encoded :class:`ConfChange`."""

    term: int
    index: int
    type: int = EntryType.NORMAL
    data: bytes = b""


class HardState(NamedTuple):
    """What must be on stable storage before any message of the same ready
    batch is sent: the current term, the vote cast in it, the commit index."""

    term: int = 0
    vote: int = NONE
    commit: int = 0


EMPTY_HARD_STATE = HardState()


@dataclass(frozen=True, slots=True)
class ConfState:
    """The membership as of a log index: voters vote and count toward commit;
    learners only receive the log."""

    voters: tuple[int, ...] = ()
    learners: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        overlap = set(self.voters) & set(self.learners)
        if overlap:
            raise ValueError(f"node(s) {sorted(overlap)} are both voter and learner")


class ConfChangeType(enum.IntEnum):
    ADD_NODE = 0  # add a voter, or promote an existing learner to voter
    REMOVE_NODE = 1
    ADD_LEARNER = 2


@dataclass(frozen=True, slots=True)
class ConfChange:
    """A one-node membership change. ``context`` is application data carried
    alongside (e.g. the new member's peer address)."""

    type: ConfChangeType
    node_id: int
    context: bytes = b""

    def encode(self) -> bytes:
        return bytes([int(self.type)]) + self.node_id.to_bytes(8, "big") + self.context

    @classmethod
    def decode(cls, data: bytes) -> "ConfChange":
        if len(data) < 9:
            raise ValueError(f"conf change record too short ({len(data)} bytes)")
        return cls(ConfChangeType(data[0]), int.from_bytes(data[1:9], "big"), bytes(data[9:]))


@dataclass(frozen=True, slots=True)
class SnapshotMetadata:
    index: int = 0
    term: int = 0
    conf_state: ConfState = field(default_factory=ConfState)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The application's state as of ``metadata.index``; ``data`` is opaque."""

    metadata: SnapshotMetadata = field(default_factory=SnapshotMetadata)
    data: bytes = b""

    @property
    def is_empty(self) -> bool:
        return self.metadata.index == 0


EMPTY_SNAPSHOT = Snapshot()


class MessageType(enum.IntEnum):
    # Local inputs: never sent over the network (term 0).
    HUP = 0  # start an election (pre-vote first, if enabled)
    BEAT = 1  # leader: send heartbeats now
    PROP = 2  # propose entries (may also be forwarded follower -> leader)
    CHECK_QUORUM = 3  # leader: step down unless a quorum was recently active
    # Network messages.
    APP = 10
    APP_RESP = 11
    VOTE = 12
    VOTE_RESP = 13
    PRE_VOTE = 14
    PRE_VOTE_RESP = 15
    SNAP = 16
    HEARTBEAT = 17
    HEARTBEAT_RESP = 18
    TRANSFER_LEADER = 19
    TIMEOUT_NOW = 20
    READ_INDEX = 21
    READ_INDEX_RESP = 22


LOCAL_MESSAGES = frozenset({MessageType.HUP, MessageType.BEAT, MessageType.CHECK_QUORUM})


@dataclass(frozen=True, slots=True)
class Message:
    """A Raft message. Field use by type follows etcd's raftpb.Message:

    - APP: ``index``/``log_term`` locate the entry preceding ``entries``; ``commit``.
    - APP_RESP: ``index`` is the last index accepted, or on ``reject`` the index
      that was rejected, with ``reject_hint``/``log_term`` for fast backtracking.
    - VOTE/PRE_VOTE: ``index``/``log_term`` describe the candidate's last entry.
    - HEARTBEAT: ``commit`` (capped at the follower's match) and ``context``
      (a ReadIndex round). HEARTBEAT_RESP echoes ``context``.
    - READ_INDEX: ``context`` identifies the request; READ_INDEX_RESP carries
      the read ``index``.
    """

    type: MessageType
    to: int = NONE
    frm: int = NONE
    term: int = 0
    log_term: int = 0
    index: int = 0
    entries: tuple[Entry, ...] = ()
    commit: int = 0
    snapshot: Snapshot | None = None
    reject: bool = False
    reject_hint: int = 0
    context: bytes = b""


class StateType(enum.IntEnum):
    FOLLOWER = 0
    CANDIDATE = 1
    LEADER = 2
    PRE_CANDIDATE = 3


@dataclass(frozen=True, slots=True)
class SoftState:
    """Volatile state worth reporting when it changes; never persisted."""

    lead: int
    state: StateType


@dataclass(frozen=True, slots=True)
class ReadState:
    """A linearizable read may be served once the state machine has applied
    ``index``. The core only releases a ReadState when that is already true."""

    index: int
    context: bytes
