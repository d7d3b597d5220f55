"""Typed reads of the live config, shared by the sync and asyncio clients.

Every read takes one ``NamespaceConfig`` (immutable) and answers from it, so
one call never mixes two revisions. To read several items of one revision,
take ``config(namespace)`` once and read its ``items``.

- ``get(ns, item)``: the item's content, as text.
- ``get_json`` / ``get_yaml`` / ``get_properties(ns, item)``: the content
  parsed as that format, whatever format the item declares; a new object
  each call, the caller's to keep or change.
- ``get_value(ns, item, path)``: the item parsed by its own format, then
  the value at ``path``; a copy.
- ``get_str`` / ``get_int`` / ``get_float`` / ``get_bool(ns, item, path)``:
  the same, converted; the parse is done once per item revision.

A ``path`` is ``"a.b.0.c"`` (dict keys and list indexes, split on dots) or
a sequence of keys used as given. Where a dict holds the remaining dotted
path as one key (``properties``: ``db.pool.size=5``), that key wins, so
``get_int(ns, "app.properties", "db.pool.size")`` works on flat files.

``default``: returned when the namespace, item or path is absent or the
value is null; without it those raise ``ItemNotFound``. A value that is
present but does not parse or convert raises ``ConfigValueError`` even
with a default: a broken config should be seen, not papered over.

Conversions: ``get_str`` takes strings, and ints and floats as their text;
``get_int`` ints and decimal strings; ``get_float`` numbers and numeric
strings; ``get_bool`` booleans, 0/1 and the strings true/false, yes/no,
on/off, 1/0 in any case. Booleans are never numbers here.
"""
from __future__ import annotations

import copy
from typing import Any, Callable, Sequence

from .errors import ConfigValueError, ItemNotFound
from .formats import parse_content, parse_properties
from .namespace_config import Item, NamespaceConfig

MISSING: Any = object()

KeyPath = str | Sequence[str | int] | None

_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class _Absent(Exception):
    """The path leads nowhere (internal)."""


def _keys(path: KeyPath) -> tuple[list, bool]:
    if path is None or path == "":
        return [], False
    if isinstance(path, str):
        return path.split("."), True
    return list(path), False


def lookup(value: Any, path: KeyPath) -> Any:
    """The value at ``path`` inside ``value`` (module docstring); raises
    ``KeyError`` when it is not there."""
    keys, dotted = _keys(path)
    try:
        return _walk(value, keys, dotted)
    except _Absent:
        raise KeyError(path) from None


def _walk(value: Any, keys: list, dotted: bool) -> Any:
    if not keys:
        return value
    head = keys[0]
    if isinstance(value, dict):
        if dotted and len(keys) > 1:
            joined = ".".join(keys)
            if joined in value:
                return value[joined]
        if head in value:
            return _walk(value[head], keys[1:], dotted)
        # YAML keys may be numbers: "ports.8080" should find {8080: ...}.
        if isinstance(head, str) and head.lstrip("-").isdigit() and int(head) in value:
            return _walk(value[int(head)], keys[1:], dotted)
        raise _Absent
    if isinstance(value, list):
        try:
            index = int(head)
        except (TypeError, ValueError):
            raise _Absent from None
        if not -len(value) <= index < len(value):
            raise _Absent
        return _walk(value[index], keys[1:], dotted)
    raise _Absent


def to_str(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    raise ConfigValueError(f"expected a string, got {type(value).__name__} {value!r:.80}")


def to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        try:
            return int(value.strip(), 10)
        except ValueError:
            pass
    raise ConfigValueError(f"expected an integer, got {type(value).__name__} {value!r:.80}")


def to_float(value: Any) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value.strip())
        except ValueError:
            pass
    raise ConfigValueError(f"expected a number, got {type(value).__name__} {value!r:.80}")


def to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
    raise ConfigValueError(f"expected a boolean, got {type(value).__name__} {value!r:.80}")


