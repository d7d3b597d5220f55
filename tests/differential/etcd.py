"""A real etcd 3.4 for differential tests: the process and a JSON client.

``EtcdServer`` runs Debian's ``etcd`` binary as a one-member cluster on
loopback ports picked at random, with its data in a fresh directory (on
``/dev/shm`` when there is one: etcd fsyncs every write, and on tmpfs that is
free). It never touches the system's etcd service or ``/var/lib/etcd``.

``GatewayClient`` speaks etcd's gRPC-gateway JSON over one keep-alive HTTP
connection, using ``consensus.mvcc.json_codec`` for both directions, so every
answer etcd gives is also a check of the codec (``call`` can assert that
re-encoding etcd's JSON gives back exactly what etcd wrote).
"""
from __future__ import annotations

import http.client
import json
import os
import queue
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consensus.mvcc import json_codec
from consensus.mvcc.api import StoreError

INSTALL_HINT = (
    "etcd is not installed, and the differential tests need a real etcd 3.4: "
    "run ./scripts/setup.sh (it installs etcd-server and etcd-client, listed in "
    "scripts/apt-packages.txt), or: apt-get install etcd-server etcd-client"
)


def find_etcd() -> str | None:
    """The etcd binary: on PATH, else Debian's /usr/bin/etcd; None if neither."""
    found = shutil.which("etcd")
    if found:
        return found
    return "/usr/bin/etcd" if os.access("/usr/bin/etcd", os.X_OK) else None


def _free_ports(count: int) -> list[int]:
    """Ports the kernel just handed out; etcd binds them a moment later (a
    rare race with another process is handled by retrying the start)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


class EtcdStartError(RuntimeError):
    pass


class EtcdServer:
    """One etcd process. ``start()`` returns once ``/health`` says true;
    ``stop()`` kills it and removes its data directory."""

    def __init__(self, binary: str, *, base_dir: str | None = None) -> None:
        self.binary = binary
        self.base_dir = base_dir
        self.process: subprocess.Popen | None = None
        self.data_dir: Path | None = None
        self.client_port = 0
        self.log_path: Path | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def client_url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self, *, timeout: float = 20.0, attempts: int = 3) -> "EtcdServer":
        last_error: Exception | None = None
        for _ in range(attempts):
            try:
                self._start_once(timeout)
                return self
            except EtcdStartError as error:
                last_error = error
                self.stop()
        raise EtcdStartError(f"etcd did not start after {attempts} attempts: {last_error}")

    def _start_once(self, timeout: float) -> None:
        base = self.base_dir
        if base is None and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
            base = "/dev/shm"
        self.data_dir = Path(tempfile.mkdtemp(prefix="config-center-etcd-", dir=base))
        self.log_path = self.data_dir / "etcd.log"
        client_port, peer_port = _free_ports(2)
        self.client_port = client_port
        client_url = f"http://127.0.0.1:{client_port}"
        peer_url = f"http://127.0.0.1:{peer_port}"
        # ETCD_* variables would override flags; start from a clean slate.
        env = {k: v for k, v in os.environ.items() if not k.startswith("ETCD")}
        command = [
            self.binary,
            "--name", "default",
            "--data-dir", str(self.data_dir / "data"),
            "--listen-client-urls", client_url,
            "--advertise-client-urls", client_url,
            "--listen-peer-urls", peer_url,
            "--initial-advertise-peer-urls", peer_url,
            "--initial-cluster", f"default={peer_url}",
            "--initial-cluster-state", "new",
            "--logger", "zap",
            "--log-level", "warn",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise EtcdStartError(f"etcd exited with {self.process.returncode}:\n{self.log_tail()}")
            if self._healthy():
                return
            time.sleep(0.02)
        raise EtcdStartError(f"etcd at {client_url} not healthy after {timeout}s:\n{self.log_tail()}")

    def _healthy(self) -> bool:
        try:
            conn = http.client.HTTPConnection(self.host, self.client_port, timeout=1)
            try:
                conn.request("GET", "/health")
                response = conn.getresponse()
                body = response.read()
            finally:
                conn.close()
        except OSError:
            return False
        try:
            return response.status == 200 and json.loads(body).get("health") == "true"
        except ValueError:
            return False

    def log_tail(self, lines: int = 30) -> str:
        if self.log_path is None or not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self) -> None:
        if self.process is not None:
            if self.process.poll() is None:
                self.process.terminate()
                try:
                    self.process.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait(timeout=5)
            self.process = None
        if self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)
            self.data_dir = None

    def client(self) -> "GatewayClient":
        return GatewayClient(self.host, self.client_port)


@dataclass(frozen=True)
class RawAnswer:
    """What the gateway answered: HTTP status and the JSON body."""

    status: int
    body: dict


class GatewayError(AssertionError):
    """The gateway answered something the codec cannot account for."""


class GatewayClient:
    """A JSON client for etcd's gateway over one keep-alive connection."""

    def __init__(self, host: str, port: int, *, timeout: float = 10.0) -> None:
        self.host, self.port, self.timeout = host, port, timeout
        self._conn: http.client.HTTPConnection | None = None

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def post(self, path: str, body: dict | bytes | str) -> RawAnswer:
        """POST ``body`` (a dict is JSON-encoded) and return the parsed answer."""
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        if isinstance(data, str):
            data = data.encode()
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self._conn.request("POST", path, data, {"Content-Type": "application/json"})
                response = self._conn.getresponse()
                raw = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                # A keep-alive connection the server closed: reconnect once.
                self.close()
                if attempt == 2:
                    raise
        try:
            parsed = json.loads(raw)
        except ValueError:
            raise GatewayError(f"POST {path} -> HTTP {response.status}, not JSON: {raw[:200]!r}") from None
        return RawAnswer(response.status, parsed)

    def call(self, request: Any, *, check_codec: bool = True) -> Any:
        """Send one request; return its response dataclass or raise the
        ``StoreError`` etcd reported. With ``check_codec``, also assert that
        ``response_to_json`` (or ``error_to_json``) re-creates etcd's JSON
        exactly."""
        path = json_codec.path_of(request)
        answer = self.post(path, json_codec.request_to_json(request))
        return decode_answer(json_codec.kind_of(request), answer, check_codec=check_codec, request=request)

    def watch(self, request: Any) -> "WatchStream":
        """Open ``/v3/watch`` on its own connection with one watch request."""
        return WatchStream(self.host, self.port, json_codec.request_to_json(request), self.timeout)


