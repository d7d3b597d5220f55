"""Comparing two versions of an item: a unified text diff of what was
written, and a structural diff of what it means.

The structural diff works on parsed data, so it is the same for JSON, YAML
and properties: every key path that was added, removed or changed, with its
old and new value. Reordering keys or reformatting a file changes the text
diff and not the structural one, which is the question an operator
reviewing a publish usually has. Lists are compared position by position.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from .paths import ROOT, child

ADDED = "added"
REMOVED = "removed"
CHANGED = "changed"


@dataclass(frozen=True)
class Change:
    op: str
    path: str
    old: Any = None
    new: Any = None

    def as_dict(self) -> dict:
        out: dict[str, Any] = {"op": self.op, "path": self.path}
        if self.op != ADDED:
            out["old"] = self.old
        if self.op != REMOVED:
            out["new"] = self.new
        return out


def unified(old: str, new: str, old_label: str = "old", new_label: str = "new", context: int = 3) -> str:
    """A unified diff of two texts ("" when they are equal)."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label, n=context,
    )
    out = []
    for line in lines:
        out.append(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n")
    return "".join(out)


def structural(old: Any, new: Any) -> list[Change]:
    """Every path whose value differs between ``old`` and ``new``, in
    document order (``None`` is a value like any other)."""
    changes: list[Change] = []
    _walk(ROOT, old, new, changes)
    return changes


def _walk(path: str, old: Any, new: Any, out: list[Change]) -> None:
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old:
            if key in new:
                _walk(child(path, key), old[key], new[key], out)
            else:
                out.append(Change(REMOVED, child(path, key), old=old[key]))
        for key in new:
            if key not in old:
                out.append(Change(ADDED, child(path, key), new=new[key]))
        return
    if isinstance(old, list) and isinstance(new, list):
        for i in range(max(len(old), len(new))):
            if i >= len(new):
                out.append(Change(REMOVED, child(path, i), old=old[i]))
            elif i >= len(old):
                out.append(Change(ADDED, child(path, i), new=new[i]))
            else:
                _walk(child(path, i), old[i], new[i], out)
        return
    if type(old) is not type(new) or old != new:
        out.append(Change(CHANGED, path, old=old, new=new))