class ConfigReader:
    """Typed reads (module docstring) over ``config(namespace)``, which a
    client implements. Safe to call from any thread."""

    def config(self, namespace: str) -> NamespaceConfig | None:
        """The namespace's current config (one revision, immutable), or None
        while the client has none."""
        raise NotImplementedError

    def revision(self, namespace: str) -> int | None:
        """The store revision the client has the namespace up to."""
        config = self.config(namespace)
        return config.revision if config is not None else None

    def _item(self, namespace: str, item: str) -> Item | None:
        config = self.config(namespace)
        return config.items.get(item) if config is not None else None

    def get(self, namespace: str, item: str, default: Any = MISSING) -> str:
        """The content of ``item`` as text."""
        found = self._item(namespace, item)
        if found is None:
            return _absent(namespace, item, None, default)
        return found.content

    def _parse_as(self, namespace: str, item: str, default: Any, parse: Callable[[str], Any]) -> Any:
        found = self._item(namespace, item)
        if found is None:
            return _absent(namespace, item, None, default)
        try:
            return parse(found.content)
        except ConfigValueError as error:
            raise ConfigValueError(f"{namespace}/{item}: {error}") from None

    def get_json(self, namespace: str, item: str, default: Any = MISSING) -> Any:
        """The content parsed as JSON (a new object each call)."""
        return self._parse_as(namespace, item, default, lambda text: parse_content("json", text))

    def get_yaml(self, namespace: str, item: str, default: Any = MISSING) -> Any:
        """The content parsed with ``yaml.safe_load`` (needs PyYAML)."""
        return self._parse_as(namespace, item, default, lambda text: parse_content("yaml", text))

    def get_properties(self, namespace: str, item: str, default: Any = MISSING) -> dict[str, str]:
        """The content parsed as properties (``formats`` documents the subset)."""
        return self._parse_as(namespace, item, default, parse_properties)

    def _parsed(self, namespace: str, found: Item) -> Any:
        # Parsed once per item revision: the Item is immutable and replaced
        # by a new one when its content changes. Two threads may both parse
        # it the first time; they store equal results.
        if "value" not in found.parsed:
            try:
                found.parsed["value"] = parse_content(found.format, found.content)
            except ConfigValueError as error:
                raise ConfigValueError(f"{namespace}/{found.name}: {error}") from None
        return found.parsed["value"]

    def _at(self, namespace: str, item: str, path: KeyPath) -> Any:
        found = self._item(namespace, item)
        if found is None:
            raise _Absent
        value = _walk(self._parsed(namespace, found), *_keys(path))
        if value is None:
            raise _Absent
        return value

    def get_value(self, namespace: str, item: str, path: KeyPath = None, default: Any = MISSING) -> Any:
        """The value at ``path`` in the item parsed by its own format (a copy)."""
        try:
            return copy.deepcopy(self._at(namespace, item, path))
        except _Absent:
            return _absent(namespace, item, path, default)

    def _typed(self, namespace: str, item: str, path: KeyPath, default: Any, convert: Callable[[Any], Any]) -> Any:
        try:
            value = self._at(namespace, item, path)
        except _Absent:
            return _absent(namespace, item, path, default)
        try:
            return convert(value)
        except ConfigValueError as error:
            where = f"{namespace}/{item}" + (f" at {path!r}" if path not in (None, "") else "")
            raise ConfigValueError(f"{where}: {error}") from None

    def get_str(self, namespace: str, item: str, path: KeyPath = None, default: Any = MISSING) -> str:
        return self._typed(namespace, item, path, default, to_str)

    def get_int(self, namespace: str, item: str, path: KeyPath = None, default: Any = MISSING) -> int:
        return self._typed(namespace, item, path, default, to_int)

    def get_float(self, namespace: str, item: str, path: KeyPath = None, default: Any = MISSING) -> float:
        return self._typed(namespace, item, path, default, to_float)

    def get_bool(self, namespace: str, item: str, path: KeyPath = None, default: Any = MISSING) -> bool:
        return self._typed(namespace, item, path, default, to_bool)


def _absent(namespace: str, item: str, path: KeyPath, default: Any) -> Any:
    if default is not MISSING:
        return default
    where = f"item {item!r} of namespace {namespace!r}"
    if path not in (None, ""):
        where = f"{path!r} in {where}"
    raise ItemNotFound(f"{where} is not in the config; pass default= to read it as optional, "
                       "or check the name (and that the client was started)")


__all__ = ["ConfigReader", "MISSING", "lookup", "to_bool", "to_float", "to_int", "to_str"]
