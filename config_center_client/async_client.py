"""``AsyncConfigClient``: an application's live config over ``/ws/v1/config``,
for asyncio code. ``ConfigClient`` (``sync_client``) runs one in a thread.

One task owns the connection. It connects to a member (trying them in the
order given, moving to the next after each failed or lost connection),
says who it is (``hello``), subscribes to every namespace and applies what
the member sends. Each message is handled in this order:

    apply (swap in the new ``NamespaceConfig``) -> save it to the cache ->
    call the ``on_change`` callbacks -> ``ack`` the revision

so a reader sees a change before the callbacks run, the cache never holds
a revision the client had not applied whole, and the server hears
"applied" only after the application reacted. A lost connection is
resumed on the next member with ``since=<revision applied last>`` per
namespace, which continues exactly after it: no change is lost or applied
twice (a change at or below the applied revision is skipped, should one
cross a reconnect). Reconnects wait an exponential, capped, jittered delay
(``backoff``) that starts over after a session that delivered something.

Start-up (``start``): each namespace is loaded from the cache if it has a
copy, then the client waits until every namespace has content it can
stand behind: content from a member, or cached content when no member
could be reached (every URL failed once), or cached content whose resumed
subscription (``since`` = the cached revision) a member accepted without
complaint for ``resume_grace`` seconds (the protocol confirms a quiet
resume only with the next ``progress``, up to a heartbeat later).

Close codes: 4001 (token refused) is retried on the other members, then
given up as ``AuthenticationError`` once every member refused it in a row
(at least twice): a token does not heal by retrying. 4008 (slow consumer)
resumes on the same member. Everything else (1012/1001 stopping, 1013 not
ready, network errors, a silent connection) fails over to the next member.

``stale`` is True while the client is not connected to a member that
follows a leader: what it holds may be behind the cluster.

Service registry: ``register`` keeps an instance of a service registered
(``registration``: over REST, failed over across the members, renewed
every ttl/3, registered again when its lease is lost, deregistered by
``close``); ``discover`` keeps a live list of a service's instances
(``service_instances``) over the same websocket, subscribed and resumed
exactly like a namespace. A client may have no namespaces at all.
"""
from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import random
import socket
from dataclasses import dataclass, replace
from typing import Any, Awaitable, Callable, Iterable, Sequence

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from . import protocol
from .backoff import Backoff
from .cache import ConfigCache
from .errors import AuthenticationError, ProtocolError, StartTimeout, SubscriptionError
from .namespace_config import CACHE, SERVER, NamespaceConfig, apply_change, apply_progress, apply_snapshot
from .reader import ConfigReader
from .registration import Registration
from .registry_methods import SERVICE_TOPIC, RegistryMethods
from .rest import RestClient
from .service_instances import ServiceInstances

logger = logging.getLogger("config_center_client")

ChangeCallback = Callable[[str, frozenset, int], Any | Awaitable[Any]]

DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024 * 1024
# A connection that hears nothing for this many heartbeats is taken as dead
# (a member that froze or a network that drops packets without a reset).
SILENT_HEARTBEATS = 3
MIN_SILENCE_SECONDS = 10.0


@dataclass
class _SessionEnd:
    """How one connection ended, for the reconnect decision."""

    welcomed: bool = False
    delivered: bool = False  # at least one subscription message was applied
    code: int | None = None  # the close code the member sent, if any
    why: str = ""


class _Session:
    """What the client knows about its current connection."""

    def __init__(self, ws: ClientConnection, url: str) -> None:
        self.ws = ws
        self.url = url
        self.end = _SessionEnd()
        self.heartbeat = 5.0
        self.active: set[str] = set()  # subscribed and not ended
        self.active_services: set[str] = set()
        self.since_sent: dict[str, int | None] = {}
        self.retries: list[asyncio.Task] = []


