"""Password guessing is slowed per user name: a few free failures, then a
wait that doubles, refused without checking the password; a success resets."""
from __future__ import annotations

import pytest

from config_center.service import login_throttle
from config_center.service.errors import NotAuthenticatedError, TooManyAttemptsError
from config_center.service.login_throttle import LoginThrottle

from .test_access import ROOT, run


class ManualClock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_waits_start_after_the_free_failures_and_double():
    clock = ManualClock()
    throttle = LoginThrottle(clock)
    for _ in range(login_throttle.FREE_FAILURES):
        throttle.check("carol")
        throttle.failed("carol")
    throttle.check("carol")  # the free failures alone never block
    throttle.failed("carol")
    with pytest.raises(TooManyAttemptsError) as refused:
        throttle.check("carol")
    assert refused.value.details == {"retry_after": 31} and refused.value.status == 429
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
    with pytest.raises(TooManyAttemptsError) as refused:
        throttle.check("carol")
    assert refused.value.details["retry_after"] == int(login_throttle.MAX_WAIT_SECONDS) + 1
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
        await service.create_user(ROOT, "carol", "correct horse battery", [{"role": "viewer", "namespaces": "*"}])
        for _ in range(login_throttle.FREE_FAILURES + 1):
            with pytest.raises(NotAuthenticatedError):
                await service.login("carol", "wrong password!", "192.0.2.7")
        # Even the right password is not checked during the wait.
        with pytest.raises(TooManyAttemptsError):
            await service.login("carol", "correct horse battery", "192.0.2.8")
        service.login_throttle.succeeded("carol")  # as if the wait had passed
        assert (await service.login("carol", "correct horse battery")).user == "carol"

    run(tmp_path, body)
