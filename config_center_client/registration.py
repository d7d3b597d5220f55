"""``Registration``: an instance of a service kept registered for as long
as the process runs (``AsyncConfigClient.register``).

The registry holds an instance while its lease is renewed. A
``Registration`` registers over REST (``PUT .../instances/<id>``: a new
lease), then renews the lease every ``ttl / 3`` seconds (``POST
.../keepalive``), so two renewals in a row may fail before the lease runs
out. The loop:

    register -> renew every ttl/3 -> ... -> a renewal answers 404
    (the lease expired, or the id was registered again elsewhere) -> register

When no member answers (``NoMemberAvailable``, 5xx) it retries after an
exponential, jittered delay (``Backoff``) capped at ``ttl / 3``, and, while
the lease may still be alive, no later than half the time it has left. A
refusal that retrying cannot cure (403 forbidden, 400 invalid, 401) stops
it: ``error`` says why. ``deregister()`` stops the loop and deletes the
instance (best effort: a member that cannot be reached leaves it to expire
with its TTL).

Renewals go over REST, not the live websocket: each one is a single,
self-contained request that fails over on its own, so keeping an instance
alive does not depend on the state of the config connection (reconnecting,
backing off, closed as a slow consumer), and a client that only registers
needs nothing else. One small request every ``ttl / 3`` per instance is
cheap.

``RenewalSchedule`` is the pure part: when the next attempt is due, and
whether the lease can still be alive, from the times it is told.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

from .backoff import Backoff
from .errors import NoMemberAvailable, RegistrationError, RegistryError
from .rest import RestClient, instance_path

logger = logging.getLogger("config_center_client")

RENEWALS_PER_TTL = 3
# A retry never waits less than this, even with a lease about to run out.
MIN_RETRY_SECONDS = 0.05
MAX_RETRY_SECONDS = 10.0
# HTTP answers after which registering again cannot succeed with the same
# token, service, id and fields.
PERMANENT_STATUSES = frozenset({400, 401, 403})


class RenewalSchedule:
    """When to renew a lease of ``ttl`` seconds and when to retry (module
    docstring). Pure: every method takes ``now`` (any monotonic origin).

    ``renewed(now, ttl)`` after a registration or renewal succeeded: the
    delay to the next renewal. ``failed(now)`` after an attempt no member
    answered: the delay to the next attempt. ``lost()`` when the server said
    the lease is gone. ``alive(now)``: the lease may still be alive (it was
    renewed less than a TTL ago).
    """

    def __init__(self, ttl: int, backoff: Backoff) -> None:
        if ttl <= 0:
            raise ValueError(f"ttl must be positive, got {ttl}")
        self.ttl = ttl
        self.backoff = backoff
        self.expires_at: float | None = None

    @staticmethod
    def retry_backoff(ttl: int, rng=None) -> Backoff:
        """The retry delays for a lease of ``ttl`` seconds: from 0.1 s,
        doubling, capped at one renewal interval (and 10 s): retrying less
        often than a healthy client renews would let the lease lapse for
        nothing."""
        cap = min(MAX_RETRY_SECONDS, max(0.5, ttl / RENEWALS_PER_TTL))
        return Backoff(initial=min(0.1, cap), maximum=cap, rng=rng)

    @property
    def interval(self) -> float:
        return self.ttl / RENEWALS_PER_TTL

    def renewed(self, now: float, ttl: int | None = None) -> float:
        if ttl is not None and ttl > 0:
            self.ttl = ttl  # the server's word: it may have clamped the TTL
        self.expires_at = now + self.ttl
        self.backoff.reset()
        return self.interval

    def failed(self, now: float) -> float:
        delay = self.backoff.next()
        if self.alive(now):
            # Land the retry before the lease runs out, with room for another.
            delay = min(delay, (self.expires_at - now) / 2)
        return max(delay, MIN_RETRY_SECONDS)

    def lost(self) -> None:
        self.expires_at = None

    def alive(self, now: float) -> bool:
        return self.expires_at is not None and now < self.expires_at


class Registration:
    """One instance of ``service`` kept registered (module docstring).
    Made by ``AsyncConfigClient.register``, which starts it.

    State (any thread): ``lease`` (the lease id of the current
    registration, None before the first one and after a lost one),
    ``registered`` (the last registration or renewal succeeded less than a
    TTL ago), ``record`` (the server's record of the registration),
    ``registrations`` (how many times it registered: more than one means
    the lease was lost and registered again), ``error`` (the refusal that
    stopped it, if one did), ``closed``.
    """

    def __init__(self, rest: RestClient, service: str, instance_id: str, body: dict, *, backoff: Backoff,
                 request_timeout: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.service = service
        self.instance_id = instance_id
        self.body = body
        self.lease: int | None = None
        self.record: dict | None = None
        self.registrations = 0
        self.error: RegistrationError | None = None
        self.closed = False
        self._rest = rest
        self._path = instance_path(service, instance_id)
        self._schedule = RenewalSchedule(body["ttl"], backoff)
        self._request_timeout = request_timeout
        self._clock = clock
        self._stop = asyncio.Event()
        self._first = asyncio.Event()  # the first attempt round ended: registered, refused or unreachable
        self._task: asyncio.Task | None = None

    @property
    def registered(self) -> bool:
        return not self.closed and self.lease is not None and self._schedule.alive(self._clock())

    @property
    def ttl(self) -> int:
        return self._schedule.ttl

    def __repr__(self) -> str:
        state = "registered" if self.registered else "closed" if self.closed else "not registered"
        return f"<Registration {self.service}/{self.instance_id} lease={self.lease} {state}>"

    def start(self) -> None:
        self._task = asyncio.create_task(self._keep(), name=f"config-center-registration-{self.instance_id}")

    async def wait_first(self, timeout: float) -> None:
        """Return once the first registration succeeded, or every member was
        tried without an answer, or ``timeout`` passed; raise the refusal if
        the registry refused it."""
        try:
            await asyncio.wait_for(self._first.wait(), timeout)
        except TimeoutError:
            pass
        if self.error is not None:
            raise self.error

    async def deregister(self, timeout: float = 5.0) -> bool:
        """Stop renewing and delete the instance from the registry. True if
        a member confirmed it is gone (deleted now or not registered);
        False if none could be reached in ``timeout`` seconds (it then
        expires with its TTL). Idempotent: later calls return False."""
        if self.closed:
            return False
        self.closed = True
        self._stop.set()
        if self._task is not None:
            # Let a registration in flight finish rather than cancel it: it
            # would otherwise land after the delete and linger for a TTL.
            done, _ = await asyncio.wait({self._task}, timeout=min(timeout, self._request_timeout))
            if not done:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.lease is None and self.registrations == 0:
            return True  # never registered
        try:
            await asyncio.wait_for(self._rest.call("DELETE", self._path, timeout=min(timeout, self._request_timeout)),
                                   timeout)
        except RegistryError as error:
            if error.status != 404:
                logger.warning("config_center_client: could not deregister %s of %s: %s; it expires in %s s",
                               self.instance_id, self.service, error, self.ttl)
                return False
        except (NoMemberAvailable, TimeoutError) as error:
            logger.warning("config_center_client: could not deregister %s of %s (%s); it expires in %s s",
                           self.instance_id, self.service, error, self.ttl)
            return False
        finally:
            self.lease = None
        logger.info("config_center_client: deregistered %s of %s", self.instance_id, self.service)
        return True

    async def _keep(self) -> None:
        """Register, renew, register again (module docstring), until
        deregistered or refused."""
        while not self.closed:
            try:
                delay = await (self._renew() if self.lease is not None else self._register())
            except RegistrationError as error:
                self.error = error
                self.lease = None
                logger.error("config_center_client: %s of %s: %s; not retrying", self.instance_id, self.service,
                             error)
                self._first.set()
                return
            except (NoMemberAvailable, RegistryError) as error:
                # RegistryError here is retryable (5xx, 429) or an odd 4xx.
                delay = self._schedule.failed(self._clock())
                log = logger.warning if self.lease is None or not self.registered else logger.info
                log("config_center_client: %s of %s: %s; trying again in %.2f s", self.instance_id, self.service,
                    error, delay)
                self._first.set()
            except Exception:
                # A bug of ours: logged loudly, and the loop carries on
                # rather than let the instance expire quietly.
                delay = self._schedule.failed(self._clock())
                logger.exception("config_center_client: keeping %s of %s registered failed unexpectedly",
                                 self.instance_id, self.service)
            if delay is None:
                continue
            try:
                await asyncio.wait_for(self._stop.wait(), delay)
            except TimeoutError:
                pass

    async def _register(self) -> float:
        try:
            record = await self._rest.call("PUT", self._path, self.body, timeout=self._request_timeout)
        except RegistryError as error:
            if error.status in PERMANENT_STATUSES:
                raise RegistrationError(error.status, error.code, error.message) from None
            raise
        lease = record.get("lease")
        if not isinstance(lease, int) or isinstance(lease, bool):
            raise RegistryError(502, "bad_answer", f"the registration answer has no lease: {record!r:.200}")
        if self.closed:
            # deregister() is waiting for us and deletes this registration.
            self.lease = lease
            return 0.0
        self.lease, self.record = lease, record
        self.registrations += 1
        delay = self._schedule.renewed(self._clock(), record.get("ttl"))
        (logger.info if self.registrations == 1 else logger.warning)(
            "config_center_client: registered %s of %s at %s:%s on lease %d (ttl %d s)%s", self.instance_id,
            self.service, record.get("address"), record.get("port"), lease, self.ttl,
            "" if self.registrations == 1 else f" again (registration {self.registrations})")
        self._first.set()
        return delay

    async def _renew(self) -> float | None:
        try:
            answer = await self._rest.call("POST", self._path + "/keepalive", {"lease": self.lease},
                                           timeout=self._request_timeout)
        except RegistryError as error:
            if error.status == 404:
                # The lease expired, or someone registered this id again:
                # register again at once.
                logger.warning("config_center_client: the lease of %s of %s is gone (%s); registering again",
                               self.instance_id, self.service, error.message)
                self.lease = None
                self._schedule.lost()
                return None
            if error.status in PERMANENT_STATUSES:
                raise RegistrationError(error.status, error.code, error.message) from None
            raise
        return self._schedule.renewed(self._clock(), answer.get("ttl"))
