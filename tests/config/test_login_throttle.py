"""The login guards (``login_throttle``) and the bounded audit of failed
logins (``users.LoginFailureLog``).

Password guessing is slowed per user name and per client address: a few
free failures, then a wait that doubles, refused without checking the
password; a success resets its own name only, and makes the (name, address)
pair trusted, which the address's wait does not hold up. Password checks in
flight are bounded per address and in all, with a slot kept for trusted
pairs; an attempt beyond the bounds is refused before anything is hashed.
Failed logins reach the audit log in bounded number: a few as they happen,
the rest in one summary per group and interval."""
from __future__ import annotations

import asyncio
import threading

import pytest

from config_center.service import audit, login_throttle, users
from config_center.service.errors import NotAuthenticatedError, TooManyAttemptsError
from config_center.service.login_throttle import LoginThrottle, PasswordChecks

from .test_access import ROOT, FastHasher, run

VIEWER = [{"role": "viewer", "namespaces": "*"}]


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


class CountingHasher(FastHasher):
    """``FastHasher`` that counts its checks (and, apart, every hash it
    computes); with ``gated``, each check waits for ``release`` (a check in
    flight for as long as a test needs)."""

    def __init__(self, gated: bool = False) -> None:
        self.checks = 0
        self.hashes = 0
        self.release = threading.Event()
        if not gated:
            self.release.set()
        self._lock = threading.Lock()

    def make(self, password: str) -> str:
        with self._lock:
            self.hashes += 1
        return super().make(password)

    def check(self, password: str, encoded: str) -> bool:
        with self._lock:
            self.checks += 1
        if not self.release.wait(30):
            raise AssertionError("a gated check was never released")
        return FastHasher.make(self, password) == encoded  # not self.make: a check is not counted as a hash


async def until(condition, timeout: float = 5.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.01)


async def refused(login) -> TooManyAttemptsError:
    with pytest.raises(TooManyAttemptsError) as refusal:
        await login
    return refusal.value


# -- per user name ------------------------------------------------------------------------------


def test_waits_start_after_the_free_failures_and_double():
    clock = ManualClock()
    throttle = LoginThrottle(clock)
    for _ in range(login_throttle.FREE_FAILURES):
        throttle.check("carol")
        throttle.failed("carol")
    throttle.check("carol")  # the free failures alone never block
    throttle.failed("carol")
    with pytest.raises(TooManyAttemptsError) as refusal:
        throttle.check("carol")
    assert refusal.value.details == {"retry_after": 31} and refusal.value.status == 429
    throttle.check("dave")  # other names are not affected
    clock.now += login_throttle.FIRST_WAIT_SECONDS
    throttle.check("carol")
    throttle.failed("carol")
    with pytest.raises(TooManyAttemptsError, match="try again in 61 s"):
        throttle.check("carol")


def test_the_wait_is_capped_and_a_success_resets():
    clock = ManualClock()
    throttle = LoginThrottle(clock)
    for _ in range(40):
        throttle.failed("carol")
    with pytest.raises(TooManyAttemptsError) as refusal:
        throttle.check("carol")
    assert refusal.value.details["retry_after"] == int(login_throttle.MAX_WAIT_SECONDS) + 1
    throttle.succeeded("carol")
    throttle.check("carol")


def test_a_quiet_hour_forgets_a_name():
    clock = ManualClock()
    throttle = LoginThrottle(clock)
    for _ in range(login_throttle.FREE_FAILURES + 1):
        throttle.failed("carol")
    clock.now += login_throttle.FORGET_AFTER_SECONDS + 1
    throttle.check("carol")
    throttle.failed("carol")
    throttle.check("carol")  # one failure after the record was forgotten


def test_service_login_is_refused_unchecked_while_locked_out(tmp_path):
    async def body(service, ctx):
        await service.create_user(ROOT, "carol", "correct horse battery", VIEWER)
        for _ in range(login_throttle.FREE_FAILURES + 1):
            with pytest.raises(NotAuthenticatedError):
                await service.login("carol", "wrong password!", "192.0.2.7")
        # Even the right password is not checked during the wait.
        with pytest.raises(TooManyAttemptsError):
            await service.login("carol", "correct horse battery", "192.0.2.8")
        service.login_throttle.succeeded("carol")  # as if the wait had passed
        assert (await service.login("carol", "correct horse battery")).user == "carol"

    run(tmp_path, body)


# -- per client address -------------------------------------------------------------------------


def test_an_address_waits_after_its_free_failures_whatever_the_names():
    clock = ManualClock()
    throttle = LoginThrottle(clock)
    throttle.succeeded("carol", "10.0.0.1")
    for i in range(login_throttle.ADDRESS_FREE_FAILURES + 1):
        throttle.check(f"made-up-{i}", "10.0.0.1")  # the free failures alone never block
        throttle.failed(f"made-up-{i}", "10.0.0.1")
    with pytest.raises(TooManyAttemptsError, match="from this address") as refusal:
        throttle.check("another-name", "10.0.0.1")
    assert refusal.value.details == {"retry_after": int(login_throttle.FIRST_WAIT_SECONDS) + 1}
    throttle.check("another-name", "10.0.0.2")  # other addresses are not affected
    throttle.check("carol", "10.0.0.1")  # nor a pair that has logged in from there
    for i in range(login_throttle.ADDRESS_FREE_FAILURES + 1):
        throttle.failed(f"made-up-{i}", "10.0.0.2")
    with pytest.raises(TooManyAttemptsError, match="from this address"):
        throttle.check("carol", "10.0.0.2")  # trust is per pair, not per name


