"""Running a coroutine at once, in the caller, until it first has to wait.

Python 3.12 has this built in (``asyncio.eager_task_factory``); this
project runs on 3.11 (README, "Python and Django versions"). It matters for
live delivery: sending one message to a websocket that can take it never
waits (uvicorn frames it and writes it to the transport), so a change can
be written to thousands of sockets in one pass instead of waking one task
per socket, which on this machine cost more than the send itself.

``run_eagerly(coro)`` drives ``coro`` until it returns or suspends. If it
returned, that is all (``None``). If it suspended on a future, a task takes
over from exactly there and is returned: the coroutine sees no difference,
because a task resumes a coroutine by sending ``None`` once the future it
yielded is done, which is what the task made here does.
"""
from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


class _Rest:
    """The rest of a coroutine that has yielded ``waiting_on``, as an
    awaitable a task can run."""

    __slots__ = ("coro", "waiting_on")

    def __init__(self, coro: Coroutine, waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, Any]:
        try:
            yield self.waiting_on
        except BaseException:
            # Cancelled (or failed) before the coroutine could resume: it
            # never runs again, and is closed so it does not warn.
            self.coro.close()
            raise
        # The future is done: resume the coroutine as a task would, and
        # from here on delegate to it (throws and cancellations included).
        return (yield from self.coro.__await__())


def run_eagerly(coro: Coroutine) -> asyncio.Task | None:
    """Run ``coro`` until it finishes (None) or first waits (the task that
    finishes it). Its exception, if it raises before waiting, propagates
    here."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_Rest(coro, waiting_on))
