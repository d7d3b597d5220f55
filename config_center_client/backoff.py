"""Reconnect delays: exponential, capped, with jitter.

The n-th delay in a row (from 0) is drawn uniformly from ``[d/2, d]`` where
``d = min(maximum, initial * multiplier**n)`` ("equal jitter"): it never
falls below half the nominal delay, so a dead cluster is not hammered, and
clients that lost the same member at the same moment spread out instead of
coming back in step. ``reset()`` after a healthy session starts over.
"""
from __future__ import annotations

import random


class Backoff:
    """Delays for consecutive failed attempts (module docstring).

    ``rng`` is the source of jitter; pass a seeded ``random.Random`` for
    reproducible delays.
    """

    def __init__(self, initial: float = 0.1, maximum: float = 10.0, multiplier: float = 2.0,
                 rng: random.Random | None = None) -> None:
        if not 0 < initial <= maximum:
            raise ValueError(f"backoff needs 0 < initial <= maximum, got initial={initial}, maximum={maximum}")
        if multiplier < 1:
            raise ValueError(f"backoff multiplier must be at least 1, got {multiplier}")
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.rng = rng or random.Random()
        self.attempts = 0

    def nominal(self, attempt: int) -> float:
        """The upper bound of the delay after ``attempt`` failures in a row."""
        # Multiply step by step up to the cap: multiplier**attempt would
        # overflow a float after a long outage (thousands of attempts).
        delay = self.initial
        for _ in range(attempt):
            delay *= self.multiplier
            if delay >= self.maximum:
                return self.maximum
        return min(delay, self.maximum)

    def next(self) -> float:
        """The delay before the next attempt; counts the failure."""
        upper = self.nominal(self.attempts)
        self.attempts += 1
        return self.rng.uniform(upper / 2, upper)

    def reset(self) -> None:
        self.attempts = 0
