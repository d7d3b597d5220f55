"""What a namespace and an item may be called.

A namespace is a path of 1 to 8 segments, e.g. ``payments/prod`` or
``payments/prod/eu-west``: each segment starts with a lower-case letter or
digit and continues with lower-case letters, digits, ``.``, ``_`` or ``-``.
An item name is one such segment, upper case allowed (``application.yaml``,
``DB_POOL``). Names are at most 200 characters. These rules keep names
usable in URLs and store keys (``//`` can never occur in either)."""
from __future__ import annotations

import re

from .errors import InvalidError

MAX_NAME = 200
MAX_SEGMENTS = 8
_SEGMENT = re.compile(r"[a-z0-9][a-z0-9._-]*\Z")
_ITEM = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*\Z")


def check_namespace(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidError("a namespace name is required")
    if len(name) > MAX_NAME:
        raise InvalidError(f"namespace name is longer than {MAX_NAME} characters")
    segments = name.split("/")
    if len(segments) > MAX_SEGMENTS:
        raise InvalidError(f"namespace {name!r} has more than {MAX_SEGMENTS} segments")
    for segment in segments:
        if not _SEGMENT.match(segment) or segment in (".", ".."):
            raise InvalidError(
                f"namespace {name!r}: each '/'-separated segment must start with a lower-case letter or digit "
                "and contain only lower-case letters, digits, '.', '_' and '-'"
            )
    return name


def check_item(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise InvalidError("an item name is required")
    if len(name) > MAX_NAME:
        raise InvalidError(f"item name is longer than {MAX_NAME} characters")
    if not _ITEM.match(name):
        raise InvalidError(
            f"item name {name!r} must start with a letter or digit and contain only letters, digits, '.', '_' and '-'"
        )
    return name
