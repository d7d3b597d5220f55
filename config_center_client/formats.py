"""Item content in its format, parsed: ``json`` with ``json``, ``yaml`` with
PyYAML's ``safe_load`` (imported only when a yaml item is parsed, so the SDK
does not need PyYAML otherwise), ``properties`` with the subset below, and
``text`` as is.

Properties subset (Java's ``.properties``, without its ``key value``
whitespace separator):

- one ``key=value`` or ``key:value`` per logical line; the first unescaped
  ``=`` or ``:`` separates; whitespace around key and value is dropped; a
  line with no separator is a key with the empty value;
- blank lines and lines whose first non-blank character is ``#`` or ``!``
  are comments (only at the start of a line: ``a=b # c`` has value
  ``b # c``);
- a line ending in an odd number of backslashes continues on the next line,
  whose leading whitespace is dropped;
- escapes ``\\t \\n \\r \\f \\\\ \\= \\: \\# \\! \\<space>`` and ``\\uXXXX``;
  any other ``\\x`` is ``x``;
- a key given twice keeps its last value.

The result is a flat ``dict[str, str]``: keys with dots are not nested.
"""
from __future__ import annotations

import json
from typing import Any

from .errors import ConfigValueError

FORMATS = ("json", "yaml", "properties", "text")

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}


def parse_content(fmt: str, content: str) -> Any:
    """``content`` parsed according to ``fmt`` (module docstring). Raises
    ``ConfigValueError`` when it does not parse or the format is unknown."""
    if fmt == "text":
        return content
    if fmt == "json":
        try:
            return json.loads(content)
        except ValueError as error:
            raise ConfigValueError(f"not valid JSON: {error}") from None
    if fmt == "yaml":
        import yaml  # lazily: only applications with yaml items need PyYAML

        try:
            return yaml.safe_load(content)
        except yaml.YAMLError as error:
            raise ConfigValueError(f"not valid YAML: {error}") from None
    if fmt == "properties":
        return parse_properties(content)
    raise ConfigValueError(f"unknown item format {fmt!r}; expected one of {', '.join(FORMATS)}")


def _logical_lines(text: str):
    """Physical lines joined where a line ends in an odd run of backslashes."""
    pending = None
    for raw in text.splitlines():
        line = raw.lstrip() if pending is not None else raw
        if pending is None and (not line.strip() or line.lstrip()[0] in "#!"):
            continue
        trailing = len(line) - len(line.rstrip("\\"))
        if trailing % 2 == 1:
            pending = (pending or "") + line[:-1]
            continue
        yield (pending or "") + line
        pending = None
    if pending is not None:
        yield pending


def _separator(line: str) -> int:
    """Index of the first ``=`` or ``:`` not escaped by a backslash, or
    ``len(line)``."""
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] in "=:":
            return i
        i += 1
    return len(line)


def _strip(raw: str) -> str:
    """``raw`` without surrounding whitespace, except an escaped last space."""
    text = raw.lstrip()
    stripped = text.rstrip()
    if len(stripped) < len(text):
        backslashes = len(stripped) - len(stripped.rstrip("\\"))
        if backslashes % 2 == 1:
            stripped = text[:len(stripped) + 1]
    return stripped


def _unescape(text: str) -> str:
    out = []
    i = 0
    while i < len(text):
        char = text[i]
        if char != "\\" or i + 1 == len(text):
            out.append(char)
            i += 1
            continue
        escaped = text[i + 1]
        if escaped == "u":
            digits = text[i + 2:i + 6]
            if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
                raise ConfigValueError(f"bad \\u escape in properties text {text!r}: expected 4 hex digits")
            out.append(chr(int(digits, 16)))
            i += 6
            continue
        out.append(_ESCAPES.get(escaped, escaped))
        i += 2
    return "".join(out)


def parse_properties(text: str) -> dict[str, str]:
    """``text`` as flat properties (the subset in the module docstring).
    Raises ``ConfigValueError`` for a malformed ``\\u`` escape."""
    result: dict[str, str] = {}
    for line in _logical_lines(text):
        end = _separator(line)
        result[_unescape(_strip(line[:end]))] = _unescape(_strip(line[end + 1:]))
    return result
