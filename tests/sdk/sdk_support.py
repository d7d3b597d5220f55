"""Real processes and sockets for the SDK tests: a one-member node that can
be stopped and started again on the same port and data dir, a TCP proxy
whose connections the test can cut, a recorder of ``on_change`` calls, and
polling with a deadline."""
from __future__ import annotations

import asyncio
import contextlib
import subprocess
import threading
import time
from pathlib import Path
from typing import Callable, Iterator

from tests.gateway.conftest import STORE_NODE_FLAGS
from tests.gateway.node_process import NodeProcess, wait_for_first_admin
from tests.live.live_support import LiveNode
from tests.test_skeleton_runnode import REPO, free_port, node_env, runnode, stop, wait_until_serving


def wait_for(predicate: Callable[[], object], timeout: float = 15.0, what: str = "the condition") -> object:
    """Poll ``predicate`` until it returns something true; that value.
    Fails the test with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {timeout} s")
        time.sleep(0.02)


class RestartableNode:
    """A one-member ``runnode`` on fixed ports and data dir, so a client
    that knows its URL finds it again after ``restart()``. Output goes to
    ``<data_dir>.log`` (a pipe nobody reads would fill and stall it)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.peer_port = free_port()
        self.log_path = data_dir.with_suffix(".log")
        self.process: subprocess.Popen | None = None
        self.live: LiveNode | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LiveNode:
        argv = runnode("--name", "sdk", "--data-dir", str(self.data_dir),
                       "--listen-client", f"127.0.0.1:{self.port}", "--listen-peer", f"127.0.0.1:{self.peer_port}",
                       *STORE_NODE_FLAGS)
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, cwd=REPO, env=node_env(), stdout=log, stderr=log)
        wait_until_serving(self.process, self.base_url)
        wait_for_first_admin(self.process, self.data_dir)
        if self.live is None:
            self.live = LiveNode(NodeProcess(self.process, "127.0.0.1", self.port, self.data_dir))
        else:
            self.live.node.process = self.process  # the admin session survives a restart
        return self.live

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            code, _, _ = stop(self.process)
            assert code == 0, f"the node did not stop cleanly; see {self.log_path}"

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def restart(self) -> LiveNode:
        self.stop()
        return self.start()


@contextlib.contextmanager
def restartable_node(data_dir: Path) -> Iterator[RestartableNode]:
    node = RestartableNode(data_dir)
    node.start()
    try:
        yield node
    finally:
        node.kill()


class CuttableProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port``; ``cut()``
    aborts every open connection (both sides see a reset), as a network
    fault would; ``block()`` cuts and then resets every new connection
    until ``unblock()`` (a partition). Runs on its own loop in a thread."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.cuts = 0
        self.blocked = False
        self._transports: set[asyncio.Transport] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="sdk-test-proxy", daemon=True)
        self._thread.start()
        self._server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(self._forward, "127.0.0.1", self.port), self._loop).result(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _forward(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.blocked:
            writer.transport.abort()
            return
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer.transport, upstream_writer.transport}
        self._transports |= pair

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except OSError:
                pass
            finally:
                sink.transport.abort()

        try:
            await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))
        finally:
            self._transports -= pair

    def cut(self) -> None:
        async def abort_all() -> None:
            for transport in list(self._transports):
                transport.abort()

        asyncio.run_coroutine_threadsafe(abort_all(), self._loop).result(10)
        self.cuts += 1

    def block(self) -> None:
        self.blocked = True
        self.cut()

    def unblock(self) -> None:
        self.blocked = False

    def close(self) -> None:
        self.cut()
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


class ChangeLog:
    """``on_change`` calls as (namespace, names, revision, content of
    ``item`` right then), recorded from the client's thread."""

    def __init__(self, client, item: str) -> None:
        self.client = client
        self.item = item
        self.calls: list[tuple[str, frozenset, int, str | None]] = []
        self._lock = threading.Lock()

    def __call__(self, namespace: str, names: frozenset, revision: int) -> None:
        content = self.client.get(namespace, self.item, default=None)
        with self._lock:
            self.calls.append((namespace, names, revision, content))

    def contents(self) -> list[str | None]:
        with self._lock:
            return [call[3] for call in self.calls]

    def revisions(self) -> list[int]:
        with self._lock:
            return [call[2] for call in self.calls]
