"""What the SDK raises. Every error says what was wrong and what to do."""
from __future__ import annotations


class ConfigClientError(Exception):
    """Base class of the SDK's errors."""


class AuthenticationError(ConfigClientError):
    """Every member refused the token (close code 4001). The client stops
    retrying with it: give it a valid, unrevoked ``cct_...`` token."""


class SubscriptionError(ConfigClientError):
    """The server refused a namespace (or, from ``discover``, a service)
    for good (``code``: forbidden, not_found, limit...): the token's scope
    or the name is wrong. ``namespace`` holds the name either way."""

    def __init__(self, namespace: str, code: str, message: str, *, kind: str = "namespace") -> None:
        super().__init__(f"{kind} {namespace!r}: {code}: {message}")
        self.namespace = namespace
        self.code = code
        self.kind = kind


class RegistryError(ConfigClientError):
    """A member answered a registry request with an error (HTTP
    ``status``, ``code`` and ``message`` from its JSON body). ``retryable``
    when another member or a later attempt may succeed (5xx, 429)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message

    @property
    def retryable(self) -> bool:
        return self.status >= 500 or self.status == 429


class RegistrationError(RegistryError):
    """The registry refused a registration for good (forbidden, invalid,
    unauthenticated): fix the token's scope, the service name, the
    instance id or the registration's fields; retrying cannot help."""


class NoMemberAvailable(ConfigClientError, ConnectionError):
    """No member of ``urls`` answered a REST request (connection refused,
    timed out, or 5xx from each); the last reason is in the message."""


class StartTimeout(ConfigClientError, TimeoutError):
    """``start()`` ran out of time with namespaces that have no content,
    neither from a member nor from the cache; or ``discover()`` with no
    list of the service's instances yet."""


class ProtocolError(ConfigClientError):
    """A server message broke the protocol (a missing field, a change for a
    namespace with no base). The connection is dropped and resumed."""


class ItemNotFound(ConfigClientError, KeyError):
    """The namespace, item or key path is not in the config, and no default
    was given."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


class ConfigValueError(ConfigClientError, ValueError):
    """An item's content does not parse in its format, or a value is not of
    the type asked for. Raised rather than falling back to the default: a
    broken config should be seen, not silently replaced."""