class AsyncConfigClient(RegistryMethods, ConfigReader):
    """Live config of ``namespaces`` from the members at ``urls`` (module
    docstring), for asyncio code; and the service registry's helpers,
    ``register`` and ``discover``.

    ``urls``: http(s) base URLs of members (``http://10.0.0.5:8000``), tried
    in order. ``token``: an API token (``cct_...``) that may read the
    namespaces (and, for ``register``, write the services; for
    ``discover``, read them). ``namespaces`` may be empty: a client that
    only registers or discovers. ``cache_dir``: where the last good config is kept (none if
    None). ``instance_id`` / ``labels``: how this process shows up in
    delivery tracking (default id: ``<hostname>-<pid>``).

    Tuning (keyword-only): ``backoff`` (reconnect delays, default 0.1 s
    doubling to 10 s), ``resume_grace`` (start-up, module docstring),
    ``open_timeout`` (connect and welcome), ``max_message_bytes`` (the
    largest snapshot accepted), ``rng`` (jitter; seed it for reproducible
    delays).

    ``await start()`` once, then read with ``get``/``get_*`` (from any
    thread), register ``on_change`` callbacks, and ``await close()`` (or use
    ``async with``). Reads never block and never do I/O.
    """

    def __init__(self, urls: Sequence[str] | str, token: str, namespaces: Iterable[str] = (),
                 cache_dir: str | os.PathLike | None = None, instance_id: str | None = None,
                 labels: dict[str, str] | None = None, *, backoff: Backoff | None = None,
                 resume_grace: float = 1.0, open_timeout: float = 10.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, rng: random.Random | None = None) -> None:
        if isinstance(urls, str):
            urls = [urls]
        if not urls:
            raise ValueError("give at least one member URL, e.g. urls=['http://config-1:8000']")
        if not isinstance(token, str) or not token.strip():
            raise ValueError("token must be an API token (cct_...)")
        self.namespaces: tuple[str, ...] = tuple(dict.fromkeys(namespaces))
        if isinstance(namespaces, str) or not all(isinstance(ns, str) and ns for ns in self.namespaces):
            raise ValueError("namespaces must be a list of namespace names, e.g. ['payments/prod']")
        if labels is not None and not all(isinstance(k, str) and isinstance(v, str) for k, v in labels.items()):
            raise ValueError("labels must map strings to strings, e.g. {'zone': 'eu-1'}")
        self.urls: tuple[str, ...] = tuple(urls)
        self._ws_urls = [protocol.ws_url(url) for url in self.urls]
        self._token = token.strip()
        self._cache = ConfigCache(cache_dir) if cache_dir is not None else None
        host = socket.gethostname()
        self.instance = {
            "id": instance_id or f"{host}-{os.getpid()}",
            "labels": dict(labels or {}),
            "host": host,
            "sdk": f"{protocol.SDK_NAME}/{protocol.SDK_VERSION}",
        }
        self._rng = rng or random.Random()
        self._backoff = backoff or Backoff(rng=self._rng)
        self.resume_grace = resume_grace
        self.open_timeout = open_timeout
        self.max_message_bytes = max_message_bytes

        # Read from any thread: replaced whole, never changed in place.
        self._configs: dict[str, NamespaceConfig] = {}
        self._callbacks: list[ChangeCallback] = []
        self._session: _Session | None = None
        self._leader = False
        # Namespaces whose server-side subscription ended with the namespace
        # (or whose resume point a member refused): the next subscribe asks
        # for a fresh snapshot instead of resuming.
        self._fresh: set[str] = set()
        # When a cached namespace's resumed subscription was sent (start-up).
        self._resumed_at: dict[str, float] = {}
        # Namespaces with a server message handled whole (callbacks included).
        self._handled: set[str] = set()
        self._unreachable = False
        self.errors: dict[str, SubscriptionError] = {}
        self.error: Exception | None = None  # why the client gave up, if it did
        self.reconnects = 0
        self._task: asyncio.Task | None = None
        self._closing = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wakeup: asyncio.Event | None = None
        self._stopped: asyncio.Event | None = None
        self._rest = RestClient(self.urls, self._token)
        self._registrations: list[Registration] = []
        self._services: dict[str, ServiceInstances] = {}

    # -- state, for readers (any thread) ----------------------------------------------------

    def config(self, namespace: str) -> NamespaceConfig | None:
        return self._configs.get(namespace)

    def source(self, namespace: str) -> str | None:
        """``"server"`` once a member confirmed the namespace's content,
        ``"cache"`` while it is the cached copy, None while there is none."""
        config = self._configs.get(namespace)
        return config.source if config is not None else None

    @property
    def from_cache(self) -> bool:
        """True while some namespace is served from the cache only."""
        return any(config.source == CACHE for config in list(self._configs.values()))

    @property
    def connected(self) -> bool:
        """Connected to a member that accepted the token."""
        session = self._session
        return session is not None and session.end.welcomed

    @property
    def member(self) -> str | None:
        """The websocket URL of the member the client is connected to."""
        session = self._session
        return session.url if session is not None and session.end.welcomed else None

    @property
    def stale(self) -> bool:
        """True unless connected to a member that follows a leader: without
        one, a member serves what it had, which may be behind the cluster."""
        return not (self.connected and self._leader)

    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """Call ``callback(namespace, names, revision)`` after each applied
        change of a namespace's items (the first load included): ``names``
        is the frozenset of item names added, changed or deleted, and the
        client already returns the new content. Plain functions and
        coroutine functions are both accepted; they run one at a time, in
        revision order, on the client's event loop (``ConfigClient``: its
        thread), so a slow callback delays the next change. An exception is
        logged and the client carries on. Returns ``callback`` (usable as a
        decorator).

        A namespace deleted on the server keeps its last content (its
        ``config(ns).deleted`` turns True) and calls no callback."""
        self._callbacks.append(callback)
        return callback

    # -- life cycle --------------------------------------------------------------------------

    async def __aenter__(self) -> "AsyncConfigClient":
        if self._task is None:
            await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.close()

    async def start(self, timeout: float = 10.0) -> "AsyncConfigClient":
        """Load the cache, connect, and return once every namespace has
        content (module docstring, "Start-up"); the client then keeps
        itself up to date until ``close()``.

        Raises ``StartTimeout`` if ``timeout`` seconds pass with a namespace
        that has no content at all, ``AuthenticationError`` if every member
        refused the token, ``SubscriptionError`` if a namespace was refused
        (forbidden, not_found). On failure the client is closed.
        """
        if self._task is not None:
            raise RuntimeError("start() was called already; create a new client to start again")
        self._loop = asyncio.get_running_loop()
        self._wakeup = asyncio.Event()
        self._stopped = asyncio.Event()
        if self._cache is not None:
            for ns in self.namespaces:
                cached = await asyncio.to_thread(self._cache.load, ns)
                if cached is not None:
                    self._configs[ns] = cached
        self._task = asyncio.create_task(self._run(), name="config-center-client")
        deadline = self._loop.time() + timeout
        try:
            await self._until_ready(deadline, timeout)
        except BaseException:
            await self.close()
            raise
        cached = [ns for ns in self.namespaces if self.source(ns) == CACHE]
        if cached:
            why = "no member is reachable" if not self.connected else "a member has not confirmed it yet"
            logger.warning("config_center_client: started from the local cache for %s (%s); "
                           "it will be brought up to date when a member answers", ", ".join(cached), why)
        return self

    async def _until_ready(self, deadline: float, timeout: float) -> None:
        while True:
            if self.error is not None:
                raise self.error
            for ns in self.namespaces:
                if ns in self.errors:
                    raise self.errors[ns]
            if all(self._ready(ns) for ns in self.namespaces):
                return
            remaining = deadline - self._loop.time()
            if remaining <= 0:
                if all(ns in self._configs for ns in self.namespaces):
                    return  # every namespace has cached content: better than nothing
                missing = [ns for ns in self.namespaces if ns not in self._configs]
                raise StartTimeout(
                    f"no content for {', '.join(missing)} within {timeout} s: no member of "
                    f"{', '.join(self.urls)} delivered it and the cache has no copy; check the URLs and the "
                    "network, or give start() a longer timeout")
            self._wakeup.clear()
            # The grace period of resumed namespaces ends without an event:
            # look again at least every 100 ms.
            try:
                await asyncio.wait_for(self._wakeup.wait(), min(remaining, 0.1))
            except TimeoutError:
                pass

    def _ready(self, ns: str) -> bool:
        config = self._configs.get(ns)
        if config is None:
            return False
        if config.source == SERVER:
            # Once its callbacks ran: start() returns after the first load
            # was handled whole.
            return ns in self._handled or self._unreachable
        if self._unreachable:
            return True
        sent = self._resumed_at.get(ns)
        return sent is not None and self._loop.time() - sent >= self.resume_grace

    async def close(self) -> None:
        """Stop: deregister every instance ``register`` keeps registered
        (best effort, a few seconds at most: one no member could delete
        expires with its TTL), then close the connection and the task.
        Reads keep answering with the last content. Idempotent."""
        if self._closing:
            return
        self._closing = True
        if self._registrations:
            await asyncio.gather(*(registration.deregister(timeout=3.0) for registration in self._registrations),
                                 return_exceptions=True)
        if self._stopped is not None:
            self._stopped.set()
        session = self._session
        if session is not None:
            try:
                await asyncio.wait_for(session.ws.close(), 2.0)
            except (TimeoutError, OSError, ConnectionClosed):
                pass
        if self._task is not None:
            if not self._task.done():
                try:
                    await asyncio.wait_for(asyncio.shield(self._task), 2.0)
                except Exception:
                    pass  # TimeoutError included: cancelled below
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def _wake(self) -> None:
        if self._wakeup is not None:
            self._wakeup.set()

    # -- service registry ----------------------------------------------------------------------

    def _require_started(self, what: str) -> None:
        if self._task is None or self._closing:
            raise RuntimeError(f"{what}() needs a started client that is not closed: call start() first")

    # -- connections ---------------------------------------------------------------------------

    async def _run(self) -> None:
        """Connect, serve, fail over, until closed or the token is refused
        everywhere (module docstring)."""
        index = 0
        unwelcomed_in_row = 0
        refusals_in_row = 0
        while not self._closing:
            url = self._ws_urls[index % len(self._ws_urls)]
            end = await self._serve(url)
            if self._closing:
                return
            if end.code == protocol.CLOSE_UNAUTHENTICATED:
                refusals_in_row += 1
                # A token made a moment ago may not have reached a lagging
                # member yet: ask the others before giving up.
                if refusals_in_row >= max(2, len(self._ws_urls)):
                    self.error = AuthenticationError(
                        f"every member refused the token ({end.why or 'close code 4001'}); give the client a "
                        "valid, unrevoked API token (cct_...)")
                    logger.error("config_center_client: %s; not retrying", self.error)
                    self._wake()
                    return
            elif end.welcomed:
                refusals_in_row = 0
            if end.welcomed:
                unwelcomed_in_row = 0
            else:
                unwelcomed_in_row += 1
                if unwelcomed_in_row >= len(self._ws_urls) and not self._unreachable:
                    self._unreachable = True
                    self._wake()
            if end.delivered:
                self._backoff.reset()
            if end.code != protocol.CLOSE_SLOW_CONSUMER:
                index += 1  # fail over: the next member may be healthy
            delay = self._backoff.next()
            self.reconnects += 1
            log = logger.info if end.welcomed else logger.warning
            log("config_center_client: connection to %s ended (%s); reconnecting to %s in %.2f s",
                url, end.why or "closed", self._ws_urls[index % len(self._ws_urls)], delay)
            try:
                await asyncio.wait_for(self._stopped.wait(), delay)
            except TimeoutError:
                pass

    async def _serve(self, url: str) -> _SessionEnd:
        """One connection to ``url``, until it ends; how it ended."""
        end = _SessionEnd()
        session: _Session | None = None
        try:
            # compression=None: the node does not compress its websockets (a
            # change fanned out to thousands would be deflated once per socket).
            async with connect(url, additional_headers={"Authorization": f"Bearer {self._token}"},
                               user_agent_header=f"{protocol.SDK_NAME}/{protocol.SDK_VERSION}",
                               open_timeout=self.open_timeout, close_timeout=2.0,
                               max_size=self.max_message_bytes, compression=None) as ws:
                session = _Session(ws, url)
                session.end = end
                self._session = session
                await ws.send(protocol.hello(self.instance))
                await self._welcome(session)
                for ns in self.namespaces:
                    await self._subscribe(session, ns)
                for service in list(self._services):
                    await self._subscribe_service(session, service)
                while not self._closing:
                    await self._receive(session)
        except ConnectionClosed as closed:
            if closed.rcvd is not None:
                end.code = closed.rcvd.code
                end.why = f"close code {closed.rcvd.code}" + (f": {closed.rcvd.reason}" if closed.rcvd.reason else "")
            else:
                end.why = "connection lost"
            if end.code == protocol.CLOSE_SLOW_CONSUMER:
                logger.warning("config_center_client: the member closed us as a slow consumer (its resume points "
                               "%s); resuming from the revisions applied here", protocol.resume_points(
                                   closed.rcvd.reason))
        except (OSError, InvalidHandshake, TimeoutError) as error:
            end.why = f"{type(error).__name__}: {error}"
        except ProtocolError as error:
            end.why = f"protocol error: {error}"
            logger.error("config_center_client: %s (from %s); dropping the connection", error, url)
        except Exception as error:
            # A bug of ours or of the library. Logged loudly; the client
            # keeps serving and reconnects rather than stop updating quietly.
            end.why = f"unexpected {type(error).__name__}: {error}"
            logger.exception("config_center_client: the connection to %s failed unexpectedly", url)
        finally:
            if session is not None:
                for retry in session.retries:
                    retry.cancel()
            self._session = None
            self._leader = False
            self._resumed_at.clear()
            self._wake()
        return end

    async def _next_message(self, session: _Session, timeout: float | None) -> dict:
        text = await asyncio.wait_for(session.ws.recv(), timeout) if timeout else await session.ws.recv()
        try:
            message = json.loads(text)
        except (TypeError, ValueError):
            raise ProtocolError(f"a message is not JSON: {text!r:.200}") from None
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            raise ProtocolError(f"a message is not an object with a type: {text!r:.200}")
        return message

    async def _welcome(self, session: _Session) -> None:
        while True:
            message = await self._next_message(session, self.open_timeout)
            if message["type"] == protocol.WELCOME:
                break
            if message["type"] == protocol.ERROR:
                logger.warning("config_center_client: %s refused hello: %s: %s", session.url,
                               message.get("code"), message.get("message"))
        session.end.welcomed = True
        heartbeat = message.get("heartbeat")
        if isinstance(heartbeat, (int, float)) and heartbeat > 0:
            session.heartbeat = float(heartbeat)
        self._leader = bool(message.get("leader"))
        logger.info("config_center_client: connected to %s as %s%s", session.url, message.get("user"),
                    "" if self._leader else " (the member has no leader: its config may be stale)")
        self._wake()

    async def _subscribe(self, session: _Session, ns: str) -> None:
        config = self._configs.get(ns)
        since = None if config is None or ns in self._fresh else config.revision
        await session.ws.send(protocol.subscribe(ns, since))
        session.active.add(ns)
        session.since_sent[ns] = since
        if since is not None and config.source == CACHE:
            self._resumed_at[ns] = self._loop.time()

    async def _receive(self, session: _Session) -> None:
        # Members send progress every heartbeat to each subscription; silence
        # for several heartbeats means the connection is dead.
        silence = (max(SILENT_HEARTBEATS * session.heartbeat, MIN_SILENCE_SECONDS)
                   if session.active or session.active_services else None)
        try:
            message = await self._next_message(session, silence)
        except TimeoutError:
            raise OSError(f"nothing from the member for {silence:.0f} s") from None
        kind = message["type"]
        ns = message.get("namespace")
        service = message.get("service")
        if kind in protocol.SERVICE_MESSAGES and service is not None and ns is None:
            view = self._services.get(service)
            if view is None:
                logger.warning("config_center_client: a %s for service %r, which this client does not discover",
                               kind, service)
                return
            await view.apply(kind, message)
            if kind == protocol.PROGRESS and "leader" in message:
                self._set_leader(bool(message["leader"]))
            session.end.delivered = True
            return
        if kind in (protocol.SNAPSHOT, protocol.RESYNC, protocol.CHANGE, protocol.PROGRESS, protocol.DELETED):
            if ns not in self.namespaces:
                logger.warning("config_center_client: a %s for %r, which this client did not subscribe to", kind, ns)
                return
            await self._on_namespace_message(session, kind, ns, message)
        elif kind == protocol.STATUS:
            self._set_leader(bool(message.get("leader")))
        elif kind == protocol.ERROR:
            self._on_error(session, message)
        elif kind == protocol.UNSUBSCRIBED:
            if service is not None:
                session.active_services.discard(service)
            else:
                session.active.discard(ns)
        else:
            logger.debug("config_center_client: ignoring a %r message", kind)

    async def _on_namespace_message(self, session: _Session, kind: str, ns: str, message: dict) -> None:
        current = self._configs.get(ns)
        if kind in (protocol.SNAPSHOT, protocol.RESYNC):
            if kind == protocol.RESYNC:
                logger.warning("config_center_client: %s: the resume point was compacted; replacing the whole "
                               "config with revision %s", ns, message.get("revision"))
            new, names = apply_snapshot(current, message)
            self._fresh.discard(ns)
            await self._commit(session, new, names)
        elif kind == protocol.CHANGE:
            applied = apply_change(current, message)
            if applied is None:
                logger.debug("config_center_client: %s: skipping revision %s, applied already", ns,
                             message.get("revision"))
                return
            await self._commit(session, *applied)
        elif kind == protocol.PROGRESS:
            revision = message.get("revision")
            if current is not None and isinstance(revision, int):
                self._configs[ns] = apply_progress(current, revision)
            if "leader" in message:
                self._set_leader(bool(message["leader"]))
            session.end.delivered = True
            self._handled.add(ns)
            self._wake()
        else:  # DELETED
            session.active.discard(ns)
            self._fresh.add(ns)
            if current is not None:
                self._configs[ns] = replace(current, deleted=True, source=SERVER)
            logger.warning("config_center_client: namespace %r was deleted on the server; keeping its last "
                           "content (revision %s)", ns, current.revision if current else None)
            self._wake()

    async def _commit(self, session: _Session, new: NamespaceConfig, names: frozenset) -> None:
        """Apply -> cache -> callbacks -> ack (module docstring)."""
        ns = new.namespace
        self._configs[ns] = new
        self.errors.pop(ns, None)
        session.end.delivered = True
        self._wake()
        if self._cache is not None:
            try:
                await asyncio.to_thread(self._cache.save, new)
            except OSError as error:
                # The previous file is still whole; the next message tries again.
                logger.error("config_center_client: could not write the cache of %s at revision %d: %s",
                             ns, new.revision, error)
        if names:
            await self._notify(ns, names, new.revision)
        self._handled.add(ns)
        self._wake()
        await session.ws.send(protocol.ack(ns, new.revision))

    async def _notify(self, ns: str, names: frozenset, revision: int) -> None:
        for callback in tuple(self._callbacks):
            try:
                result = callback(ns, names, revision)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("config_center_client: on_change callback %r failed for %s at revision %d",
                                 callback, ns, revision)

    def _on_error(self, session: _Session, message: dict) -> None:
        code, text, ns = message.get("code"), message.get("message"), message.get("namespace")
        service = message.get("service")
        if isinstance(ns, str) and ns.startswith(SERVICE_TOPIC) and ns[len(SERVICE_TOPIC):] in self._services:
            service, ns = ns[len(SERVICE_TOPIC):], None
        if service is not None and ns is None and "id" not in message:
            self._on_service_error(session, service, code, text)
            return
        if ns not in self.namespaces:
            logger.warning("config_center_client: %s says %s: %s", session.url, code, text)
            return
        session.active.discard(ns)
        if code in ("invalid", protocol.SINCE_AHEAD) and session.since_sent.get(ns) is not None:
            # The member refuses our resume point (a cache from another
            # cluster, or one that was rebuilt): start over from a snapshot.
            logger.warning("config_center_client: %s refused to resume %s from revision %s (%s); asking for "
                           "the whole config", session.url, ns, session.since_sent[ns], text)
            self._fresh.add(ns)
            session.retries.append(asyncio.create_task(self._resubscribe(session, ns, 0.0)))
        elif code in protocol.PERMANENT_ERRORS or code == "invalid":
            self.errors[ns] = SubscriptionError(ns, code, text or "")
            logger.error("config_center_client: %s", self.errors[ns])
            self._wake()
        else:
            delay = self._backoff.nominal(len(session.retries))
            logger.warning("config_center_client: %s: %s: %s; subscribing again in %.2f s", ns, code, text, delay)
            session.retries.append(asyncio.create_task(self._resubscribe(session, ns, delay)))

    async def _resubscribe(self, session: _Session, ns: str, delay: float) -> None:
        await asyncio.sleep(delay)
        if self._session is session and ns not in session.active:
            try:
                await self._subscribe(session, ns)
            except ConnectionClosed:
                pass  # the session ends; the next one subscribes anyway

    def _set_leader(self, known: bool) -> None:
        if known != self._leader:
            if known:
                logger.info("config_center_client: the member follows a leader again")
            else:
                logger.warning("config_center_client: the member lost its leader; its config may be stale")
        self._leader = known
