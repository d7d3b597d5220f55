"""The node process: one asyncio event loop that serves HTTP and websockets and
runs the node's own tasks.

A node is one OS process. uvicorn serves the ASGI application (store API,
REST API, websockets, console) on ``--listen-client``; beside it, on the same
loop, run the "extra tasks" the caller passes in — the Raft node with its
peer listener, WAL and apply loop. Sharing one loop means an applied entry
can complete a request's future or feed a websocket without crossing threads.

Why uvicorn and not daphne: the server's own HTTP handling is on the path of
every store request. On this 2-core machine a bare ASGI app answered about
4,200 POSTs/s under daphne (Twisted's HTTP parsing and request objects) and
about 15,900 under uvicorn (httptools, a C parser, on plain asyncio), and
daphne's share was the largest single cost of a put through the gateway.
uvicorn also runs on a plain asyncio loop we create, with no reactor to
install before Django starts.

The loop is uvloop's (libuv under asyncio's API): sockets, callbacks and
timers cost less per event, which is what a small request mostly is. Through
the store API it took the node's CPU per put from about 345 to 300 µs at 16
clients and from 212-249 to 205 µs at 64 (same machine, fresh data dirs,
alternating runs). Responses leave in one write per loop turn
(``http_protocol``).

Lifecycle of :func:`run`:

1. The client socket is bound to ``--listen-client``. If it cannot be, ``run``
   returns 1 and no extra task is started.
2. uvicorn starts serving on it; each extra task factory is then called on the
   running loop and its coroutine is scheduled as a task.
3. SIGTERM or SIGINT, an extra task that raises, or an extra task that returns
   starts the shutdown: uvicorn stops accepting, asks open connections to
   close and gives in-flight requests up to ``shutdown_timeout`` seconds
   (streams are cancelled after that), then every extra task still running
   is cancelled and awaited (again at most ``shutdown_timeout`` seconds), the
   loop closes and ``run`` returns the exit status: 0 for a clean stop, 1 if a
   task failed or did not stop in time.

This module imports no Django: the application is passed in.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import resource
import signal
import socket
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import uvloop

from consensus.http_protocol import CoalescingHttpToolsProtocol
from consensus.node_config import NodeConfig, NodeConfigError
from consensus.websocket_protocol import MAX_CLIENT_MESSAGE_BYTES, FrameWritingWebSocketProtocol

logger = logging.getLogger(__name__)

#: Called once, on the running loop, to produce a coroutine that runs as a task
#: until it is cancelled. Use ``functools.partial`` to bind arguments.
TaskFactory = Callable[[], Coroutine[Any, Any, None]]

DEFAULT_SHUTDOWN_TIMEOUT = 10.0
# Streams (watches, keep-alives) never finish by themselves: after this long
# they are cancelled so that a stop is not held up by an idle watcher.
GRACEFUL_HTTP_SHUTDOWN = 2.0

EXIT_OK = 0
EXIT_FAILURE = 1

_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)

_loop: asyncio.AbstractEventLoop | None = None


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's event loop, created on first use and set as the current
    loop of the calling thread. ``runnode`` does work on it (member discovery)
    before :func:`run` serves on it."""
    global _loop
    if _loop is None or _loop.is_closed():
        _loop = uvloop.new_event_loop()
        asyncio.set_event_loop(_loop)
    return _loop


