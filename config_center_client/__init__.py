"""Python client of config_center's live config (``/ws/v1/config``).

Usage::

    from config_center_client import ConfigClient

    client = ConfigClient(urls=["http://config-1:8000", "http://config-2:8000"],
                          token="cct_...", namespaces=["payments/prod"],
                          cache_dir="/var/cache/payments-config")
    client.start(timeout=10)                      # from the cache if no member answers
    pool = client.get_int("payments/prod", "app.yaml", "db.pool", default=10)
    client.on_change(lambda ns, names, revision: print(ns, sorted(names), revision))
    ...
    client.close()

asyncio code uses ``AsyncConfigClient`` the same way (``await client.start()``,
``async with``, async or plain callbacks). The client connects to one member,
fails over to the others, resumes every namespace from the revision it
applied last (nothing lost, nothing applied twice), keeps the last good
config in ``cache_dir``, and acknowledges what it applied. ``client.stale``
says the member it hears from has no leader (or there is none);
``client.from_cache`` that some namespace is still the cached copy.

Service registry (a client needs no namespaces for it)::

    client = ConfigClient(urls, token="cct_...").start()    # write access to payments/*
    registration = client.register("payments/api", "10.0.0.5", 8080, ttl=10,
                                   metadata={"version": "1.4.2"})
    # renewed every ttl/3, registered again if its lease is lost,
    # deregistered by client.close() (or registration.deregister())

    api = other_client.discover("payments/api")             # waits for the first list
    for instance in api.instances():
        print(instance.id, instance.address, instance.port, instance.metadata)
    api.on_change(lambda service, instances, revision: print(len(instances)))

Depends on the standard library and ``websockets`` only (PyYAML, lazily,
for yaml items read with the typed getters).
"""
from .async_client import AsyncConfigClient
from .backoff import Backoff
from .errors import (AuthenticationError, ConfigClientError, ConfigValueError, ItemNotFound, NoMemberAvailable,
                     ProtocolError, RegistrationError, RegistryError, StartTimeout, SubscriptionError)
from .formats import parse_properties
from .namespace_config import Item, NamespaceConfig
from .protocol import SDK_VERSION as __version__
from .registration import Registration
from .service_instances import Instance, ServiceInstances
from .sync_client import ConfigClient, SyncRegistration

__all__ = [
    "AsyncConfigClient", "AuthenticationError", "Backoff", "ConfigClient", "ConfigClientError", "ConfigValueError",
    "Instance", "Item", "ItemNotFound", "NamespaceConfig", "NoMemberAvailable", "ProtocolError", "Registration",
    "RegistrationError", "RegistryError", "ServiceInstances", "StartTimeout", "SubscriptionError", "SyncRegistration",
    "__version__", "parse_properties",
]
