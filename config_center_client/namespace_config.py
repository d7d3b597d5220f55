"""One namespace's config as the client holds it, and how server messages
turn one version of it into the next.

A ``NamespaceConfig`` is immutable: applying a message builds a new one,
and the client swaps it in with one assignment. A reader that took a
``NamespaceConfig`` therefore sees one revision of the namespace whole,
never half a change, whatever the client's thread does meanwhile.

Applying, by message type (``protocol``):

- ``snapshot`` / ``resync``: the message's items replace everything;
- ``change``: its items are added or replaced, its ``deleted`` names
  removed, on top of the current config; a change at or below the current
  revision was applied already (a resumed subscription may repeat nothing,
  but a message crossing a reconnect could) and is skipped;
- ``progress``: the items stay, the revision moves forward.

Each returns the new config and the names of the items it changed: for a
change, those the message names; for a snapshot or resync, those whose
content, format or presence differs from before.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Mapping

from .errors import ProtocolError

SERVER = "server"
CACHE = "cache"


@dataclass(frozen=True)
class Item:
    """One config item: ``content`` is text in ``format`` (json, yaml,
    properties or text); ``revision`` is the store revision that last wrote
    it; ``secret`` items' content is shown only to tokens allowed to see it."""

    name: str
    format: str
    content: str
    revision: int
    secret: bool = False
    # Parsed content, filled on first use by the typed getters; shared by
    # readers of this immutable item, so only immutable results go in.
    parsed: dict = field(default_factory=dict, compare=False, repr=False)

    def to_json(self) -> dict:
        return {"format": self.format, "content": self.content, "revision": self.revision, "secret": self.secret}

    @classmethod
    def from_json(cls, name: str, body: Any) -> "Item":
        if not isinstance(body, dict) or not isinstance(body.get("content"), str):
            raise ProtocolError(f"item {name!r} has no text content: {body!r:.200}")
        return cls(name, str(body.get("format", "text")), body["content"], _revision(body, f"item {name!r}"),
                   bool(body.get("secret", False)))


@dataclass(frozen=True)
class NamespaceConfig:
    """One revision of a namespace's live config (module docstring).

    ``revision``: the client has every change of the namespace up to this
    store revision; ``release``: the release number it comes from;
    ``source``: ``"server"`` once a member confirmed it, ``"cache"`` while
    it is what the local cache held; ``deleted``: the namespace was deleted
    on the server (the last content is kept, and not updated any more).
    """

    namespace: str
    revision: int
    release: int
    items: Mapping[str, Item]
    source: str = SERVER
    deleted: bool = False

    def __post_init__(self) -> None:
        if not isinstance(self.items, MappingProxyType):
            object.__setattr__(self, "items", MappingProxyType(dict(self.items)))

    def to_json(self) -> dict:
        return {"namespace": self.namespace, "revision": self.revision, "release": self.release,
                "items": {name: item.to_json() for name, item in sorted(self.items.items())}}

    @classmethod
    def from_json(cls, body: Any, source: str = SERVER) -> "NamespaceConfig":
        if not isinstance(body, dict) or not isinstance(body.get("namespace"), str):
            raise ProtocolError(f"a namespace config needs a namespace: {body!r:.200}")
        items = body.get("items")
        if not isinstance(items, dict):
            raise ProtocolError(f"namespace {body['namespace']!r}: items must be an object")
        return cls(body["namespace"], _revision(body, body["namespace"]), int(body.get("release") or 0),
                   {name: Item.from_json(name, item) for name, item in items.items()}, source)


def _revision(body: dict, what: str) -> int:
    revision = body.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool) or revision < 0:
        raise ProtocolError(f"{what}: revision must be a non-negative integer, got {revision!r}")
    return revision


def _changed_names(old: Mapping[str, Item], new: Mapping[str, Item]) -> frozenset[str]:
    return frozenset(name for name in old.keys() | new.keys()
                     if name not in old or name not in new
                     or (old[name].content, old[name].format) != (new[name].content, new[name].format))


def apply_snapshot(current: NamespaceConfig | None, message: dict) -> tuple[NamespaceConfig, frozenset[str]]:
    """A ``snapshot`` or ``resync``: the message's config replaces ``current``."""
    new = NamespaceConfig.from_json(message)
    return new, _changed_names(current.items if current else {}, new.items)


def apply_change(current: NamespaceConfig | None, message: dict) -> tuple[NamespaceConfig, frozenset[str]] | None:
    """A ``change`` on top of ``current``; None if it is at or below the
    current revision (applied already). Raises ``ProtocolError`` when there
    is nothing to apply it to."""
    ns = message.get("namespace")
    revision = _revision(message, f"change of {ns!r}")
    if current is None:
        raise ProtocolError(f"a change of {ns!r} at revision {revision} came before any snapshot")
    if revision <= current.revision:
        return None
    changed = message.get("items") or {}
    deleted = message.get("deleted") or []
    if not isinstance(changed, dict) or not isinstance(deleted, list):
        raise ProtocolError(f"change of {ns!r} at {revision}: items must be an object and deleted a list")
    items = dict(current.items)
    for name in deleted:
        items.pop(name, None)
    for name, body in changed.items():
        items[name] = Item.from_json(name, body)
    new = NamespaceConfig(current.namespace, revision, int(message.get("release") or current.release), items)
    # What the server says changed, even if a republish left a content as it
    # was: each change reaches the callbacks once.
    return new, frozenset(changed) | frozenset(name for name in deleted if name in current.items)


def apply_progress(current: NamespaceConfig, revision: int) -> NamespaceConfig:
    """A ``progress`` bookmark: nothing changed up to ``revision``; the
    content is now confirmed by a member."""
    if revision <= current.revision and current.source == SERVER:
        return current
    return replace(current, revision=max(revision, current.revision), source=SERVER)
