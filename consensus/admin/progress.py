"""A tiny progress bar for long file transfers, drawn on stderr.

``ProgressBar(total, label=...)`` is shown only when it is worth it: the
stream is a terminal and ``total`` is at least ``MIN_BYTES`` (``enabled``
forces it on or off). ``update(n)`` adds ``n`` bytes and redraws at most
every ``MIN_INTERVAL`` seconds; ``close()`` draws the final state and ends
the line. A disabled bar does nothing, so callers need no conditionals.
"""
from __future__ import annotations

import sys
import time
from typing import TextIO

from .table import human_bytes

MIN_BYTES = 4 * 1024 * 1024
MIN_INTERVAL = 0.1
WIDTH = 30


class ProgressBar:
    def __init__(self, total: int | None, *, label: str, stream: TextIO | None = None,
                 enabled: bool | None = None, clock=time.monotonic) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.total = total
        self.label = label
        self.done = 0
        self._clock = clock
        self._last_draw = -MIN_INTERVAL
        if enabled is None:
            isatty = getattr(self.stream, "isatty", None)
            enabled = bool(isatty and isatty()) and (total is None or total >= MIN_BYTES)
        self.enabled = enabled
        self._closed = False

    def update(self, count: int) -> None:
        self.done += count
        if self.enabled and self._clock() - self._last_draw >= MIN_INTERVAL:
            self._draw()

    def set_total(self, total: int) -> None:
        self.total = total

    def _draw(self) -> None:
        self._last_draw = self._clock()
        if self.total:
            fraction = min(1.0, self.done / self.total)
            filled = int(fraction * WIDTH)
            bar = "#" * filled + "-" * (WIDTH - filled)
            text = f"\r{self.label} [{bar}] {fraction * 100:5.1f}% {human_bytes(self.done)} / {human_bytes(self.total)}"
        else:
            text = f"\r{self.label} {human_bytes(self.done)}"
        self.stream.write(text)
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and not self._closed:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
        self._closed = True

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
