"""Slowing down password guessing, and keeping a flood of guesses from
crowding out the people who know their password.

Every login attempt passes three rules before its password is hashed, so an
attempt they refuse costs no hashing; each refusal is a
``TooManyAttemptsError`` (429) with ``retry_after`` seconds.

1. Per user name (``LoginThrottle``): after ``FREE_FAILURES`` wrong
   passwords for one name, further attempts for it are refused for a while,
   and the wait doubles with every failure past the limit (up to a cap).
   Counting per name slows an attacker who spreads guesses for one account
   over many addresses just the same. A correct password resets the count,
   so a locked-out user who waits gets in on the first try.
2. Per client address (``LoginThrottle``): after ``ADDRESS_FREE_FAILURES``
   failures from one address, whatever the names, that address waits by
   the same doubling rule. Rule 1 never slows a flood of made-up names
   (each is tried once) or one password tried against many names; this
   does. A success from the address resets only its own name's count, not
   the address's: an attacker with an account of their own could otherwise
   log into it between guesses and never be slowed. Only a quiet hour
   clears an address.
3. Concurrency (``PasswordChecks``): at most ``PER_ADDRESS_CHECKS`` hashes
   in flight for one address and ``TOTAL_CHECKS`` in all: one per core but
   one, which is left to the node's own Python thread (the GIL holds it to
   about one core), because hashing is CPU-bound and more at once only
   makes every check slower and starves the requests around them. An
   attempt beyond that is refused (retry after 1 s) instead of queueing
   behind the flood. Admitted checks run in threads of their own, as many
   as the bounds admit, so none waits for a thread that something else
   holds.

A refusal is answered after ``REFUSAL_PAUSE_SECONDS``, decided at once but
not sent at once. Waiting costs the node nothing (a sleeping coroutine, and
the request's thread, which a client retrying at once would occupy anyway),
while a refusal answered in a few milliseconds invites a loop that retries
hundreds of times a second: measured on a 2-core node, 32 such loops made
250 refusals a second, took a whole core with Django's request handling
alone, and held a correct login to 0.8-1.1 s; with the pause, 0.4-0.7 s.
A person never notices a quarter of a second on top of "try again in
30 s".

Who behind a flooded address still gets in. A (name, address) pair that
logged in successfully within ``TRUST_SECONDS`` is trusted: its attempts skip
rule 2, take one of ``RESERVED_CHECKS`` slots kept for trusted attempts
alone (or a general one when those are taken), and while one runs no
untrusted check starts, so it has the cores but for the checks already
running. So a flood from an office's NAT address, or from the machine the
administrator works on, does not lock out the people who have logged in
from there before, and their check does not wait behind the flood's, nor
share the cores with it for longer than one check. Their own name's rule 1
still applies, so a guesser who shares their address gets no more guesses
at their account than anyone else. Someone who has never logged in from
that address is refused like the flood is, until the address's wait (rule
2) is over or a slot is free (rule 3).
The alternative, letting every existing user name past rules 2 and 3, was
rejected: it would tell a throttled address which names exist (an instant
429 for a made-up name, a checked answer for a real one). As it is, the
rules look at the name string, the address and past successes, never at
whether the name exists, and ``users.authenticate`` checks an unknown name
against a dummy hash under the same bounds, so to anyone the rules let
through a made-up name costs what a real one does. Trust reveals only that
a name logged in from that very address.

All of this is kept in the memory of each member, bounded: an attacker
who can reach every member of a three-member cluster gets at most three
times the allowance, and a restarted member trusts nobody until they log in
there once more. Keeping it in the store instead would turn every guess
into a replicated write.
"""
from __future__ import annotations

import asyncio
import os
import threading
import weakref
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable

import cachetools

from .errors import TooManyAttemptsError

FREE_FAILURES = 5          # wrong passwords for one name allowed before any wait
ADDRESS_FREE_FAILURES = 10  # failures from one address, any names, before any wait
FIRST_WAIT_SECONDS = 30.0
MAX_WAIT_SECONDS = 15 * 60.0
FORGET_AFTER_SECONDS = 60 * 60.0  # a quiet hour wipes a name's or an address's record
TRUST_SECONDS = 30 * 24 * 60 * 60.0

PER_ADDRESS_CHECKS = 2
TOTAL_CHECKS = max(1, (os.cpu_count() or 2) - 1)
RESERVED_CHECKS = 1
BUSY_RETRY_SECONDS = 1
REFUSAL_PAUSE_SECONDS = 0.25


@dataclass
class _Record:
    failures: int = 0
    blocked_until: float = 0.0


class _Counts:
    """Failures per key with the doubling wait of rules 1 and 2."""

    def __init__(self, clock: Callable[[], float], free: int, maxsize: int) -> None:
        self._clock = clock
        self._free = free
        # Bounded, so a flood of made-up names or addresses cannot grow memory without end.
        self._records: cachetools.TTLCache = cachetools.TTLCache(
            maxsize=maxsize, ttl=FORGET_AFTER_SECONDS, timer=clock)

    def wait(self, key: str) -> int:
        """Whole seconds ``key`` must still wait; 0 when it need not."""
        record = self._records.get(key)
        if record is None:
            return 0
        left = record.blocked_until - self._clock()
        return int(left) + 1 if left > 0 else 0

    def failed(self, key: str) -> None:
        record = self._records.get(key) or _Record()
        record.failures += 1
        past_limit = record.failures - self._free
        if past_limit > 0:
            wait = min(FIRST_WAIT_SECONDS * 2 ** (past_limit - 1), MAX_WAIT_SECONDS)
            record.blocked_until = self._clock() + wait
        self._records[key] = record  # re-inserting restarts the record's hour

    def forget(self, key: str) -> None:
        self._records.pop(key, None)


