"""What the SDK raises. Every error says what was wrong and what to do."""
from __future__ import annotations


class ConfigClientError(Exception):
    """Base class of the SDK's errors."""


class AuthenticationError(ConfigClientError):
    """Every member refused the token (close code 4001). The client stops
    retrying with it: give it a valid, unrevoked ``cct_...`` token."""


class SubscriptionError(ConfigClientError):
    """The server refused a namespace for good (``code``: forbidden,
    not_found, limit...): the token's scope or the name is wrong."""

    def __init__(self, namespace: str, code: str, message: str) -> None:
        super().__init__(f"namespace {namespace!r}: {code}: {message}")
        self.namespace = namespace
        self.code = code


class StartTimeout(ConfigClientError, TimeoutError):
    """``start()`` ran out of time with namespaces that have no content,
    neither from a member nor from the cache."""


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
