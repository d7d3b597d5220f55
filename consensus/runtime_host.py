"""The node process: one asyncio event loop that runs daphne and the node's own tasks.

A node is one OS process. daphne serves the ASGI application (API, websockets,
console) on ``--listen-client``; beside it, on the same loop, run the "extra
tasks" the caller passes in — the Raft node with its peer listener, WAL and apply
loop. Sharing one loop means an applied entry can complete a request's future or
feed a websocket without crossing threads.

daphne is built on Twisted. Twisted's asyncio reactor drives a given asyncio
loop, but it has to be installed before anything imports
``twisted.internet.reactor``, and importing ``daphne.server`` does exactly that
(installing its own loop if none is installed yet). Django imports
``daphne.server`` while loading INSTALLED_APPS, so ``manage.py`` calls
:func:`install_reactor` before Django starts. :func:`run` then serves on that
loop.

Lifecycle of :func:`run`:

1. daphne binds ``--listen-client``. If it cannot, ``run`` returns 1 and no
   extra task is started.
2. Each extra task factory is called on the running loop and its coroutine is
   scheduled as a task.
3. SIGTERM or SIGINT, an extra task that raises, or an extra task that returns
   starts the shutdown: daphne stops accepting and cancels its application
   instances, every extra task still running is cancelled and awaited (at most
   ``shutdown_timeout`` seconds), then the loop stops and ``run`` returns the
   exit status: 0 for a clean stop, 1 if a task failed or did not stop in time.

This module imports no Django: the application is passed in.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from consensus.node_config import NodeConfig, NodeConfigError

logger = logging.getLogger(__name__)

#: Called once, on the running loop, to produce a coroutine that runs as a task
#: until it is cancelled. Use ``functools.partial`` to bind arguments.
TaskFactory = Callable[[], Coroutine[Any, Any, None]]

DEFAULT_SHUTDOWN_TIMEOUT = 10.0

EXIT_OK = 0
EXIT_FAILURE = 1

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def install_reactor() -> asyncio.AbstractEventLoop:
    """Create the process's event loop and install Twisted's asyncio reactor on it.

    Must be called before anything imports ``twisted.internet.reactor`` (in a
    Django process: before ``django.setup()``). Returns the loop the reactor
    drives, which is also set as the current loop of the calling thread.

    Idempotent: if an asyncio reactor is already installed (by an earlier call,
    or by ``daphne.server`` when this process did not start through
    ``manage.py``), returns that reactor's loop. Raises ``RuntimeError`` if a
    reactor of another kind is installed: daphne could not share a loop with it.
    """
    from twisted.internet import asyncioreactor

    installed = sys.modules.get("twisted.internet.reactor")
    if installed is None:
        loop = asyncio.new_event_loop()
        asyncioreactor.install(loop)
    elif isinstance(installed, asyncioreactor.AsyncioSelectorReactor):
        # The attribute daphne itself reads to find the reactor's loop.
        loop = installed._asyncioEventloop
    else:
        raise RuntimeError(
            f"a {type(installed).__name__} Twisted reactor is already installed; "
            "install_reactor() must run before twisted.internet.reactor is imported"
        )
    asyncio.set_event_loop(loop)
    return loop


def prepare_data_dir(config: NodeConfig) -> None:
    """Create ``config.data_dir`` (and its parents) if it does not exist.

    Raises :class:`NodeConfigError` for ``--data-dir`` when the path cannot be a
    directory. Locking the directory against a second node is the storage
    layer's job, not this function's.
    """
    try:
        config.data_dir.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise NodeConfigError(
            "--data-dir", f"{config.data_dir} exists and is not a directory"
        ) from None
    except OSError as error:
        raise NodeConfigError(
            "--data-dir", f"cannot create {config.data_dir}: {error.strerror}"
        ) from None


def run(
    config: NodeConfig,
    *,
    application: Any,
    extra_tasks: Sequence[TaskFactory] = (),
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> int:
    """Serve ``application`` on ``config.listen_client`` and run ``extra_tasks``
    beside it on one loop until a stop signal or a task ends; return the exit
    status (see the module docstring for the order of events).

    Calls :func:`install_reactor` itself, so it works (on daphne's loop) even if
    the caller did not. Must be called from the main thread, once per process:
    a Twisted reactor cannot be restarted.
    """
    loop = install_reactor()
    return _Host(config, application, tuple(extra_tasks), shutdown_timeout, loop).serve()


class _Host:
    """State of one :func:`run` call: the daphne server, the tasks, the exit status."""

    def __init__(
        self,
        config: NodeConfig,
        application: Any,
        extra_tasks: tuple[TaskFactory, ...],
        shutdown_timeout: float,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.config = config
        self.application = application
        self.extra_tasks = extra_tasks
        self.shutdown_timeout = shutdown_timeout
        self.loop = loop
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.exit_status = EXIT_OK
        self.server: Any = None

    def serve(self) -> int:
        # Imported here, after install_reactor(): both import the reactor.
        from daphne.endpoints import build_endpoint_description_strings
        from daphne.server import Server
        from twisted.internet import reactor

        address = self.config.listen_client
        self.server = Server(
            application=self.application,
            endpoints=build_endpoint_description_strings(host=address.host, port=address.port),
            # Our handlers, on the asyncio loop, so that a signal also stops the tasks.
            signal_handlers=False,
            ready_callable=self._on_listening,
        )
        for signum in _STOP_SIGNALS:
            self.loop.add_signal_handler(signum, self._on_signal, signum)
        reactor.addSystemEventTrigger("before", "shutdown", self._before_shutdown)
        try:
            self.server.run()  # returns once the reactor has stopped the loop
        finally:
            for signum in _STOP_SIGNALS:
                self.loop.remove_signal_handler(signum)
            self._close_loop()
        if not self.server.listening_addresses:
            logger.error(
                "could not listen on --listen-client %s (is another process using it?)", address
            )
            return EXIT_FAILURE
        logger.info("node %r stopped (exit status %d)", self.config.name, self.exit_status)
        return self.exit_status

    def _on_listening(self) -> None:
        """daphne's ready callback: the client socket is bound; the loop is about to run."""
        for host, port in self.server.listening_addresses:
            logger.info("node %r serving clients on %s:%s", self.config.name, host, port)
        self.loop.call_soon(self._start_tasks)

    def _start_tasks(self) -> None:
        if self.stopping:
            return
        for factory in self.extra_tasks:
            name = _describe(factory)
            try:
                coroutine = factory()
            except Exception:
                logger.exception("task factory %s failed; stopping the node", name)
                self.exit_status = EXIT_FAILURE
                self._request_stop()
                return
            task = self.loop.create_task(coroutine, name=name)
            task.add_done_callback(self._on_task_done)
            self.tasks.append(task)
            logger.info("started task %s", name)

    def _on_task_done(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            if not self.stopping:
                logger.warning("task %s was cancelled from outside; stopping", task.get_name())
                self._request_stop()
            return
        error = task.exception()
        if error is not None:
            logger.error("task %s failed; stopping the node", task.get_name(), exc_info=error)
            self.exit_status = EXIT_FAILURE
        elif not self.stopping:
            logger.info("task %s finished; stopping the node", task.get_name())
        self._request_stop()

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.stopping:
            logger.info("received %s while stopping; still stopping", name)
            return
        logger.info("received %s; stopping", name)
        self._request_stop()

    def _request_stop(self) -> None:
        if self.stopping:
            return
        self.stopping = True
        self.server.stop()

    def _before_shutdown(self) -> Any:
        """Twisted 'before shutdown' trigger: the reactor waits for the returned
        Deferred, so the loop keeps running until the tasks have unwound."""
        from twisted.internet import defer

        self.stopping = True
        return defer.Deferred.fromFuture(self.loop.create_task(self._cancel_tasks()))

    async def _cancel_tasks(self) -> None:
        pending = [task for task in self.tasks if not task.done()]
        for task in pending:
            task.cancel()
        if not pending:
            return
        _, still_running = await asyncio.wait(pending, timeout=self.shutdown_timeout)
        if still_running:
            logger.error(
                "tasks did not stop within %.1f s of being cancelled: %s",
                self.shutdown_timeout,
                ", ".join(sorted(task.get_name() for task in still_running)),
            )
            self.exit_status = EXIT_FAILURE

    def _close_loop(self) -> None:
        self.stopping = True
        stuck = [task for task in self.tasks if not task.done()]
        if stuck:
            # Already reported by _cancel_tasks; they are abandoned with the loop.
            self.exit_status = EXIT_FAILURE
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


def _describe(factory: TaskFactory) -> str:
    """A readable task name for logs: the coroutine function's qualified name."""
    target: Any = factory
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or repr(target)
    return f"{module}.{qualname}" if module else qualname
