"""Slowing down password guessing.

After a few wrong passwords for one user name, further attempts for that
name are refused for a while without checking the password, and the wait
doubles with every failure past the limit (up to a cap). The count is kept
per user name, not per address: an attacker spreading guesses over many
addresses is slowed just the same. It is kept in the memory of each member,
so an attacker who can reach every member of a three-member cluster gets at
most three times the attempts; keeping it in the store instead would turn
every guess into a replicated write.

A correct password resets the count, so a locked-out user who waits gets in
on the first try.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import cachetools

from .errors import TooManyAttemptsError

FREE_FAILURES = 5          # wrong passwords allowed before any wait
FIRST_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 60 * 60.0  # a quiet hour wipes a name's record


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0


class LoginThrottle:
    def __init__(self, clock: Callable[[], float], max_names: int = 100_000) -> None:
        self._clock = clock
        # Bounded, so a flood of made-up names cannot grow memory without end.
        self._records: cachetools.TTLCache = cachetools.TTLCache(
            maxsize=max_names, ttl=FORGET_AFTER_SECONDS, timer=clock)

    def check(self, name: str) -> None:
        """Raise ``TooManyAttemptsError`` while ``name`` must wait."""
        record = self._records.get(name)
        if record is None:
            return
        wait = record.blocked_until - self._clock()
        if wait > 0:
            seconds = int(wait) + 1
            raise TooManyAttemptsError(
                f"too many failed logins for this user; try again in {seconds} s",
                details={"retry_after": seconds})

    def failed(self, name: str) -> None:
        record = self._records.get(name) or _Record()
        record.failures += 1
        past_limit = record.failures - FREE_FAILURES
        if past_limit > 0:
            wait = min(FIRST_WAIT_SECONDS * 2 ** (past_limit - 1), MAX_WAIT_SECONDS)
            record.blocked_until = self._clock() + wait
        self._records[name] = record  # re-inserting restarts the record's hour

    def succeeded(self, name: str) -> None:
        self._records.pop(name, None)
