"""``ServiceInstances``: a live local list of a service's registered
instances, kept current by the client's websocket subscription
(``AsyncConfigClient.discover``).

The server sends the whole list first (``instances``), then one
``instance_change`` per store revision with the instances registered or
updated (``put``) and the ids that went (``removed``), and ``progress``
bookmarks; after a reconnect the client resumes with
``since=<revision applied last>``, which continues exactly after it, and a
``resync`` (the resume point was compacted) replaces the whole list. Each
message is applied by swapping in a new immutable mapping, so readers on
any thread see one revision or the next, never a mix; then the
``on_change`` callbacks run.

``apply_listing`` and ``apply_instance_change`` are the pure part: they
turn a message into the new mapping.
"""
from __future__ import annotations

import asyncio
import inspect
import logging
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Awaitable, Callable, Mapping

from .errors import ProtocolError, SubscriptionError

logger = logging.getLogger("config_center_client")

InstancesCallback = Callable[[str, list, int], Any | Awaitable[Any]]


@dataclass(frozen=True)
class Instance:
    """One registered instance of a service, as the registry holds it.
    ``revision``: the store revision of its last registration; ``record``:
    every field the server sent (``registered_at``, ``registered_by``...)."""

    service: str
    id: str
    address: str
    port: int
    health: str
    metadata: Mapping[str, str] = field(hash=False)
    ttl: int
    lease: int
    revision: int
    record: Mapping[str, Any] = field(repr=False, compare=False)

    @classmethod
    def from_record(cls, service: str, record: Any) -> "Instance":
        """Raises ``ProtocolError`` when ``record`` lacks an id or address."""
        if not isinstance(record, dict) or not isinstance(record.get("id"), str) \
                or not isinstance(record.get("address"), str):
            raise ProtocolError(f"an instance of {service!r} without an id or address: {record!r:.200}")
        return cls(service=service, id=record["id"], address=record["address"], port=int(record.get("port") or 0),
                   health=str(record.get("health", "passing")),
                   metadata=MappingProxyType(dict(record.get("metadata") or {})), ttl=int(record.get("ttl") or 0),
                   lease=int(record.get("lease") or 0), revision=int(record.get("revision") or 0),
                   record=MappingProxyType(dict(record)))


def _revision(message: dict) -> int:
    revision = message.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        raise ProtocolError(f"a {message.get('type')} message without a revision")
    return revision


def apply_listing(service: str, message: dict) -> tuple[Mapping[str, Instance], int]:
    """The whole list of an ``instances`` or ``resync`` message, by id, and
    its revision."""
    listed = message.get("instances")
    if not isinstance(listed, list):
        raise ProtocolError(f"a {message.get('type')} message of {service!r} without an instance list")
    by_id = {}
    for record in listed:
        instance = Instance.from_record(service, record)
        by_id[instance.id] = instance
    return MappingProxyType(by_id), _revision(message)


def apply_instance_change(service: str, current: Mapping[str, Instance], revision: int,
                          message: dict) -> Mapping[str, Instance] | None:
    """``current`` (``service``'s list applied up to ``revision``) with an
    ``instance_change`` applied; None when the change is at or below
    ``revision`` (one that crossed a reconnect: applied already)."""
    if _revision(message) <= revision:
        return None
    put, removed = message.get("put", []), message.get("removed", [])
    if not isinstance(put, list) or not isinstance(removed, list):
        raise ProtocolError(f"an instance_change of {service!r} whose put or removed is not a list")
    by_id = dict(current)
    for instance_id in removed:
        by_id.pop(instance_id, None)
    for record in put:
        instance = Instance.from_record(service, record)
        by_id[instance.id] = instance
    return MappingProxyType(by_id)


class ServiceInstances:
    """The live list of ``service``'s instances (module docstring). Made by
    ``discover``; the client that made it keeps it current until it closes.

    Reads (any thread, no I/O): ``instances()`` a snapshot list sorted by
    id, ``get(id)``, ``len()``, ``revision`` (the store revision the list
    is current at; 0 before the first list), ``loaded``, ``error`` (the
    ``SubscriptionError`` if the server refused the service for good).
    """

    def __init__(self, service: str) -> None:
        self.service = service
        self._by_id: Mapping[str, Instance] = MappingProxyType({})
        self.revision = 0
        self.loaded = False
        self.error: SubscriptionError | None = None
        self._callbacks: list[InstancesCallback] = []
        # Set by the client: the next subscribe asks for the whole list
        # instead of resuming (the server refused the resume point).
        self.fresh = False
        self._settled: asyncio.Event | None = None

    def instances(self) -> list[Instance]:
        """The instances now, sorted by id (a copy: it does not change)."""
        return sorted(self._by_id.values(), key=lambda instance: instance.id)

    def get(self, instance_id: str) -> Instance | None:
        return self._by_id.get(instance_id)

    def __len__(self) -> int:
        return len(self._by_id)

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._by_id

    def __repr__(self) -> str:
        return f"<ServiceInstances {self.service!r} at revision {self.revision}: {sorted(self._by_id)}>"

    def on_change(self, callback: InstancesCallback) -> InstancesCallback:
        """Call ``callback(service, instances, revision)`` after each change
        of the list (the first list included, when it is registered before
        it arrives): ``instances`` is the new ``instances()``. Plain and
        coroutine functions are accepted; they run one at a time, in
        revision order, on the client's event loop (``ConfigClient``: its
        thread). An exception is logged and the client carries on. Returns
        ``callback`` (usable as a decorator)."""
        self._callbacks.append(callback)
        return callback

    # -- for the client, on its event loop -----------------------------------------------------

    async def wait_loaded(self, timeout: float) -> None:
        """Return once the first list is here; raise the refusal if the
        server refused the service, ``TimeoutError`` after ``timeout``."""
        if self._settled is None:
            self._settled = asyncio.Event()
        if not (self.loaded or self.error):
            await asyncio.wait_for(self._settled.wait(), timeout)
        if self.error is not None and not self.loaded:
            raise self.error

    def refused(self, error: SubscriptionError) -> None:
        self.error = error
        if self._settled is not None:
            self._settled.set()

    async def apply(self, kind: str, message: dict) -> bool:
        """Apply a ``instances``/``resync``/``instance_change``/``progress``
        message, then run the callbacks if the list changed. Whether the
        message was applied (False: a change applied already)."""
        if kind == "progress":
            revision = message.get("revision")
            if self.loaded and isinstance(revision, int) and revision > self.revision:
                self.revision = revision
            return True
        if kind == "instance_change":
            if not self.loaded:
                raise ProtocolError(f"an instance_change of {self.service!r} before its list")
            new = apply_instance_change(self.service, self._by_id, self.revision, message)
            if new is None:
                logger.debug("config_center_client: %s: skipping revision %s, applied already", self.service,
                             message.get("revision"))
                return False
            revision = message["revision"]
        else:
            if kind == "resync":
                logger.warning("config_center_client: service %s: the resume point was compacted; replacing the "
                               "whole list with revision %s", self.service, message.get("revision"))
            new, revision = apply_listing(self.service, message)
        changed = not self.loaded or dict(new) != dict(self._by_id)
        self._by_id, self.revision, self.loaded, self.fresh, self.error = new, revision, True, False, None
        if self._settled is not None:
            self._settled.set()
        if changed:
            await self._notify()
        return True

    async def _notify(self) -> None:
        instances = self.instances()
        for callback in tuple(self._callbacks):
            try:
                result = callback(self.service, instances, self.revision)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("config_center_client: on_change callback %r failed for service %s at revision %d",
                                 callback, self.service, self.revision)
