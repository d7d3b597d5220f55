"""A real ``manage.py runnode`` process for the gateway tests, and small
HTTP helpers that speak to it (or to a real etcd) byte for byte.

``running_node(data_dir, flags)`` starts a one-member node on free loopback
ports and stops it on exit; the flags every test node gets are
``tests.gateway.conftest.STORE_NODE_FLAGS``.
"""
from __future__ import annotations

import contextlib
import http.client
import json
import socket
import threading
import time
import queue
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from config_center.service_host import ADMIN_PASSWORD_FILE
from tests.test_skeleton_runnode import free_port, runnode, start, stop, wait_until_serving


@dataclass
class NodeProcess:
    process: object
    host: str
    port: int
    data_dir: Path

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"


@contextlib.contextmanager
def running_node(data_dir: Path, flags: list[str], env: dict[str, str] | None = None) -> Iterator[NodeProcess]:
    port = free_port(avoid=tuple(flags))
    process = start(runnode(
        "--name", "gw",
        "--data-dir", str(data_dir),
        "--listen-client", f"127.0.0.1:{port}",
        "--listen-peer", f"127.0.0.1:{free_port(avoid=(*flags, f':{port}'))}",
        *flags,
    ), env=env)
    node = NodeProcess(process, "127.0.0.1", port, data_dir)
    try:
        wait_until_serving(process, node.base_url)
        wait_for_first_admin(process, data_dir)
        yield node
    finally:
        if process.poll() is None:
            code, _, stderr = stop(process)
            assert code == 0, f"the node did not stop cleanly:\n{stderr[-3000:]}"


def wait_for_first_admin(process, data_dir: Path, timeout: float = 30.0) -> None:
    """Until the config service has made the cluster's first admin (a hashed
    password, then one transaction): tests that count revisions must start
    after the node's own writes."""
    deadline = time.monotonic() + timeout
    while not (data_dir / ADMIN_PASSWORD_FILE).exists():
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the node made no first admin within {timeout} s")
        time.sleep(0.05)


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self):
        return json.loads(self.body)


def request(host: str, port: int, path: str, body: bytes | str | dict | None = b"{}", *,
            method: str = "POST", headers: dict[str, str] | None = None, timeout: float = 10) -> Answer:
    """One request on a fresh connection; the whole answer."""
    if isinstance(body, dict):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request(method, path, body, headers or {})
        response = conn.getresponse()
        return Answer(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        conn.close()


class Stream:
    """A streaming request (``/v3/watch``, ``/v3/lease/keepalive``): the body
    is sent whole, the answer is read chunk by chunk in a thread, so a test
    can wait for the next chunk with a timeout, or for one that should not
    come. ``close()`` drops the connection, as a client that goes away."""

    _END = object()

    def __init__(self, host: str, port: int, path: str, body: bytes | str, *, timeout: float = 10,
                 headers: dict[str, str] | None = None) -> None:
        self.timeout = timeout
        self.sock = socket.create_connection((host, port), timeout=timeout)
        if isinstance(body, str):
            body = body.encode()
        head = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json",
                f"Content-Length: {len(body)}"]
        head += [f"{k}: {v}" for k, v in (headers or {}).items()]
        self.sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        self.sock.settimeout(None)
        self._items: queue.Queue = queue.Queue()
        self.status: int | None = None
        self.headers: dict[str, str] = {}
        self._head_ready = threading.Event()
        self._reader = threading.Thread(target=self._read, daemon=True, name="test-stream-reader")
        self._reader.start()

    def _read(self) -> None:
        file = self.sock.makefile("rb")
        try:
            status_line = file.readline()
            if not status_line:
                return
            self.status = int(status_line.split()[1])
            while (line := file.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                self.headers[name.strip().lower()] = value.strip()
            self._head_ready.set()
            if self.headers.get("transfer-encoding") != "chunked":
                self._items.put(file.read(int(self.headers.get("content-length", "0"))))
                return
            while True:
                size = int(file.readline().split(b";")[0], 16)
                if size == 0:
                    return
                chunk = file.read(size)
                file.readline()
                self._items.put(chunk)
        except (OSError, ValueError):
            pass
        finally:
            self._head_ready.set()
            self._items.put(self._END)

    def wait_head(self, timeout: float | None = None) -> bool:
        return self._head_ready.wait(self.timeout if timeout is None else timeout) and self.status is not None

    def next_chunk(self, timeout: float | None = None) -> bytes:
        """The next chunk of the body; ``EOFError`` once the body ended,
        ``TimeoutError`` if none comes in time."""
        try:
            item = self._items.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise TimeoutError("no chunk in time") from None
        if item is self._END:
            self._items.put(self._END)
            raise EOFError("the body ended")
        return item

    def next_json(self, timeout: float | None = None):
        return json.loads(self.next_chunk(timeout))

    def rest(self, timeout: float | None = None) -> list[bytes]:
        """Every chunk up to the end of the body."""
        chunks = []
        while True:
            try:
                chunks.append(self.next_chunk(timeout))
            except EOFError:
                return chunks

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        self._reader.join(timeout=5)
