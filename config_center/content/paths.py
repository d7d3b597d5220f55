"""One notation for a place inside parsed config data, shared by schema
violations and structural diffs: ``$`` is the whole document, ``.name`` a
mapping key that is a plain identifier, ``["odd key"]`` any other key, and
``[3]`` a list position. ``$.server.ports[0]`` reads as it would in most
JSONPath tools."""
from __future__ import annotations

import json
import re
from typing import Iterable

ROOT = "$"
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*\Z")


def child(path: str, step: str | int) -> str:
    """``path`` extended by one mapping key or list position."""
    if isinstance(step, int) and not isinstance(step, bool):
        return f"{path}[{step}]"
    step = str(step)
    if _PLAIN_KEY.match(step):
        return f"{path}.{step}"
    return f"{path}[{json.dumps(step, ensure_ascii=False)}]"


def join(steps: Iterable[str | int]) -> str:
    """The path of a sequence of keys and positions from the root."""
    path = ROOT
    for step in steps:
        path = child(path, step)
    return path
