"""The service registry: instances of services, each alive while its lease
is kept alive.

An instance is registered under a service (a name shaped like a namespace,
``payments/api``) with an id, an address and port, metadata and a health
word, and bound to a store lease with a TTL. It stays while someone renews
the lease (``keepalive``, over REST or the live websocket) and disappears
with it — the leader revokes an expired lease and the store deletes the
key in the same step — when its process dies or loses the network, or at
once on ``deregister``. A leader change does not expire anyone: the new
leader gives every lease a fresh deadline (``consensus.mvcc.lease_clock``).

Discovery reads the instances linearizably, or subscribes to them
(``RegistrySubscription``: the whole list, then each registration and
removal, with the same resume rules as live config).

Registrations are runtime events made by applications many times a day;
they are not in the audit log, which records what operators change.
Permissions follow the service's name as if it were a namespace: reading
needs ``read``, registering needs ``draft`` (an editor, or a write token).
"""
from __future__ import annotations

from typing import Any

from consensus.mvcc.api import (
    EventType,
    LeaseGrantRequest,
    LeaseKeepAliveRequest,
    LeaseNotFoundError,
    LeaseRevokeRequest,
    PutRequest,
)

from config_center.store import keys, records

from .context import ServiceContext
from .errors import InvalidError, NotFoundError
from .names import check_item, check_namespace
from .prefix_subscription import Delivery, PrefixSubscription, by_revision, dumps

MIN_TTL = 2
MAX_TTL = 3600
DEFAULT_TTL = 10
HEALTH = ("passing", "warning", "critical")
MAX_METADATA_BYTES = 8 * 1024

INSTANCES = "instances"
INSTANCE_CHANGE = "instance_change"


def check_service(name: Any) -> str:
    try:
        return check_namespace(name)
    except InvalidError as error:
        raise InvalidError(error.message.replace("namespace", "service")) from None


def check_registration(body: Any) -> dict:
    """What ``register`` accepts: address (required), port, metadata, health, ttl."""
    if not isinstance(body, dict):
        raise InvalidError("a registration is an object: {address, port, metadata, health, ttl}")
    unknown = set(body) - {"address", "port", "metadata", "health", "ttl"}
    if unknown:
        raise InvalidError(f"unknown registration field(s): {', '.join(sorted(unknown))}")
    address = body.get("address")
    if not isinstance(address, str) or not address or len(address) > 255:
        raise InvalidError("address is required: a host name or IP address of at most 255 characters")
    port = body.get("port", 0)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port <= 65535:
        raise InvalidError("port must be an integer from 0 to 65535")
    metadata = body.get("metadata", {})
    if not isinstance(metadata, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()):
        raise InvalidError("metadata must be an object of strings")
    if len(records.encode(metadata)) > MAX_METADATA_BYTES:
        raise InvalidError(f"metadata is larger than {MAX_METADATA_BYTES} bytes")
    health = body.get("health", "passing")
    if health not in HEALTH:
        raise InvalidError(f"health must be one of {', '.join(HEALTH)}")
    ttl = body.get("ttl", DEFAULT_TTL)
    if not isinstance(ttl, int) or isinstance(ttl, bool) or not MIN_TTL <= ttl <= MAX_TTL:
        raise InvalidError(f"ttl must be a whole number of seconds from {MIN_TTL} to {MAX_TTL}")
    return {"address": address, "port": port, "metadata": dict(metadata), "health": health, "ttl": ttl}


def _instance_view(kv) -> dict:
    return {**records.decode(kv.value), "revision": kv.mod_revision}


async def register(ctx: ServiceContext, service: str, instance_id: str, body: Any, *, by: str) -> dict:
    """Register (or re-register) an instance on a new lease of ``ttl``
    seconds. The instance's old lease, if any, is revoked."""
    service, instance_id = check_service(service), check_item(instance_id)
    registration = check_registration(body)
    previous = await records.get(ctx.client, keys.registry_instance(service, instance_id))
    lease = await ctx.client.lease_grant(LeaseGrantRequest(TTL=registration["ttl"]))
    record = {"service": service, "id": instance_id, **registration, "lease": lease.ID,
              "registered_at": ctx.now(), "registered_by": by}
    put = await ctx.client.put(PutRequest(key=keys.registry_instance(service, instance_id),
                                          value=records.encode(record), lease=lease.ID))
    if previous is not None and previous.lease and previous.lease != lease.ID:
        await _revoke_quietly(ctx, previous.lease)
    return {**record, "revision": put.header.revision}