def test_a_success_from_an_address_resets_neither_it_nor_other_names():
    clock = ManualClock()
    throttle = LoginThrottle(clock)
    for _ in range(login_throttle.FREE_FAILURES):
        throttle.failed("dave", "10.0.0.1")
    for i in range(login_throttle.ADDRESS_FREE_FAILURES - login_throttle.FREE_FAILURES):
        throttle.failed(f"made-up-{i}", "10.0.0.1")
    throttle.succeeded("carol", "10.0.0.1")  # the attacker's own account, say
    throttle.failed("dave", "10.0.0.1")
    with pytest.raises(TooManyAttemptsError, match="for this user"):
        throttle.check("dave", "10.0.0.3")  # dave's count went on from 5
    with pytest.raises(TooManyAttemptsError, match="from this address"):
        throttle.check("eve", "10.0.0.1")  # and the address's from 10
    # The address's wait doubles like a name's.
    clock.now += login_throttle.FIRST_WAIT_SECONDS
    throttle.check("eve", "10.0.0.1")
    throttle.failed("eve", "10.0.0.1")
    with pytest.raises(TooManyAttemptsError, match="try again in 61 s"):
        throttle.check("frank", "10.0.0.1")


def test_service_refuses_a_throttled_address_unhashed_but_lets_trusted_pairs_in(tmp_path):
    async def body(service, ctx):
        hasher = ctx.passwords = CountingHasher()
        await service.create_user(ROOT, "carol", "correct horse battery", VIEWER)
        await service.create_user(ROOT, "dave", "dave's good password", VIEWER)
        assert (await service.login("carol", "correct horse battery", "10.0.0.1")).user == "carol"
        for i in range(login_throttle.ADDRESS_FREE_FAILURES + 1):
            with pytest.raises(NotAuthenticatedError):
                await service.login(f"made-up-{i}", "whatever12345", "10.0.0.1")
        checked = hasher.checks
        refusal = await refused(service.login("made-up-x", "whatever12345", "10.0.0.1"))
        assert "from this address" in refusal.message and refusal.details["retry_after"] > 1
        # A user who never logged in from there waits with the flood, right password or not ...
        assert "from this address" in (await refused(service.login("dave", "dave's good password", "10.0.0.1"))).message
        assert hasher.checks == checked, "refused attempts are not hashed"
        # ... but not from elsewhere, and a pair that has logged in from there gets in.
        assert (await service.login("dave", "dave's good password", "10.0.0.2")).user == "dave"
        assert (await service.login("carol", "correct horse battery", "10.0.0.1")).user == "carol"
        # Which does not clear the address.
        await refused(service.login("made-up-y", "whatever12345", "10.0.0.1"))

    run(tmp_path, body, clock=ManualClock())


# -- checks in flight ---------------------------------------------------------------------------


def test_checks_in_flight_are_bounded_per_address_and_in_all_and_the_excess_is_refused_unhashed(tmp_path):
    async def body(service, ctx):
        hasher = ctx.passwords = CountingHasher(gated=True)
        service.password_checks = PasswordChecks(per_address=2, total=3, reserved=1)
        await service.create_user(ROOT, "carol", "correct horse battery", VIEWER)
        hasher.release.set()
        await service.login("carol", "correct horse battery", "10.0.0.9")  # now a trusted pair
        with pytest.raises(NotAuthenticatedError):
            await service.login("made-up", "whatever12345", "10.0.0.8")  # the dummy hash is made once
        hasher.release.clear()
        hasher.checks = 0
        in_flight = []
        try:
            in_flight += [asyncio.create_task(service.login(f"guess-{i}", "whatever12345", "10.0.0.1"))
                          for i in range(2)]
            await until(lambda: hasher.checks == 2)
            loop = asyncio.get_running_loop()
            asked = loop.time()
            refusal = await refused(service.login("guess-2", "whatever12345", "10.0.0.1"))
            assert "from this address" in refusal.message and refusal.details == {"retry_after": 1}
            in_flight.append(asyncio.create_task(service.login("guess-3", "whatever12345", "10.0.0.2")))
            await until(lambda: hasher.checks == 3)
            assert "on this server" in (await refused(service.login("guess-4", "whatever12345", "10.0.0.3"))).message
            # Neither refusal waited for a check in flight (those wait until released).
            assert loop.time() - asked < 2 * login_throttle.REFUSAL_PAUSE_SECONDS + 1
            assert hasher.checks == 3, "refused attempts are not hashed"
            # The trusted pair still has its reserved slot.
            in_flight.append(asyncio.create_task(service.login("carol", "correct horse battery", "10.0.0.9")))
            await until(lambda: hasher.checks == 4)
            assert service.password_checks.in_flight() == 4
        finally:
            hasher.release.set()
        outcomes = await asyncio.gather(*in_flight, return_exceptions=True)
        assert [type(o).__name__ for o in outcomes[:3]] == ["NotAuthenticatedError"] * 3
        assert outcomes[3].user == "carol"
        assert service.password_checks.in_flight() == 0

    run(tmp_path, body)


