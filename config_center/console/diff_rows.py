"""A unified diff laid out side by side: the rows of a two-column table,
old text on the left and new on the right, changed lines paired up."""
from __future__ import annotations

import re
from dataclasses import dataclass

HUNK = re.compile(r"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


@dataclass(frozen=True)
class Row:
    kind: str  # "same", "change" (either side may be empty), or "hunk"
    old_number: int | None = None
    old_text: str | None = None
    new_number: int | None = None
    new_text: str | None = None


def side_by_side(unified: str) -> list[Row]:
    """Rows for ``unified`` (``content.diff.unified``'s output). Removed and
    added lines of one run are paired in order, the longer side's extra
    lines facing blanks, as a reviewer reads a replacement."""
    rows: list[Row] = []
    removed: list[tuple[int, str]] = []
    added: list[tuple[int, str]] = []
    old_no = new_no = 0

    def flush() -> None:
        for i in range(max(len(removed), len(added))):
            old = removed[i] if i < len(removed) else (None, None)
            new = added[i] if i < len(added) else (None, None)
            rows.append(Row("change", old[0], old[1], new[0], new[1]))
        removed.clear()
        added.clear()

    for line in unified.splitlines():
        if line.startswith(("--- ", "+++ ")):
            continue
        hunk = HUNK.match(line)
        if hunk:
            flush()
            old_no, new_no = int(hunk.group(1)), int(hunk.group(2))
            # "-0,0" means the old side has no lines: numbering starts at 1.
            old_no, new_no = max(old_no, 1), max(new_no, 1)
            rows.append(Row("hunk", old_text=line, new_text=line))
        elif line.startswith("-"):
            removed.append((old_no, line[1:]))
            old_no += 1
        elif line.startswith("+"):
            added.append((new_no, line[1:]))
            new_no += 1
        elif line.startswith(" "):
            flush()
            rows.append(Row("same", old_no, line[1:], new_no, line[1:]))
            old_no += 1
            new_no += 1
        # "\ No newline at end of file" and blank separators carry no line.
    flush()
    return rows
