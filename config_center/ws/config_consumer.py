"""``/ws/v1/config``: applications subscribe to namespaces' live config and
to services' instances, and keep their registrations alive.

The protocol, JSON text frames both ways (README, "Live config over
websockets"):

client -> server
    ``{"type": "hello", "token": "cct_...", "instance": {...}}`` — the API
    token, unless the handshake sent ``Authorization: Bearer cct_...`` or
    the console's session cookie (a console page: not tracked); and
    who this is (``id``, ``labels``, ``host``, ``sdk``) for delivery tracking.
    ``{"type": "subscribe", "namespace": "payments/prod", "since": 120,
    "items": ["app.yaml"]}`` — ``since`` and ``items`` optional; or
    ``{"type": "subscribe", "service": "payments/api", "since": 120}``; or
    ``{"type": "subscribe", "activity": "payments/prod", "since": 120}``:
    every change made to the namespace (``service.activity``; the console).
    ``{"type": "unsubscribe", "namespace": ...}`` (or ``"service"``, ``"activity"``)
    ``{"type": "ack", "namespace": ..., "revision": 130}`` — applied.
    ``{"type": "keepalive", "service": ..., "id": ..., "lease": 7}`` — renew
    a registered instance's lease; answered ``keepalive`` with its ``ttl``.

server -> client
    ``welcome`` once authenticated; then per subscription the messages of
    ``service.subscriptions`` (snapshot, change, resync, deleted, progress)
    or ``service.registry`` (instances, instance_change, resync, progress),
    each with its ``revision``; ``status`` when this member gains or loses
    its leader; ``error`` (``code``, ``message``, and the ``namespace`` or
    ``service`` it concerns) for a refused message, which changes nothing.

Close codes: 4001 not authenticated: a token or session refused, or a
handshake that authenticated nothing followed by no ``hello`` with a token
within ``LIVE_HELLO_SECONDS``; 1013 this member cannot check the token now
(no leader; try another member); 4008 slow consumer: messages waited and
the client took none for ``LIVE_STALL_SECONDS`` (the reason holds the
revisions to resume from, ``outbox``); 1013 the node's service is not
running yet; 1009 a client message larger than 64 KiB; when the node stops,
the server closes with 1012.

Past the node's bounds on websockets (``consensus.websocket_protocol``) a
socket is closed at once with 1013 and a reason saying which: the server
closes it when the node holds its most websockets; this consumer when the
handshake authenticated nothing and the client's address already has its
most sockets waiting to (the server's ``node.websocket.census``; being
authenticated ends the wait).

Thin on purpose: it parses, authenticates through ``ConfigService``, and
moves each subscription's messages to the socket's ``Outbox``.
"""
from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from typing import Any

from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from config_center import service_host
from config_center.service.access import READ, REVEAL
from config_center.service.delivery import check_instance
from config_center.service.errors import NotAuthenticatedError, ServiceError
from config_center.service.prefix_subscription import PROGRESS, Delivery, PrefixSubscription, SubscriptionEnded
from config_center.service.subscriptions import CHANGE, LiveSubscription

from .frames import frame_writer
from .leader_status import LeaderStatus
from .session_user import session_user
from .outbox import SLOW_CONSUMER, TRY_AGAIN_LATER, UNAUTHENTICATED, Outbox, close_reason

logger = logging.getLogger(__name__)

_leader_status: LeaderStatus | None = None

# Subscriptions of a connection are kept by topic: a namespace's name, or
# this and a service's name (the two kinds of names look alike).
SERVICE_TOPIC = "service:"
ACTIVITY_TOPIC = "activity:"
TOPIC_FIELDS = ("namespace", "service", "activity")
CENSUS_EXTENSION = "node.websocket.census"  # the server's name for it


def leader_status(service) -> LeaderStatus:
    global _leader_status
    if _leader_status is None:
        _leader_status = LeaderStatus(service.ctx.client.leader_known)
    return _leader_status


