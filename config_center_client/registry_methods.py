"""The service-registry half of ``AsyncConfigClient``: ``register`` keeps
an instance registered (``registration``), ``discover`` keeps a live list
of a service's instances (``service_instances``) over the client's
websocket, and the subscription handling behind it. A mixin: it works on
the client's own state (its session, REST client, backoff and services),
kept apart so that the connection logic of ``async_client`` reads on its
own."""
from __future__ import annotations

import asyncio
import logging

from websockets.exceptions import ConnectionClosed

from . import protocol
from .errors import StartTimeout, SubscriptionError
from .registration import Registration, RenewalSchedule
from .service_instances import ServiceInstances

logger = logging.getLogger("config_center_client")

# How a service subscription is keyed among the session's subscriptions;
# servers before the fix of their error messages also named it so under
# "namespace" in some errors, which are routed to the service too.
SERVICE_TOPIC = "service:"


class RegistryMethods:
    async def register(self, service: str, address: str, port: int = 0, *, instance_id: str | None = None,
                       ttl: int = 10, metadata: dict[str, str] | None = None, health: str = "passing",
                       timeout: float = 10.0) -> Registration:
        """Register an instance of ``service`` (``payments/api``) at
        ``address``:``port`` and keep it registered until ``close()`` or
        its ``deregister()`` (``registration``: renewed every ``ttl / 3``
        seconds over REST, registered again when its lease is lost).

        ``instance_id``: letters, digits, ``.``, ``_``, ``-`` (default: this
        client's instance id, ``<hostname>-<pid>``); ``ttl``: seconds from 2
        to 3600 that the instance outlives its process; ``metadata``:
        strings for discoverers; ``health``: passing, warning or critical.
        The token needs write access to the service's name.

        Returns the ``Registration`` once the first registration succeeded,
        or, when no member answered within ``timeout`` seconds, unregistered
        (``registered`` False; a warning is logged) while it goes on trying
        in the background. Raises ``RegistrationError`` if the registry
        refused it (forbidden, invalid): that does not heal by retrying.
        Needs a started client (``start()``).
        """
        self._require_started("register")
        instance_id = self.instance["id"] if instance_id is None else instance_id
        if not isinstance(ttl, int) or isinstance(ttl, bool) or not 2 <= ttl <= 3600:
            raise ValueError(f"ttl must be a whole number of seconds from 2 to 3600, got {ttl!r}")
        body = {"address": address, "port": port, "metadata": dict(metadata or {}), "health": health, "ttl": ttl}
        schedule_backoff = RenewalSchedule.retry_backoff(ttl, self._rng)
        request_timeout = min(self.open_timeout, max(1.0, ttl / 3))
        registration = Registration(self._rest, service, instance_id, body, backoff=schedule_backoff,
                                    request_timeout=request_timeout)
        self._registrations.append(registration)
        registration.start()
        try:
            await registration.wait_first(timeout)
        except BaseException:
            await registration.deregister(timeout=2.0)
            self._registrations.remove(registration)
            raise
        if not registration.registered:
            logger.warning("config_center_client: %s of %s is not registered yet (no member answered in %s s); "
                           "it keeps trying in the background", instance_id, service, timeout)
        return registration

    async def discover(self, service: str, timeout: float = 10.0) -> ServiceInstances:
        """The live list of ``service``'s instances (``ServiceInstances``),
        kept current over the client's websocket until ``close()``. Returns
        once the first list is here; the same object for the same service.

        Raises ``StartTimeout`` if no member delivered the list within
        ``timeout`` seconds (the subscription stays: ``discover`` again to
        wait longer), ``SubscriptionError`` if the server refused the
        service (the token may not read it, or the name is not valid).
        Needs a started client (``start()``).
        """
        self._require_started("discover")
        if not isinstance(service, str) or not service:
            raise ValueError("service must be a service name, e.g. 'payments/api'")
        view = self._services.get(service)
        if view is None:
            view = self._services[service] = ServiceInstances(service)
            session = self._session
            if session is not None and session.end.welcomed:
                try:
                    await self._subscribe_service(session, service)
                except ConnectionClosed:
                    pass  # the next session subscribes it
        try:
            await view.wait_loaded(timeout)
        except TimeoutError:
            raise StartTimeout(f"no list of {service!r}'s instances within {timeout} s: no member of "
                               f"{', '.join(self.urls)} delivered it; check the URLs and the network, or give "
                               "discover() a longer timeout") from None
        except SubscriptionError:
            self._services.pop(service, None)
            raise
        return view

    async def _subscribe_service(self, session, service: str) -> None:
        view = self._services.get(service)
        if view is None or view.error is not None or service in session.active_services:
            return
        since = view.revision if view.loaded and not view.fresh else None
        # Marked before the send: a discover() meanwhile must not subscribe twice.
        session.active_services.add(service)
        session.since_sent[SERVICE_TOPIC + service] = since
        await session.ws.send(protocol.subscribe_service(service, since))

    def _on_service_error(self, session, service: str, code: str, text: str | None) -> None:
        """A refused or ended service subscription: the same decisions as
        for a namespace (``_on_error``)."""
        view = self._services.get(service)
        if view is None:
            logger.warning("config_center_client: %s says %s: %s (service %s)", session.url, code, text, service)
            return
        session.active_services.discard(service)
        if code in ("invalid", protocol.SINCE_AHEAD) and session.since_sent.get(SERVICE_TOPIC + service) is not None:
            logger.warning("config_center_client: %s refused to resume service %s from revision %s (%s); asking "
                           "for the whole list", session.url, service, session.since_sent[SERVICE_TOPIC + service],
                           text)
            view.fresh = True
            session.retries.append(asyncio.create_task(self._resubscribe_service(session, service, 0.0)))
        elif code in protocol.PERMANENT_ERRORS or code == "invalid":
            error = SubscriptionError(service, code, text or "", kind="service")
            logger.error("config_center_client: %s", error)
            view.refused(error)
        else:
            delay = self._backoff.nominal(len(session.retries))
            logger.warning("config_center_client: service %s: %s: %s; subscribing again in %.2f s", service, code,
                           text, delay)
            session.retries.append(asyncio.create_task(self._resubscribe_service(session, service, delay)))

    async def _resubscribe_service(self, session, service: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._session is session:
            try:
                await self._subscribe_service(session, service)
            except ConnectionClosed:
                pass  # the session ends; the next one subscribes anyway
