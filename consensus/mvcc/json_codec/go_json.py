"""JSON as Go's ``encoding/json`` reads it, where Python's ``json`` differs.

The gateway decodes request bodies with Go; to refuse the same bodies with
the same words, a number with a fraction or exponent is kept as written
(``RawNumber``: Go quotes the literal in its error message) and errors are
worded as Go words them. Status and code are exact; the wording of *syntax*
errors only approximates Go's.
"""
from __future__ import annotations

import json
from typing import Any

from consensus.mvcc.json_codec.errors import RequestDecodeError


class RawNumber(str):
    """A JSON number with a fraction or exponent, kept as written (Go quotes
    the literal in its error message). Pass as ``parse_float`` to
    ``json.JSONDecoder``."""


def json_kind(value: Any) -> str:
    """Go's ``encoding/json`` name for the JSON type of ``value``."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, RawNumber)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def type_error(value: Any, go_type: str) -> RequestDecodeError:
    """Go's error for a JSON ``value`` that does not fit ``go_type``."""
    return RequestDecodeError(f"json: cannot unmarshal {json_kind(value)} into Go value of type {go_type}")


def syntax_error(text: str, error: json.JSONDecodeError) -> RequestDecodeError:
    """Go's error for ``text`` that is not JSON, from Python's ``error``."""
    # Go's messages name the offending character; this is close, not exact.
    if error.pos >= len(text):
        return RequestDecodeError("unexpected end of JSON input")
    char = text[error.pos]
    where = "looking for beginning of value"
    if error.msg.startswith("Expecting property name"):
        where = "looking for beginning of object key string"
    elif error.msg.startswith("Extra data"):
        where = "after top-level value"
    elif error.msg.startswith("Expecting ',' delimiter"):
        where = "after object key:value pair" if "{" in text else "after array element"
    return RequestDecodeError(f"invalid character {char!r} {where}")


def body_syntax_error(text: str, error: json.JSONDecodeError) -> RequestDecodeError:
    """Go's error for a request *body* that is not JSON. The gateway reads a
    body with a ``json.Decoder``, which reports a value cut short by the end
    of the body as "unexpected EOF" (``syntax_error`` words it as
    ``json.Unmarshal`` does, right for a quoted number's contents)."""
    rest = text[error.pos:]
    if not rest or rest == "-" or error.msg.startswith("Unterminated string") or any(
        word.startswith(rest) for word in ("true", "false", "null")
    ):
        return RequestDecodeError("unexpected EOF")
    return syntax_error(text, error)