def _bearer(scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text = value.decode("latin-1")
            if text.startswith("Bearer "):
                return text[len("Bearer "):].strip()
    return None


def _about(key: str) -> dict:
    """What an error about the subscription under ``key`` names."""
    for field, prefix in (("service", SERVICE_TOPIC), ("activity", ACTIVITY_TOPIC)):
        if key.startswith(prefix):
            return {field: key[len(prefix):]}
    return {"namespace": key}


def _census(scope) -> dict | None:
    """The server's bounds on websockets (``node.websocket.census``,
    consensus/websocket_protocol.py); None under another server."""
    return scope.get("extensions", {}).get(CENSUS_EXTENSION)


def _address(scope) -> str:
    client = scope.get("client")
    return client[0] if client else ""


class LiveConfigConsumer(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        self.service = service_host.bound_service()
        self.principal = None
        self.instance = None  # as the hello described it
        self.tracking = None  # service.delivery.Connection, once authenticated
        self.subscriptions: dict[str, PrefixSubscription] = {}
        self.pumps: dict[str, asyncio.Task] = {}
        self.outbox = Outbox(self._send_text, max_messages=settings.LIVE_OUTBOX_MESSAGES,
                             max_bytes=settings.LIVE_OUTBOX_BYTES, stall_seconds=settings.LIVE_STALL_SECONDS,
                             write_frame=frame_writer(self.scope))
        self.tasks: list[asyncio.Task] = []
        self.closing = False
        self.hello_deadline: asyncio.TimerHandle | None = None
        # How the principal was found, to find it again when what it rests
        # on changes (``service.access_watch``), and that watch's registration.
        self.find_principal = None
        self.following = None
        self.rechecking: asyncio.Task | None = None
        self.recheck_again = False
        await self.accept()
        if self.service is None:
            await self.close(code=TRY_AGAIN_LATER, reason="the config service is not running on this node yet")
            return
        token = _bearer(self.scope)
        if token is not None:
            await self._authenticate(token)
            return
        session = session_user(self.scope)
        if session is not None:  # a console page: its session cookie came with the handshake
            # Not tracked for delivery: a console page is not an application instance.
            await self._authenticate_as(lambda: self.service.session_principal(*session, _address(self.scope)),
                                        track=False)
            return
        # Nothing to check yet: one of few anonymous sockets per address, held only this long.
        census = _census(self.scope)
        refused = census["wait_for_client"]() if census is not None else None
        if refused is not None:
            await self._close(TRY_AGAIN_LATER, refused)
            return
        self.hello_deadline = asyncio.get_running_loop().call_later(settings.LIVE_HELLO_SECONDS, self._no_hello)

    def _no_hello(self) -> None:
        if not self.closing:
            asyncio.create_task(self._close(UNAUTHENTICATED, f"no hello with an API token within "
                                                             f"{settings.LIVE_HELLO_SECONDS:g} s"))

    def _send_text(self, text: str) -> Coroutine[Any, Any, None]:
        # The server's own send, not the consumer's: that one wraps it in two
        # more coroutines, for every message to every socket.
        return self.base_send({"type": "websocket.send", "text": text})

    def _say(self, message: dict) -> None:
        """Queue a message of the connection's own (not a subscription's).
        They are few and small; one that finds the outbox full is a client
        that is not reading."""
        if not self.closing and not self.outbox.put_nowait(json.dumps(message, separators=(",", ":"))):
            self._too_slow()

    def _error(self, code: str, message: str, **extra) -> None:
        self._say({"type": "error", "code": code, "message": message, **extra})

    async def _authenticate(self, token: object) -> None:
        if not isinstance(token, str) or not token:
            self._error("invalid", "hello needs an API token: {\"type\": \"hello\", \"token\": \"cct_...\"}")
            return
        self._stop_hello_deadline()  # the token's check ends in welcome, 4001 or 1013 by itself
        await self._authenticate_as(lambda: self.service.token_principal(token, _address(self.scope)))

    async def _authenticate_as(self, find_principal, *, track: bool = True) -> None:
        since = self.service.access_watch.generation()
        try:
            self.principal = await find_principal()
        except NotAuthenticatedError as error:
            await self._close(UNAUTHENTICATED, error.message)
            return
        except Exception as error:  # no leader, a timeout: this member cannot check the token now
            logger.info("live connection refused for now: %s", error)
            await self._close(TRY_AGAIN_LATER, "this member cannot check tokens right now; try another member")
            return
        if self.closing:  # gone, or closed while the check ran
            return
        self.find_principal = find_principal
        self.following = await self.service.access_watch.follow(self.principal, self._access_changed, since=since)
        if self.closing:
            self.following.close()
            return
        census = _census(self.scope)
        if census is not None:
            census["authenticated"]()
        if track:
            self.tracking = self.service.delivery.connect(None, user=self.principal.user,
                                                          address=_address(self.scope))
            if self.instance is not None:
                self._describe(self.instance)
        status = leader_status(self.service)
        status.add(self._on_leader_change)
        self.tasks.append(asyncio.create_task(self._heartbeat(), name="live-heartbeat"))
        self._say({"type": "welcome", "user": self.principal.user, "leader": status.known,
                   "heartbeat": settings.LIVE_HEARTBEAT_SECONDS})

    # -- access checked again ----------------------------------------------------------------

    def _access_changed(self) -> None:
        """A record this connection's access rests on changed, or its token
        or session expired (``service.access_watch``): nothing more is
        written to the socket until the principal has been found again."""
        if self.closing or self.principal is None:
            return
        self.outbox.hold()
        if self.rechecking is None:
            self.rechecking = asyncio.create_task(self._recheck(), name="live-recheck")
        else:
            self.recheck_again = True

    async def _recheck(self) -> None:
        """Find the principal again: a connection that lost it is closed
        (4001) with nothing more written; one that may no longer read a
        subscription's topic, or see its secrets, has that subscription
        ended (``error``, ``forbidden``) and its queued messages dropped."""
        access = self.service.access_watch
        try:
            while True:
                self.recheck_again = False
                since = access.generation()
                try:
                    principal = await self.find_principal()
                except NotAuthenticatedError as error:
                    await self._close(UNAUTHENTICATED, f"access ended: {error.message}", keep_writer=False)
                    return
                except Exception as error:  # this member cannot check now: never serve unchecked
                    logger.info("live connection's access could not be checked again: %s", error)
                    await self._close(TRY_AGAIN_LATER, "this member cannot check this connection's access now; "
                                      "connect again", keep_writer=False)
                    return
                if self.closing:
                    return
                if self.recheck_again:
                    continue
                self.principal = principal
                for topic, subscription in list(self.subscriptions.items()):
                    refusal = self._refusal(topic, subscription)
                    if refusal is not None:
                        self.outbox.drop(topic)
                        self._end(topic)
                        self._error("forbidden", refusal, **_about(topic))
                # Followed anew: the token's or session's expiry may have moved.
                self.following.close()
                self.following = await access.follow(principal, self._access_changed, since=since)
                if self.closing:
                    self.following.close()
                    return
                if not self.recheck_again:
                    break
        finally:
            self.rechecking = None
        if not self.closing:
            self.outbox.release()

    def _refusal(self, topic: str, subscription) -> str | None:
        """Why the current principal may no longer have ``subscription``
        (under ``topic``), or None."""
        if subscription is None:
            return None  # still starting: checked when it has started (``_start``)
        about = next(iter(_about(topic).values()))
        if not self.principal.allowed(READ, about):
            return f"{self.principal.describe()} may no longer read {about!r}; the subscription has ended"
        if getattr(subscription, "reveal", False) and not self.principal.allowed(REVEAL, about):
            return (f"{self.principal.describe()} may no longer see the secret items of {about!r}; the subscription "
                    "has ended: subscribe again to get them masked")
        return None

    # -- messages from the client ---------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None) -> None:
        if self.closing or self.service is None:
            return
        try:
            message = json.loads(text_data if text_data is not None else bytes_data)
        except (TypeError, ValueError):
            self._error("invalid", "messages are JSON objects with a \"type\"")
            return
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == "hello":
            if "token" in message and self.principal is not None:
                self._error("invalid", "already authenticated")
                return
            self.instance = message.get("instance")
            if self.principal is None:
                await self._authenticate(message.get("token"))
            elif self.tracking is not None:
                self._describe(self.instance)
            return
        if kind not in ("subscribe", "unsubscribe", "ack", "keepalive"):
            self._error("invalid", f"unknown message type {kind!r}; expected hello, subscribe, unsubscribe, ack "
                        "or keepalive")
            return
        if self.principal is None:
            self._error("unauthenticated", "send hello with an API token first")
            return
        await getattr(self, f"_on_{kind}")(message)

    def _describe(self, instance) -> None:
        """Who this instance is, for delivery tracking (hello's ``instance``)."""
        try:
            self.tracking.instance = check_instance(instance, self.tracking.key)
        except ServiceError as error:
            self._error(error.code, error.message)

    async def _on_subscribe(self, message: dict) -> None:
        named = [field for field in TOPIC_FIELDS if field in message]
        if len(named) > 1 or (named and not isinstance(message[named[0]], str)):
            self._error("invalid", "subscribe names one namespace, service or activity, as a string")
            return
        service = message.get("service")
        if service is not None:
            await self._start(SERVICE_TOPIC + service, lambda: self.service.subscribe_service(
                self.principal, service, since=message.get("since")), service=service)
            return
        activity = message.get("activity")
        if activity is not None:
            await self._start(ACTIVITY_TOPIC + activity, lambda: self.service.subscribe_activity(
                self.principal, activity, since=message.get("since")), activity=activity)
            return
        ns = message.get("namespace")
        if not isinstance(ns, str):
            self._error("invalid", "subscribe needs a namespace (or a service)")
            return
        await self._start(ns, lambda: self.service.subscribe(self.principal, ns, since=message.get("since"),
                                                              items=message.get("items"),
                                                              instance=self.instance_for_canary()), namespace=ns)

    def instance_for_canary(self):
        """The checked description of this instance, which picks the canary
        it gets; a console page (not tracked) gets the main release."""
        return self.tracking.instance if self.tracking is not None else None

    async def _start(self, topic: str, subscribe, **about) -> None:
        """Start the subscription ``subscribe()`` makes, under ``topic``."""
        ns = topic
        if ns in self.subscriptions:
            self._error("invalid", f"already subscribed to {ns!r}", **about)
            return
        if len(self.subscriptions) >= settings.LIVE_MAX_SUBSCRIPTIONS:
            self._error("limit", f"at most {settings.LIVE_MAX_SUBSCRIPTIONS} subscriptions per connection", **about)
            return
        # Reserve the name so a second subscribe while this one starts is refused.
        self.subscriptions[ns] = None
        try:
            subscription = await subscribe()
        except ServiceError as error:
            del self.subscriptions[ns]
            self._error(error.code, error.message, **about)
            return
        if self.closing or ns not in self.subscriptions:
            subscription.close()
            return
        refusal = self._refusal(ns, subscription)  # access changed while it started
        if refusal is not None:
            del self.subscriptions[ns]
            subscription.close()
            self._error("forbidden", refusal, **about)
            return
        self.subscriptions[ns] = subscription
        if "namespace" in about and self.tracking is not None:
            self.tracking.subscribed(ns)
        if subscription.since is not None:
            self.tasks.append(asyncio.create_task(self._bookmark_soon(subscription), name=f"live-bookmark-{ns}"))
        if isinstance(subscription, LiveSubscription):
            # Once caught up, its namespace's feed writes its changes here directly.
            subscription.push_to(lambda delivery: self._push(ns, delivery))
        self.pumps[ns] = asyncio.create_task(self._pump(ns, subscription), name=f"live-{ns}")

    async def _on_unsubscribe(self, message: dict) -> None:
        field = next((f for f in ("service", "activity") if f in message), "namespace")
        about = {field: message.get(field)}
        name = about[field]
        prefix = {"service": SERVICE_TOPIC, "activity": ACTIVITY_TOPIC}.get(field, "")
        topic = prefix + name if isinstance(name, str) else name
        if not isinstance(topic, str) or self.subscriptions.get(topic) is None:
            self._error("invalid", f"not subscribed to {name!r}")
            return
        self._end(topic)
        self._say({"type": "unsubscribed", **about})

    async def _on_keepalive(self, message: dict) -> None:
        """Renew a registered instance's lease (``service.registry``)."""
        service, instance_id = message.get("service"), message.get("id")
        try:
            renewed = await self.service.keepalive_instance(self.principal, service, instance_id, message.get("lease"))
        except ServiceError as error:
            self._error(error.code, error.message, service=service, id=instance_id)
            return
        self._say({"type": "keepalive", **renewed})

    async def _on_ack(self, message: dict) -> None:
        ns, revision = message.get("namespace"), message.get("revision")
        if self.subscriptions.get(ns) is None or not isinstance(revision, int) or isinstance(revision, bool):
            self._error("invalid", "ack needs a subscribed namespace and the revision applied",
                        namespace=ns if isinstance(ns, str) else None)
            return
        if self.tracking is not None:
            self.tracking.acked(ns, revision)

    # -- messages to the client ---------------------------------------------------------------

    async def _pump(self, ns: str, subscription: PrefixSubscription) -> None:
        """Move ``subscription``'s messages to the outbox; ``ns`` is its key
        in ``subscriptions`` (a namespace, or a prefixed service or activity)."""
        about = _about(ns)
        try:
            while True:
                delivery = await subscription.next()
                if self.closing:
                    return
                if not await self.outbox.put(delivery.body, ns, delivery.revision):
                    self._too_slow()
                    return
                self._sent(ns, delivery, pumping=False)
                if delivery.final:
                    return
        except SubscriptionEnded as ended:
            if not self.closing and ns in self.subscriptions:
                self._error("unavailable", f"{ended}; resubscribe with since={ended.resume_revision - 1}",
                            **about)
                self._end(ns, pumping=False)
        except ServiceError as error:
            if not self.closing:
                self._error(error.code, error.message, **about)
                self._end(ns, pumping=False)
        except Exception:
            logger.exception("live subscription to %r failed", ns)
            if not self.closing:
                self._error("internal", "the subscription failed on the server; resubscribe", **about)
                self._end(ns, pumping=False)

    def _push(self, ns: str, delivery: Delivery) -> bool:
        """A feed's message for the subscription under ``ns``: written now,
        or False if the outbox is full (the feed then lets the
        subscription go on at its own pace)."""
        if self.closing:
            return True
        if not self.outbox.put_nowait(delivery.body, ns, delivery.revision):
            return False
        self._sent(ns, delivery)
        return True

    def _sent(self, ns: str, delivery: Delivery, *, pumping: bool = True) -> None:
        if delivery.type != PROGRESS and self.tracking is not None:
            self.tracking.sent(ns, delivery.revision, delivery.release, delivery.published_at,
                               change=delivery.type == CHANGE)
        if delivery.final:
            self._end(ns, pumping=pumping)

    async def _bookmark_soon(self, subscription: PrefixSubscription) -> None:
        """A resumed subscription may have nothing to send for a long time:
        a bookmark as soon as its watch has caught up tells the client the
        resume worked (a watch that is still reading history takes none)."""
        for _ in range(100):
            if self.closing or subscription.request_progress():
                return
            await asyncio.sleep(0.05)

    async def _heartbeat(self) -> None:
        while True:
            await asyncio.sleep(settings.LIVE_HEARTBEAT_SECONDS)
            for subscription in list(self.subscriptions.values()):
                if subscription is not None:
                    subscription.request_progress()

    def _on_leader_change(self, known: bool) -> None:
        self._say({"type": "status", "leader": known})

    def _too_slow(self) -> None:
        if self.closing:
            return
        resume_from = {ns: s.since for ns, s in self.subscriptions.items() if s is not None and s.since is not None}
        reason = self.outbox.resume_reason(resume_from)
        asyncio.create_task(self._close(SLOW_CONSUMER, reason, keep_writer=False))

    def _end(self, ns: str, *, pumping: bool = True) -> None:
        subscription = self.subscriptions.pop(ns, None)
        if subscription is not None:
            subscription.close()
            if self.tracking is not None:
                self.tracking.unsubscribed(ns)
        pump = self.pumps.pop(ns, None)
        if pump is not None and pumping:
            pump.cancel()

    async def _close(self, code: int, reason: str, *, keep_writer: bool = True) -> None:
        """Stop everything and close the socket; what is queued is sent first
        unless ``keep_writer`` is False (a slow consumer: its queue is what
        it could not take)."""
        if self.closing:
            return
        self.closing = True
        self._stop(keep_writer=keep_writer)
        if keep_writer:
            await self._drain()
        await self.close(code=code, reason=close_reason(reason))

    async def _drain(self) -> None:
        for _ in range(100):
            if not len(self.outbox):
                return
            await asyncio.sleep(0.01)

    def _stop_hello_deadline(self) -> None:
        if self.hello_deadline is not None:
            self.hello_deadline.cancel()
            self.hello_deadline = None

    def _stop(self, *, keep_writer: bool = False) -> None:
        self._stop_hello_deadline()
        if self.following is not None:
            self.following.close()
            self.following = None
        if self.rechecking is not None and self.rechecking is not asyncio.current_task():
            self.rechecking.cancel()
        for ns in list(self.subscriptions):
            self._end(ns)
        for task in self.tasks:
            task.cancel()
        if not keep_writer:
            self.outbox.stop()
        if self.service is not None:
            leader_status(self.service).remove(self._on_leader_change)
        if self.tracking is not None:
            self.tracking.close()
            self.tracking = None

    async def disconnect(self, code) -> None:
        self.closing = True
        self._stop()
