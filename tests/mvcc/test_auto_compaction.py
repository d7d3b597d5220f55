"""etcd 3.4's auto-compaction policies, driven with a fake clock: when each
asks for a compaction, and to which revision."""
from __future__ import annotations

import pytest

from consensus.mvcc.auto_compaction import PeriodicCompaction, RevisionCompaction


def run(policy, seconds: float, revision_at):
    """Call ``due`` every ``policy.interval`` for ``seconds``, marking each
    compaction done; the (time, revision) of each compaction asked for."""
    asked = []
    steps = round(seconds / policy.interval)
    for step in range(1, steps + 1):
        now = step * policy.interval
        target = policy.due(now, revision_at(now))
        if target is not None:
            asked.append((round(now), target))
            policy.done(now, target)
    return asked


def test_periodic_keeps_the_retention_of_history_and_compacts_hourly_beyond_an_hour():
    # one revision a second; keep 2 hours
    policy = PeriodicCompaction(2 * 3600, start=0.0)
    assert policy.interval == 360  # a tenth of an hour
    asked = run(policy, 5 * 3600, revision_at=lambda now: int(now))
    # the first after the whole retention, then one an hour, each to the revision of 2 h before
    assert asked == [(7200, 360), (10800, 3600), (14400, 7200), (18000, 10800)]
    assert all(now - revision <= 2 * 3600 + policy.interval for now, revision in asked)


def test_periodic_below_an_hour_compacts_once_per_retention():
    policy = PeriodicCompaction(600, start=0.0)
    assert policy.interval == 60
    asked = run(policy, 1800, revision_at=lambda now: 1000 + int(now))
    assert [now for now, _ in asked] == [600, 1200, 1800]
    assert [revision for _, revision in asked] == [1060, 1600, 2200]


def test_periodic_retries_at_the_next_sample_when_a_compaction_failed():
    policy = PeriodicCompaction(600, start=0.0)
    targets = [policy.due(60 * step, 5 + step) for step in range(1, 12)]
    assert targets[:9] == [None] * 9 and targets[9] == 6  # due at 600 s, not marked done
    assert targets[10] == 6  # asked again a sample later (the oldest kept is still 6)


def test_revision_mode_keeps_the_last_n_revisions_every_five_minutes():
    policy = RevisionCompaction(1000)
    assert policy.interval == 300
    assert policy.due(300, 800) is None  # nothing older than 1000 revisions yet
    assert policy.due(600, 5000) == 4000
    policy.done(600, 4000)
    assert policy.due(900, 5000) is None  # no new revision: the same target is not asked twice
    assert policy.due(1200, 5200) == 4200


def test_a_retention_must_be_positive():
    with pytest.raises(ValueError):
        PeriodicCompaction(0, start=0.0)
    with pytest.raises(ValueError):
        RevisionCompaction(0)
