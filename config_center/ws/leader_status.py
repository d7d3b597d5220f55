"""Whether this member follows a leader, told to every live connection the
moment it changes.

A member cut off from the quorum keeps serving its subscriptions from what
it has applied, which may be behind the cluster. Its followers' election
timers notice the missing leader within an election timeout (and a leader
steps down after one, by check-quorum); this monitor looks every
``interval`` seconds and tells its listeners at once, so an application
learns it within the election timeout plus ``interval``, not at its next
heartbeat. One monitor per process, whatever the number of connections.
"""
from __future__ import annotations

import asyncio
import logging
from typing import Callable

logger = logging.getLogger(__name__)

CHECK_INTERVAL = 0.1


class LeaderStatus:
    def __init__(self, leader_known: Callable[[], bool], interval: float = CHECK_INTERVAL) -> None:
        self._leader_known = leader_known
        self.interval = interval
        self.known = True
        self._listeners: set[Callable[[bool], None]] = set()
        self._task: asyncio.Task | None = None

    def add(self, listener: Callable[[bool], None]) -> None:
        """Call ``listener(known)`` on every change, on the loop, until removed."""
        self._listeners.add(listener)
        if self._task is None or self._task.done():
            self.known = self._check()
            self._task = asyncio.get_running_loop().create_task(self._run(), name="leader-status")

    def remove(self, listener: Callable[[bool], None]) -> None:
        self._listeners.discard(listener)

    def _check(self) -> bool:
        try:
            return self._leader_known()
        except Exception:  # the member is stopping or not started
            return False

    async def _run(self) -> None:
        while self._listeners:
            await asyncio.sleep(self.interval)
            known = self._check()
            if known != self.known:
                self.known = known
                logger.info("live connections: this member %s a leader", "follows" if known else "has lost its")
                for listener in list(self._listeners):
                    listener(known)
        self._task = None
