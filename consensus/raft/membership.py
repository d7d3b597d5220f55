"""Membership of the Raft group: bootstrapping a new cluster and applying
one-node configuration changes (voters and learners).

A mixin of ``Raft`` (it uses the node's progress map, log and role
transitions); kept apart because configuration is its own concept with its
own safety argument, stated in ``raft.py``'s module docstring.
"""
from __future__ import annotations

from typing import Sequence

from .messages import NONE, ConfChange, ConfChangeType, ConfState, Entry, EntryType, MessageType as MT, StateType
from .progress import Progress
from .raft_log import RaftInvariantError


class Membership:
    """Voters, learners and their progress; see ``apply_conf_change``."""

    def _bootstrap(self, peers: Sequence[int], learners: Sequence[int]) -> None:
        """Start a brand-new cluster: the initial membership is written as
        committed CONF_CHANGE entries at term 1 (as etcd does), so that a
        member added later learns it from the log like any other change."""
        changes = [ConfChange(ConfChangeType.ADD_NODE, p) for p in peers]
        changes += [ConfChange(ConfChangeType.ADD_LEARNER, p) for p in learners]
        self.raft_log.append(
            [Entry(1, i + 1, EntryType.CONF_CHANGE, cc.encode()) for i, cc in enumerate(changes)]
        )
        self.raft_log.committed = len(changes)
        self.term = 1
        self._apply_conf_state(ConfState(tuple(peers), tuple(learners)))

    # -- membership -----------------------------------------------------------

    def _apply_conf_state(self, conf_state: ConfState) -> None:
        self.voters = set(conf_state.voters)
        self.learners = set(conf_state.learners)
        last = self.raft_log.last_index()
        old = self.prs
        self.prs = {}
        for node_id in [*conf_state.voters, *conf_state.learners]:
            pr = old.get(node_id) or Progress(last + 1, max_inflight=self.max_inflight)
            pr.is_learner = node_id in self.learners
            self.prs[node_id] = pr

    def conf_state(self) -> ConfState:
        return ConfState(tuple(sorted(self.voters)), tuple(sorted(self.learners)))

    def step_down_removed(self) -> None:
        """A removed leader whose hand-over did not complete: tell the
        others the commit index (capped at what each holds, as a heartbeat
        does), then step down."""
        for member, pr in self.prs.items():
            self._send(MT.HEARTBEAT, member, commit=min(pr.match, self.raft_log.committed))
        self.logger.info("raft %d was removed and could not hand over leadership; stepping down", self.id)
        self.become_follower(self.term, NONE)

    def apply_conf_change(self, cc: ConfChange) -> ConfState:
        """Make a committed membership change take effect on this node."""
        node_id = cc.node_id
        if cc.type == ConfChangeType.ADD_NODE:
            self.learners.discard(node_id)
            self.voters.add(node_id)
        elif cc.type == ConfChangeType.ADD_LEARNER:
            if node_id in self.voters:
                self.logger.warning("raft %d ignores demoting voter %d to learner", self.id, node_id)
            else:
                self.learners.add(node_id)
        elif cc.type == ConfChangeType.REMOVE_NODE:
            self.voters.discard(node_id)
            self.learners.discard(node_id)
        else:
            raise RaftInvariantError(f"unknown conf change type {cc.type!r}")
        last = self.raft_log.last_index()
        new_prs: dict[int, Progress] = {}
        for member in [*sorted(self.voters), *sorted(self.learners)]:
            pr = self.prs.get(member)
            if pr is None:
                pr = Progress(last + 1, max_inflight=self.max_inflight)
                # A new member has just been heard of: treat it as active so a
                # check-quorum right after the change does not depose us.
                pr.recent_active = True
            pr.is_learner = member in self.learners
            new_prs[member] = pr
        self.prs = new_prs
        self.logger.info(
            "raft %d applied %s %d: voters=%s learners=%s",
            self.id, cc.type.name, node_id, sorted(self.voters), sorted(self.learners),
        )
        if self.state == StateType.LEADER:
            if self.id not in self.voters:
                # The others may not know the removal committed: with two
                # voters, the one left, still under the old configuration,
                # needs the removed one's vote, and would wait for it forever
                # should the removed one step down with a longer log. So the
                # removed leader keeps leading (it takes no proposals) until
                # it has handed leadership to the most up-to-date voter left
                # (etcd's raft leaves this as a TODO); a transfer that times
                # out ends in ``step_down_removed``.
                if not self.voters:
                    self.step_down_removed()
                    return self.conf_state()
                target = max((pr.match, member) for member, pr in self.prs.items() if member in self.voters)[1]
                self.logger.info("raft %d was removed; handing leadership to %d before stepping down",
                                 self.id, target)
                self.lead_transferee = NONE
                self._handle_transfer_leader(target, self.prs[target])
            else:
                if self.lead_transferee != NONE and self.lead_transferee not in self.voters:
                    self.lead_transferee = NONE
                if self._maybe_commit():
                    self.bcast_append()
                else:
                    self._needs_broadcast = True
        return self.conf_state()