def raise_open_file_limit() -> int:
    """Raise this process's soft limit on open files to its hard limit, as
    servers do (etcd's service unit asks for 40,000): each client socket is
    a file, and the node's bound on websockets is sized from the limit
    (``websocket_protocol.default_max_open``). Returns the limit now."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (ValueError, OSError) as error:  # a hard limit the kernel will not grant
            logger.info("open-file limit left at %d: %s", soft, error)
    return soft


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
    before_stop: Sequence[Callable[[], Coroutine[Any, Any, Any]]] = (),
    shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
) -> int:
    """Serve ``application`` on ``config.listen_client`` and run ``extra_tasks``
    beside it on one loop until a stop signal or a task ends; return the exit
    status (see the module docstring for the order of events). On a stop
    signal each of ``before_stop`` is awaited first, in order, while
    everything still serves (handing over leadership), each bounded by
    ``shutdown_timeout``. Must be called from the main thread (signal
    handlers)."""
    address = config.listen_client
    try:
        sock = _listen(address.host, address.port)
    except OSError as error:
        logger.error("could not listen on --listen-client %s (%s; is another process using it?)", address, error.strerror)
        return EXIT_FAILURE
    loop = event_loop()
    host = _Host(config, application, tuple(extra_tasks), shutdown_timeout, loop, sock, tuple(before_stop))
    try:
        return loop.run_until_complete(host.serve())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def _listen(host: str, port: int) -> socket.socket:
    """A listening TCP socket. Made with protocol IPPROTO_TCP explicitly:
    asyncio turns Nagle's algorithm off only on sockets that say so, and
    with it on, a response written as headers then body waits for the
    client's delayed ACK (about 40 ms a request)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except BaseException:
        sock.close()
        raise
    return sock


class _Host:
    """State of one :func:`run` call: the HTTP server, the tasks, the exit status."""

    def __init__(
        self,
        config: NodeConfig,
        application: Any,
        extra_tasks: tuple[TaskFactory, ...],
        shutdown_timeout: float,
        loop: asyncio.AbstractEventLoop,
        sock: socket.socket,
        before_stop: tuple[Callable[[], Coroutine[Any, Any, Any]], ...] = (),
    ) -> None:
        self.config = config
        self.before_stop = before_stop
        self.application = application
        self.extra_tasks = extra_tasks
        self.shutdown_timeout = shutdown_timeout
        self.loop = loop
        self.sock = sock
        self.tasks: list[asyncio.Task[None]] = []
        self.stopping = False
        self.stopped = asyncio.Event()
        self.exit_status = EXIT_OK

    async def serve(self) -> int:
        import uvicorn

        server = uvicorn.Server(uvicorn.Config(
            self.application,
            lifespan="off",
            http=CoalescingHttpToolsProtocol,
            ws=FrameWritingWebSocketProtocol,
            # No permessage-deflate: a change fanned out to thousands of sockets
            # would be compressed once per socket, each with its own zlib context.
            # Measured with 10,000 subscribers asking for it (as the websockets
            # library does by default): p99 517 ms instead of 301, and 83 KiB of
            # memory per idle subscriber instead of 39 (bench/README.md).
            ws_per_message_deflate=False,
            # Clients send small messages only; uvicorn's default would let each
            # socket make the server buffer 16 MiB (websocket_protocol).
            ws_max_size=MAX_CLIENT_MESSAGE_BYTES,
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=min(GRACEFUL_HTTP_SHUTDOWN, self.shutdown_timeout),
        ))
        server.config.load()
        server.lifespan = server.config.lifespan_class(server.config)
        for signum in _STOP_SIGNALS:
            self.loop.add_signal_handler(signum, self._on_signal, signum)
        try:
            await server.startup(sockets=[self.sock])
            host, port = self.sock.getsockname()[:2]
            logger.info("node %r serving clients on %s:%s", self.config.name, host, port)
            self._start_tasks()
            ticker = asyncio.create_task(server.main_loop(), name="http-server-clock")
            await self.stopped.wait()
            await self._before_stop()
            server.should_exit = True
            await ticker
            await server.shutdown(sockets=[self.sock])
            await self._cancel_tasks()
        finally:
            for signum in _STOP_SIGNALS:
                self.loop.remove_signal_handler(signum)
        logger.info("node %r stopped (exit status %d)", self.config.name, self.exit_status)
        return self.exit_status

    async def _before_stop(self) -> None:
        for step in self.before_stop:
            try:
                await asyncio.wait_for(step(), self.shutdown_timeout)
            except Exception:  # a step that fails must not keep the node from stopping
                logger.exception("%s before stopping failed", _describe(step))

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
        self.stopped.set()

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


def _describe(factory: TaskFactory) -> str:
    """A readable task name for logs: the coroutine function's qualified name."""
    target: Any = factory
    while isinstance(target, functools.partial):
        target = target.func
    module = getattr(target, "__module__", None)
    qualname = getattr(target, "__qualname__", None) or repr(target)
    return f"{module}.{qualname}" if module else qualname
