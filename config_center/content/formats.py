"""The formats an item's content can have, and parsing each into data.

``json``, ``yaml`` and ``properties`` content is parsed on every save so a
broken file is refused before anyone can publish it; the parsed data is
what a namespace's JSON Schema checks and what a structural diff compares.
``text`` is stored as written and has no structure.

Errors name the line and column (both from 1) where the parser gave up, so
an operator can find the typo in a 2,000-line file.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import yaml

JSON = "json"
YAML = "yaml"
PROPERTIES = "properties"
TEXT = "text"
FORMATS = (JSON, YAML, PROPERTIES, TEXT)
STRUCTURED = (JSON, YAML, PROPERTIES)


class ContentError(ValueError):
    """Content that does not parse in its format."""

    def __init__(self, format: str, message: str, line: int | None = None, column: int | None = None) -> None:
        where = f" at line {line}, column {column}" if line is not None else ""
        super().__init__(f"invalid {format}{where}: {message}")
        self.format = format
        self.reason = message
        self.line = line
        self.column = column

    def as_dict(self) -> dict:
        return {"format": self.format, "message": self.reason, "line": self.line, "column": self.column}


def check_format(format: str) -> str:
    if format not in FORMATS:
        raise ValueError(f"unknown format {format!r}; expected one of {', '.join(FORMATS)}")
    return format


def parse(format: str, text: str) -> Any:
    """The data ``text`` holds in ``format`` (``text`` itself for TEXT).
    Raises ``ContentError``."""
    check_format(format)
    if format == JSON:
        return _parse_json(text)
    if format == YAML:
        return _parse_yaml(text)
    if format == PROPERTIES:
        return parse_properties(text)
    return text


def _parse_json(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise ContentError(JSON, error.msg, error.lineno, error.colno) from None


# libyaml's parser when PyYAML was built with it (the wheels are): the same
# safe subset as yaml.safe_load, about ten times faster.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_YAML_LOADER)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        message = " ".join(part for part in (error.context, error.problem) if part) or str(error)
        if mark is None:
            raise ContentError(YAML, message) from None
        raise ContentError(YAML, message, mark.line + 1, mark.column + 1) from None
    except yaml.YAMLError as error:  # e.g. a reader error on a control character
        raise ContentError(YAML, str(error)) from None


# -- .properties ------------------------------------------------------------------------------
# Java's java.util.Properties.load rules: '#' or '!' starts a comment line; a
# line ending in an odd number of backslashes continues on the next (whose
# leading blanks are dropped); the key ends at the first unescaped '=', ':'
# or blank; escapes \t \n \r \f \uXXXX, and a backslash before any other
# character stands for that character. A key given twice keeps the last
# value, as Java does.

_ESCAPES = {"t": "\t", "n": "\n", "r": "\r", "f": "\f"}
_BLANKS = " \t\f"


def parse_properties(text: str) -> dict[str, str]:
    result: dict[str, str] = {}
    for line_no, column0, logical in _logical_lines(text):
        key_chars: list[str] = []
        i = 0
        n = len(logical)
        while i < n:
            ch = logical[i]
            if ch == "\\":
                decoded, i = _unescape_at(logical, i, line_no, column0)
                key_chars.append(decoded)
                continue
            if ch in "=:" or ch in _BLANKS:
                break
            key_chars.append(ch)
            i += 1
        # The separator: blanks, then at most one '=' or ':', then blanks.
        while i < n and logical[i] in _BLANKS:
            i += 1
        if i < n and logical[i] in "=:":
            i += 1
            while i < n and logical[i] in _BLANKS:
                i += 1
        value_chars: list[str] = []
        while i < n:
            if logical[i] == "\\":
                decoded, i = _unescape_at(logical, i, line_no, column0)
                value_chars.append(decoded)
            else:
                value_chars.append(logical[i])
                i += 1
        result["".join(key_chars)] = "".join(value_chars)
    return result


def _logical_lines(text: str):
    """``(line, column offset, text)`` of each non-comment logical line; the
    column offset maps an index in the text back to its physical column
    (exact on the first physical line of a continued one)."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        start_line = i + 1
        raw = lines[i]
        stripped = raw.lstrip(_BLANKS)
        offset = len(raw) - len(stripped) + 1
        i += 1
        if not stripped or stripped[0] in "#!":
            continue
        parts = [stripped]
        while _continues(parts[-1]):
            parts[-1] = parts[-1][:-1]
            if i >= len(lines):
                break
            parts.append(lines[i].lstrip(_BLANKS))
            i += 1
        yield start_line, offset, "".join(parts)


def _continues(line: str) -> bool:
    trailing = len(line) - len(line.rstrip("\\"))
    return trailing % 2 == 1


def _unescape_at(logical: str, i: int, line_no: int, column0: int) -> tuple[str, int]:
    """The character the escape at ``logical[i]`` (a backslash) stands for,
    and the index after it."""
    if i + 1 >= len(logical):
        return "", i + 1
    code = logical[i + 1]
    if code == "u":
        digits = logical[i + 2:i + 6]
        if len(digits) != 4 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise ContentError(PROPERTIES, f"malformed \\uXXXX escape {logical[i:i + 6]!r}", line_no, column0 + i)
        return chr(int(digits, 16)), i + 6
    return _ESCAPES.get(code, code), i + 2