def test_no_untrusted_check_starts_while_a_trusted_one_runs(tmp_path):
    async def body(service, ctx):
        hasher = ctx.passwords = CountingHasher(gated=True)
        service.password_checks = PasswordChecks(per_address=2, total=3, reserved=1)
        await service.create_user(ROOT, "carol", "correct horse battery", VIEWER)
        hasher.release.set()
        await service.login("carol", "correct horse battery", "10.0.0.9")
        hasher.release.clear()
        try:
            trusted = asyncio.create_task(service.login("carol", "correct horse battery", "10.0.0.9"))
            await until(lambda: service.password_checks.in_flight() == 1)
            assert "on this server" in (await refused(service.login("dave", "whatever12345", "10.0.0.5"))).message
        finally:
            hasher.release.set()
        assert (await trusted).user == "carol"
        with pytest.raises(NotAuthenticatedError):
            await service.login("dave", "whatever12345", "10.0.0.5")  # admitted again once it is done

    run(tmp_path, body)


def test_a_made_up_name_costs_one_hash_like_a_real_one(tmp_path):
    async def body(service, ctx):
        hasher = ctx.passwords = CountingHasher()
        await service.create_user(ROOT, "carol", "correct horse battery", VIEWER)
        with pytest.raises(NotAuthenticatedError):
            await service.login("first-made-up", "wrong password!", "192.0.2.7")  # makes the dummy, once
        for name in ("carol", "nobody", "somebody-else", "Not A Valid Name"):
            hasher.hashes = hasher.checks = 0
            with pytest.raises(NotAuthenticatedError):
                await service.login(name, "wrong password!", "192.0.2.7")
            assert hasher.hashes + hasher.checks == 1, name

    run(tmp_path, body)


# -- the audit of failures ----------------------------------------------------------------------


def test_failures_for_made_up_names_are_summarised_per_address_even_when_they_stop(tmp_path):
    async def body(service, ctx):
        service.login_failures = users.LoginFailureLog(ctx, interval=0.3)
        names = [f"made-up-{i}" for i in range(login_throttle.ADDRESS_FREE_FAILURES)]
        for name in names:
            with pytest.raises(NotAuthenticatedError):
                await service.login(name, "whatever12345", "192.0.2.7")

        async def failures():
            return (await audit.query(ctx, chain=users.GLOBAL, action="login.failure"))[0]

        assert [e["target"] for e in await failures()] == names[:users.FIRST_WRITTEN][::-1]
        # No further failure comes; the interval's timer writes the summary.
        for _ in range(100):
            entries = await failures()
            if len(entries) > users.FIRST_WRITTEN:
                break
            await asyncio.sleep(0.05)
        assert len(entries) == users.FIRST_WRITTEN + 1
        summary = entries[0]
        assert summary["address"] == "192.0.2.7" and summary["actor"] == "anonymous"
        assert summary["details"]["summary"] and not summary["details"]["known_user"]
        assert summary["details"]["failures"] == len(names) - users.FIRST_WRITTEN
        assert summary["details"]["names"] == names[:users.SAMPLE_SIZE]
        await asyncio.sleep(0.5)
        assert len(await failures()) == users.FIRST_WRITTEN + 1, "nothing more once it is summarised"

    run(tmp_path, body)


def test_a_flood_against_one_user_or_from_many_addresses_writes_a_bounded_number_of_entries(tmp_path):
    async def body(service, ctx):
        log = users.LoginFailureLog(ctx, interval=60, max_groups=3)
        for _ in range(50):
            await log.failed("admin", "10.0.0.1", known=True)
        for i in range(50):
            await log.failed(f"made-up-{i}", f"10.1.0.{i}", known=False)
        await log.flush()
        entries, _ = await audit.query(ctx, chain=users.GLOBAL, action="login.failure", limit=500)
        assert len(entries) <= users.WRITTEN_PER_INTERVAL + log.max_groups + 1
        assert sum(e["details"].get("failures", 1) for e in entries) == 100, "every failure is counted once"
        summaries = {(e["target"], e["address"]): e["details"] for e in entries if e["details"].get("summary")}
        assert summaries[("admin", "10.0.0.1")]["failures"] == 50 - users.FIRST_WRITTEN
        overflow = summaries[("", "")]  # the addresses beyond max_groups, together
        assert len(overflow["addresses"]) == users.SAMPLE_SIZE and overflow["failures"] > 0
        assert len(entries) == 3 + 1 + 1 + 3 + 2  # admin, two address groups, the overflow's first, two summaries

    run(tmp_path, body)