def decode_answer(kind: str, answer: RawAnswer, *, check_codec: bool = True, request: Any = None) -> Any:
    if answer.status != 200:
        error = json_codec.error_from_json(answer.status, answer.body)
        if check_codec:
            status, body = json_codec.error_to_json(error)
            if (status, body) != (answer.status, answer.body):
                raise GatewayError(
                    f"error_to_json does not re-create etcd's error for {request!r}:\n"
                    f"  etcd:  {answer.status} {answer.body}\n  codec: {status} {body}"
                )
        raise error
    response = json_codec.response_from_json(kind, answer.body)
    if check_codec:
        again = json_codec.response_to_json(response)
        if again != answer.body:
            raise GatewayError(
                f"response_to_json does not re-create etcd's JSON for {request!r}:\n"
                f"  etcd:  {json.dumps(answer.body, sort_keys=True)}\n"
                f"  codec: {json.dumps(again, sort_keys=True)}"
            )
    return response


class WatchStream:
    """One ``/v3/watch`` stream: each line of the body is ``{"result": ...}``.

    A reader thread parses lines into a queue as they arrive, so ``next``
    can wait with a timeout (and a test can wait "a moment" for a response
    that should not come) without breaking the HTTP response object.
    Closing the connection cancels the watch on etcd's side.
    """

    _END = object()

    def __init__(self, host: str, port: int, body: dict, timeout: float) -> None:
        self.timeout = timeout
        self.conn = http.client.HTTPConnection(host, port, timeout=timeout)
        self.conn.request("POST", "/v3/watch", json.dumps(body).encode(), {"Content-Type": "application/json"})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raw = self.response.read()
            self.conn.close()
            raise GatewayError(f"/v3/watch -> HTTP {self.response.status}: {raw[:300]!r}")
        self.conn.sock.settimeout(None)  # the reader blocks; close() unblocks it
        self.raw_lines: list[dict] = []
        self._lines: queue.Queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, name="etcd-watch-reader", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        try:
            while True:
                line = self.response.readline()
                if not line:
                    break
                if line.strip():
                    self._lines.put(json.loads(line))
        except (OSError, ValueError, http.client.HTTPException) as error:
            self._lines.put(error)
        finally:
            self._lines.put(self._END)

    def next_raw(self, timeout: float | None = None) -> dict:
        """The next JSON object of the stream; ``TimeoutError`` if none comes
        within ``timeout`` (default: the stream's timeout)."""
        try:
            item = self._lines.get(timeout=self.timeout if timeout is None else timeout)
        except queue.Empty:
            raise TimeoutError(f"no watch response within {self.timeout if timeout is None else timeout}s") from None
        if item is self._END:
            self._lines.put(self._END)
            raise GatewayError("the watch stream ended")
        if isinstance(item, Exception):
            raise GatewayError(f"reading the watch stream failed: {item!r}")
        self.raw_lines.append(item)
        return item

    def next(self, *, timeout: float | None = None, check_codec: bool = True) -> Any:
        obj = self.next_raw(timeout)
        if set(obj) != {"result"}:
            raise GatewayError(f"watch stream sent a non-result object: {obj}")
        response = json_codec.response_from_json("watch", obj)
        if check_codec and json_codec.stream_item(response) != obj:
            raise GatewayError(
                f"stream_item does not re-create etcd's watch line:\n  etcd:  {obj}\n"
                f"  codec: {json_codec.stream_item(response)}"
            )
        return response

    def close(self) -> None:
        sock = self.conn.sock
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        # Let the reader see the end before the response object is torn down.
        self._reader.join(timeout=5)
        self.conn.close()


def raises_store_error(fn, *args, **kwargs) -> tuple[Any, StoreError | None]:
    """(result, None) or (None, error) for a call that may raise StoreError."""
    try:
        return fn(*args, **kwargs), None
    except StoreError as error:
        return None, error