class LoginThrottle:
    """Rules 1 and 2 and the trusted pairs (module docstring). Call
    ``check`` before checking a password, then ``failed`` or ``succeeded``
    with its outcome; an attempt refused before its check reports neither."""

    def __init__(self, clock: Callable[[], float], max_names: int = 100_000, max_addresses: int = 100_000,
                 max_trusted: int = 100_000) -> None:
        self._names = _Counts(clock, FREE_FAILURES, max_names)
        self._addresses = _Counts(clock, ADDRESS_FREE_FAILURES, max_addresses)
        self._trusted: cachetools.TTLCache = cachetools.TTLCache(maxsize=max_trusted, ttl=TRUST_SECONDS, timer=clock)

    def trusted(self, name: str, address: str) -> bool:
        """Whether ``name`` logged in successfully from ``address`` lately."""
        return (name, address) in self._trusted

    def check(self, name: str, address: str = "") -> None:
        """Raise ``TooManyAttemptsError`` while ``name``, or ``address`` for a
        pair that is not trusted, must wait."""
        seconds = self._names.wait(name)
        if seconds:
            raise TooManyAttemptsError(
                f"too many failed logins for this user; try again in {seconds} s",
                details={"retry_after": seconds})
        seconds = 0 if self.trusted(name, address) else self._addresses.wait(address)
        if seconds:
            raise TooManyAttemptsError(
                f"too many failed logins from this address; try again in {seconds} s "
                f"(a user who has logged in from here before is not held up)",
                details={"retry_after": seconds})

    def failed(self, name: str, address: str = "") -> None:
        self._names.failed(name)
        self._addresses.failed(address)

    def succeeded(self, name: str, address: str = "") -> None:
        self._names.forget(name)
        self._trusted[(name, address)] = True  # re-inserting restarts the pair's trust


class PasswordChecks:
    """Rule 3 (module docstring): bounds on password hashes in flight, and
    the threads they run in.

    ``run`` admits a check or refuses it at once with
    ``TooManyAttemptsError``, before anything is hashed. A slot is given
    back when its thread is done with it, not when its caller stops
    waiting: a cancelled login's hash still occupies a core until it ends.
    """

    def __init__(self, *, per_address: int = PER_ADDRESS_CHECKS, total: int = TOTAL_CHECKS,
                 reserved: int = RESERVED_CHECKS) -> None:
        if per_address < 1 or total < 1 or reserved < 0:
            raise ValueError("password check bounds must be positive (reserved: not negative)")
        self._per_address = per_address
        self._total = total
        self._reserved = reserved
        # Taken on the loop, given back from worker threads.
        self._lock = threading.Lock()
        self._by_address: dict[str, int] = {}  # only addresses with a check in flight: at most ``total`` keys
        self._general = 0
        self._reserved_in_use = 0
        self._executor = ThreadPoolExecutor(max_workers=total + reserved, thread_name_prefix="password-check")
        weakref.finalize(self, self._executor.shutdown, wait=False)

    def in_flight(self) -> int:
        with self._lock:
            return self._general + self._reserved_in_use

    async def run(self, address: str, trusted: bool, fn: Callable[..., Any], *args: Any) -> Any:
        """``fn(*args)`` (a hasher call) in one of the checks' threads, if a
        slot is free for an attempt from ``address`` (``trusted``: its pair
        may use the reserved slots); its result."""
        reserved = self._take(address, trusted)
        try:
            future = self._executor.submit(fn, *args)
        except BaseException:
            self._give_back(address, reserved)
            raise
        # Called once when the thread finishes, or at once if it never started.
        future.add_done_callback(lambda _: self._give_back(address, reserved))
        return await asyncio.wrap_future(future)

    def check(self, address: str, trusted: bool) -> None:
        """Raise ``TooManyAttemptsError`` if ``run`` would refuse now: lets a
        caller refuse before doing any work for the attempt."""
        with self._lock:
            self._pool(address, trusted)

    def _take(self, address: str, trusted: bool) -> bool:
        with self._lock:
            reserved = self._pool(address, trusted)
            if reserved:
                self._reserved_in_use += 1
            else:
                self._by_address[address] = self._by_address.get(address, 0) + 1
                self._general += 1
            return reserved

    def _pool(self, address: str, trusted: bool) -> bool:
        """Whether an attempt would take a reserved slot (True) or a general
        one (False); raises if neither is free. Called with the lock held."""
        if trusted and self._reserved_in_use < self._reserved:
            return True
        in_use = self._by_address.get(address, 0)
        # While a trusted check runs no untrusted one starts, so that it
        # has the cores to itself but for the checks already running.
        if in_use < self._per_address and self._general < self._total and (trusted or not self._reserved_in_use):
            return False
        busy = "from this address" if in_use >= self._per_address else "on this server"
        raise TooManyAttemptsError(
            f"too many logins in progress {busy}; try again in {BUSY_RETRY_SECONDS} s",
            details={"retry_after": BUSY_RETRY_SECONDS})

    def _give_back(self, address: str, reserved: bool) -> None:
        with self._lock:
            if reserved:
                self._reserved_in_use -= 1
                return
            self._general -= 1
            left = self._by_address[address] - 1
            if left:
                self._by_address[address] = left
            else:
                del self._by_address[address]
