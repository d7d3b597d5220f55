"""``ConfigClient``: the live config for code without an event loop.

It runs an ``AsyncConfigClient`` on its own event loop in one background
thread (a daemon: a forgotten ``close()`` does not keep the process
alive). Reads (``get``, ``get_*``, ``config``) answer from the async
client's immutable per-namespace configs, from any thread, without
touching the loop. ``on_change`` callbacks run on the client's thread, one
at a time, in revision order.

The registry helpers are the async client's, run on that loop:
``register`` returns a ``SyncRegistration`` (the same state, with a
blocking ``deregister``), ``discover`` the same ``ServiceInstances``.
"""
from __future__ import annotations

import asyncio
import os
import random
import threading
from typing import Iterable, Sequence

from .async_client import DEFAULT_MAX_MESSAGE_BYTES, AsyncConfigClient, ChangeCallback
from .backoff import Backoff
from .namespace_config import NamespaceConfig
from .reader import ConfigReader
from .registration import Registration
from .service_instances import ServiceInstances


class SyncRegistration:
    """A ``Registration`` for code without an event loop: the same state
    (``service``, ``instance_id``, ``lease``, ``registered``, ``record``,
    ``registrations``, ``error``, ``closed``), read from any thread, and a
    ``deregister`` that blocks."""

    def __init__(self, registration: Registration, loop: asyncio.AbstractEventLoop) -> None:
        self.registration = registration
        self._loop = loop

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.registration, name)

    def __repr__(self) -> str:
        return repr(self.registration)

    def deregister(self, timeout: float = 5.0) -> bool:
        """As ``Registration.deregister``; False as well when the client is
        closed already (``close`` deregistered it)."""
        if self._loop.is_closed() or not self._loop.is_running():
            return False
        return asyncio.run_coroutine_threadsafe(self.registration.deregister(timeout), self._loop).result(timeout + 5)


class ConfigClient(ConfigReader):
    """The sync face of ``AsyncConfigClient``: same arguments, same reads
    (see its docstring and ``reader``).

    ``start(timeout)`` blocks until every namespace has content (from a
    member, or from the cache when none answers) and raises as
    ``AsyncConfigClient.start`` does; ``close()`` stops the thread. As a
    context manager it starts on entry (default timeout) and closes on exit.
    """

    def __init__(self, urls: Sequence[str] | str, token: str, namespaces: Iterable[str] = (),
                 cache_dir: str | os.PathLike | None = None, instance_id: str | None = None,
                 labels: dict[str, str] | None = None, *, backoff: Backoff | None = None,
                 resume_grace: float = 1.0, open_timeout: float = 10.0,
                 max_message_bytes: int = DEFAULT_MAX_MESSAGE_BYTES, rng: random.Random | None = None) -> None:
        self.client = AsyncConfigClient(urls, token, namespaces, cache_dir, instance_id, labels, backoff=backoff,
                                        resume_grace=resume_grace, open_timeout=open_timeout,
                                        max_message_bytes=max_message_bytes, rng=rng)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    # -- reads and state (any thread) ----------------------------------------------------------

    def config(self, namespace: str) -> NamespaceConfig | None:
        return self.client.config(namespace)

    def source(self, namespace: str) -> str | None:
        return self.client.source(namespace)

    @property
    def namespaces(self) -> tuple[str, ...]:
        return self.client.namespaces

    @property
    def from_cache(self) -> bool:
        return self.client.from_cache

    @property
    def stale(self) -> bool:
        return self.client.stale

    @property
    def connected(self) -> bool:
        return self.client.connected

    @property
    def member(self) -> str | None:
        return self.client.member

    @property
    def error(self) -> Exception | None:
        return self.client.error

    @property
    def errors(self) -> dict:
        return self.client.errors

    def on_change(self, callback: ChangeCallback) -> ChangeCallback:
        """As ``AsyncConfigClient.on_change``; the callback runs on the
        client's thread."""
        return self.client.on_change(callback)

    # -- service registry ------------------------------------------------------------------------

    def register(self, service: str, address: str, port: int = 0, *, instance_id: str | None = None, ttl: int = 10,
                 metadata: dict[str, str] | None = None, health: str = "passing",
                 timeout: float = 10.0) -> SyncRegistration:
        """As ``AsyncConfigClient.register`` (same arguments, same errors);
        blocks until registered or ``timeout``. Not from a callback."""
        return SyncRegistration(self._call(self.client.register(
            service, address, port, instance_id=instance_id, ttl=ttl, metadata=metadata, health=health,
            timeout=timeout), "register"), self._loop)

    def discover(self, service: str, timeout: float = 10.0) -> ServiceInstances:
        """As ``AsyncConfigClient.discover``: blocks until the first list of
        ``service``'s instances is here (``StartTimeout`` after
        ``timeout``). Its ``on_change`` callbacks run on the client's thread.
        Not from a callback."""
        return self._call(self.client.discover(service, timeout), "discover")

    def _call(self, coroutine, what: str):
        if self._loop is None or self._loop.is_closed():
            coroutine.close()
            raise RuntimeError(f"{what}() needs a started client that is not closed: call start() first")
        if threading.current_thread() is self._thread:
            coroutine.close()
            raise RuntimeError(f"{what}() from a callback would wait for itself; call it elsewhere")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result()

    # -- life cycle ------------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> "ConfigClient":
        """Start the thread and the client; block until ready (class
        docstring). On failure the thread is stopped and the error raised."""
        if self._thread is not None:
            raise RuntimeError("start() was called already; create a new client to start again")
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="config-center-client", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self.client.start(timeout), self._loop).result()
        except BaseException:
            self._stop_loop()
            raise
        return self

    def close(self, timeout: float = 10.0) -> None:
        """Close the client and stop its thread; reads keep answering with
        the last content, and registered instances are deregistered
        (``AsyncConfigClient.close``). Idempotent; not to be called from a
        callback."""
        if self._loop is None or self._loop.is_closed():
            return
        if threading.current_thread() is self._thread:
            raise RuntimeError("close() from an on_change callback would wait for itself; call it elsewhere")
        try:
            asyncio.run_coroutine_threadsafe(self.client.close(), self._loop).result(timeout)
        finally:
            self._stop_loop()

    def _stop_loop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        if not thread.is_alive():
            loop.close()

    def __enter__(self) -> "ConfigClient":
        if self._thread is None:
            self.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
