"""The runtime's ordering rules (``consensus.runtime.ready_steps``), on the
real ``RawNode``.

The log-divergence defect of issue 16: with one voter, a node wins pre-vote,
vote and leadership inside one ``step``, so a proposal in the same inbox
burst is appended and sent in the Ready that also carries its new term. If
a leader sent before persisting whatever the Ready held, a crash before the
fsync left a learner holding entries of a term the leader forgot: back at
the old term, the leader won the same term again and appended other
entries at the same (index, term)."""
from __future__ import annotations

import random

from consensus.raft.log_storage import MemoryStorage
from consensus.raft.messages import ConfChange, Entry, EntryType, HardState, Message, MessageType
from consensus.raft.raft import Config
from consensus.raft.raw_node import RawNode, Ready
from consensus.runtime import ready_steps


class NullLog:
    def debug(self, *a):
        pass

    info = warning = error = debug


class Member:
    def __init__(self, node_id: int) -> None:
        self.id = node_id
        self.storage = MemoryStorage()
        self.start()

    def start(self) -> None:
        config = Config(id=self.id, peers=(1,), learners=(2,), election_tick=10, heartbeat_tick=1)
        self.raw = RawNode(config, self.storage, rng=random.Random(self.id), logger=NullLog())

    def handle(self, outbox: list[Message], *, crash_before_persist: bool = False) -> bool:
        """Perform one Ready's steps; True if the node crashed before its
        persist step (what was sent before it is in ``outbox``)."""
        rd: Ready = self.raw.ready()
        for step in ready_steps.steps(rd, is_leader=self.raw.is_leader):
            if isinstance(step, ready_steps.Send):
                outbox.extend(step.messages)
            elif isinstance(step, ready_steps.Persist):
                if crash_before_persist:
                    return True
                if step.snapshot is not None:
                    self.storage.apply_snapshot(step.snapshot)
                self.storage.append(step.entries)
                if step.hard_state is not None:
                    self.storage.set_hard_state(step.hard_state)
            elif isinstance(step, ready_steps.Apply):
                for entry in step.entries:
                    if entry.type == EntryType.CONF_CHANGE:
                        self.raw.apply_conf_change(ConfChange.decode(entry.data))
        self.raw.advance(rd)
        return False


def pump(members: dict[int, Member]) -> None:
    for _ in range(50):
        outbox: list[Message] = []
        for m in members.values():
            while m.raw.has_ready():
                m.handle(outbox)
        if not outbox:
            return
        for message in outbox:
            members[message.to].raw.step(message)


def entry_at(member: Member, index: int) -> Entry | None:
    storage = member.storage
    if not storage.first_index() <= index <= storage.last_index():
        return None
    return storage.entries(index, index + 1)[0]


def test_a_new_terms_appends_never_leave_before_the_term_is_durable():
    members = {1: Member(1), 2: Member(2)}
    pump(members)  # the bootstrap configuration, applied
    members[1].raw.campaign()
    pump(members)
    assert members[1].raw.is_leader
    members[1].raw.propose(b"before")
    pump(members)
    assert members[2].storage.last_index() == members[1].storage.last_index()

    # Restarted, the lone voter campaigns and takes a proposal in one burst;
    # it crashes before its persist step.
    leader = members[1]
    leader.start()
    pump({1: leader})
    leader.raw.campaign()
    leader.raw.propose(b"X")
    assert leader.raw.is_leader
    sent: list[Message] = []
    assert leader.handle(sent, crash_before_persist=True)
    for message in sent:
        members[2].raw.step(message)
    pump({2: members[2]})

    # Back at the old term, it wins the same new term again and appends Y.
    leader.start()
    pump({1: leader})
    leader.raw.campaign()
    leader.raw.propose(b"Y")
    pump(members)
    members[1].raw.propose(b"after")
    pump(members)

    last = max(m.storage.last_index() for m in members.values())
    for index in range(1, last + 1):
        ours, theirs = entry_at(members[1], index), entry_at(members[2], index)
        if ours is not None and theirs is not None and ours.term == theirs.term:
            assert ours.data == theirs.data, f"logs forked at index {index} term {ours.term}"
    assert [e.data for e in members[2].storage.entries(1, members[2].storage.last_index() + 1)
            if e.data in (b"X", b"Y")] == [b"Y"]


def _ready(**fields) -> Ready:
    return Ready(**fields)


def test_a_leader_sends_first_only_without_a_new_term_or_vote():
    app = [Message(MessageType.APP, frm=1, to=2, term=3)]
    same_term = _ready(hard_state=HardState(3, 1, 7), messages=app, entries=[Entry(8, 3)], must_sync=True)
    plan = ready_steps.steps(same_term, is_leader=True)
    assert isinstance(plan[0], ready_steps.Send) and plan[0].before_persist
    assert isinstance(plan[1], ready_steps.Persist) and plan[1].sync

    new_term = _ready(hard_state=HardState(4, 1, 7), messages=app, entries=[Entry(8, 4)], must_sync=True,
                      must_sync_hard_state=True)
    plan = ready_steps.steps(new_term, is_leader=True)
    assert [type(s) for s in plan] == [ready_steps.Persist, ready_steps.Send]

    follower = ready_steps.steps(same_term, is_leader=False)
    assert [type(s) for s in follower] == [ready_steps.Persist, ready_steps.Send]

    commit_only = ready_steps.steps(_ready(hard_state=HardState(3, 1, 9)), is_leader=False)
    assert commit_only == [ready_steps.Persist(HardState(3, 1, 9), [], None, sync=False)]
