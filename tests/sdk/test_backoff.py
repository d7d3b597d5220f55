"""Reconnect delays: within [d/2, d] of the nominal delay, doubling from
the initial one up to the cap, starting over after ``reset``, reproducible
with a seeded RNG."""
from __future__ import annotations

import random

import pytest

from config_center_client import Backoff


def test_delays_double_up_to_the_cap_with_bounded_jitter():
    backoff = Backoff(0.1, 10.0, rng=random.Random(11))
    nominal = [0.1 * 2 ** n for n in range(7)] + [10.0] * 20  # 6.4, then the cap
    for attempt, upper in enumerate(nominal):
        assert backoff.nominal(attempt) == pytest.approx(min(upper, 10.0))
        delay = backoff.next()
        assert min(upper, 10.0) / 2 <= delay <= min(upper, 10.0), (attempt, delay)


def test_reset_starts_over_and_a_huge_attempt_count_stays_capped():
    backoff = Backoff(0.1, 10.0, rng=random.Random(12))
    for _ in range(50):
        backoff.next()
    backoff.reset()
    assert backoff.next() <= 0.1
    assert backoff.nominal(100_000) == 10.0  # no float overflow after a long outage


def test_seeded_delays_are_reproducible_and_jitter_spreads_clients():
    def delays(seed):
        backoff = Backoff(rng=random.Random(seed))
        return [backoff.next() for _ in range(5)]

    assert delays(13) == delays(13)
    first_retries = {delays(seed)[0] for seed in range(20)}
    assert len(first_retries) == 20, "clients that failed together come back at different moments"


@pytest.mark.parametrize("kwargs", [{"initial": 0}, {"initial": 5, "maximum": 1}, {"multiplier": 0.5}])
def test_nonsense_parameters_are_refused(kwargs):
    with pytest.raises(ValueError):
        Backoff(**kwargs)
