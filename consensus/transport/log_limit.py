"""Rate-limited logging for events a peer can repeat at will (a removed member
that keeps sending, a refused handshake every backoff period)."""
from __future__ import annotations

import logging
import time
from typing import Callable, Hashable


class RateLimitedLog:
    """Logs a given ``key`` at most once per ``interval`` seconds; the next
    line that gets through says how many were suppressed in between."""

    def __init__(self, logger: logging.Logger, interval: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def log(self, level: int, key: Hashable, msg: str, *args: object) -> bool:
        """Log unless ``key`` was logged less than ``interval`` ago. Returns
        whether the line was written."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._interval:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        if len(self._last) > 4096:  # keys come from the network: keep the map bounded
            self._last.clear()
            self._suppressed.clear()
        self._last[key] = now
        suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            msg += " (%d similar suppressed)"
            args = (*args, suppressed)
        self._logger.log(level, msg, *args)
        return True