async def keepalive(ctx: ServiceContext, service: str, instance_id: str, lease: Any) -> dict:
    """Renew the instance's lease; ``NotFoundError`` once it has expired
    (register again)."""
    service, instance_id = check_service(service), check_item(instance_id)
    if not isinstance(lease, int) or isinstance(lease, bool) or lease <= 0:
        raise InvalidError("lease must be the lease id register returned")
    # Linearizable: a member that has not applied a fresh registration yet
    # must not call its lease unknown.
    current = await records.get(ctx.client, keys.registry_instance(service, instance_id))
    if current is None or current.lease != lease:
        raise NotFoundError(f"instance {instance_id!r} of {service!r} is not registered on lease {lease}; "
                            "register it again")
    try:
        answer = await ctx.client.lease_keepalive(LeaseKeepAliveRequest(ID=lease))
    except LeaseNotFoundError:
        answer = None
    if answer is None or answer.TTL <= 0:
        raise NotFoundError(f"the lease of instance {instance_id!r} of {service!r} has expired; register it again")
    return {"service": service, "id": instance_id, "lease": lease, "ttl": answer.TTL}


async def deregister(ctx: ServiceContext, service: str, instance_id: str) -> dict:
    service, instance_id = check_service(service), check_item(instance_id)
    current = await records.get(ctx.client, keys.registry_instance(service, instance_id))
    if current is None:
        raise NotFoundError(f"instance {instance_id!r} of {service!r} is not registered")
    response = await records.txn(ctx.client, [records.mod_revision_is(current.key, current.mod_revision)],
                                 [records.delete(current.key)])
    if current.lease:
        await _revoke_quietly(ctx, current.lease)
    return {"service": service, "id": instance_id, "deregistered": True, "revision": response.header.revision}


async def _revoke_quietly(ctx: ServiceContext, lease: int) -> None:
    try:
        await ctx.client.lease_revoke(LeaseRevokeRequest(ID=lease))
    except LeaseNotFoundError:
        pass  # expired meanwhile: nothing left to revoke


async def instances(ctx: ServiceContext, service: str) -> dict:
    """The registered instances of ``service`` (linearizable), by id."""
    service = check_service(service)
    kvs, at = await records.scan_all(ctx.client, keys.registry_instances(service))
    return {"service": service, "revision": at, "instances": [_instance_view(kv) for kv in kvs]}


async def services(ctx: ServiceContext, visible) -> list[dict]:
    """Every service with at least one instance, with how many."""
    kvs, _ = await records.scan(ctx.client, keys.REGISTRY, keys_only=True)
    counts: dict[str, int] = {}
    for kv in kvs:
        name = kv.key[len(keys.REGISTRY):].split(keys.SEPARATOR, 1)[0].decode()
        counts[name] = counts.get(name, 0) + 1
    return [{"service": name, "instances": count} for name, count in sorted(counts.items()) if visible(name)]


class RegistrySubscription(PrefixSubscription):
    """A service's instances, live: ``instances`` (the whole list, and as
    ``resync``), then ``instance_change`` per revision with the instances
    registered or updated (``put``) and the ids that went (``removed``)."""

    topic_field = "service"

    def __init__(self, ctx: ServiceContext, service: str, *, since: int | None = None) -> None:
        service = check_service(service)
        super().__init__(ctx, service, keys.registry_instances(service), since=since)

    async def _snapshot(self, kind: str) -> Delivery:
        listing = await instances(self.ctx, self.topic)
        at = listing["revision"]
        self._watch_from(at + 1)
        message = INSTANCES if kind == "snapshot" else kind
        return Delivery(message, self.topic, at, dumps({"type": message, "service": self.topic, "revision": at,
                                                        "instances": listing["instances"]}))

    async def _queue_changes(self, events) -> None:
        for revision, group in by_revision(events):
            put = [_instance_view(e.kv) for e in group if e.type is not EventType.DELETE]
            removed = [keys.name_after(self.prefix, e.kv.key) for e in group if e.type is EventType.DELETE]
            self._queue.append(Delivery(INSTANCE_CHANGE, self.topic, revision, dumps({
                "type": INSTANCE_CHANGE, "service": self.topic, "revision": revision, "put": put,
                "removed": removed,
            })))
