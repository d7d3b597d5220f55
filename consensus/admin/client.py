"""``GatewayClient``: an HTTP client of a node's etcd v3 JSON gateway, for
the operator's commands.

Endpoints
---------
A client is given one or more endpoints (``HOST:PORT`` or
``http://HOST:PORT``, a node's ``--listen-client``) and tries them in
order, starting with the one that answered last. It moves on to the next
on a *connection* error: the connection is refused, cannot be made in
time, or drops before an answer. An answer — success or refusal — is
final. A request that changes something (``idempotent=False``) moves on
only when the connection could not be made at all; once it went out, a
lost answer is ``OutcomeUnknownError`` (the change may have been made:
retrying blindly could make it twice). When no endpoint answers,
``UnreachableError`` lists each one tried and what went wrong.

Store auth
----------
With ``credentials`` the client authenticates (``/v3/auth/authenticate``)
before its first request and sends the token verbatim in the
``Authorization`` header, as etcd's clients do. A token expires (300 s);
when a node answers "invalid auth token" the client authenticates again
and repeats the request once. A cluster with auth off answers the
authentication "authentication is not enabled": the client then sends no
token. Without credentials requests are anonymous, which is all a cluster
with ``--store-auth off`` needs; one with auth on refuses them, and the
error says how to give a password.

Tokens are signed with the cluster's secret, so one token is good on every
member: ``for_endpoint`` gives a client of another member sharing it.
"""
from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass, field
from typing import Iterator
from urllib.parse import urlsplit

from .errors import AdminError, GatewayError, OutcomeUnknownError, UnreachableError, UsageError

DEFAULT_ENDPOINT = "127.0.0.1:8000"
DEFAULT_TIMEOUT = 5.0
AUTHENTICATE_PATH = "/v3/auth/authenticate"

# How etcd words the refusals the client acts on.
_TOKEN_REFUSALS = ("etcdserver: invalid auth token", "auth: invalid auth token")
_NO_USER_REFUSALS = ("etcdserver: user name is empty", "auth: user name is empty")
_AUTH_OFF = "authentication is not enabled"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """A node's client address."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self}"


def parse_endpoint(text: str, argument: str = "--endpoints") -> Endpoint:
    """``HOST:PORT``, ``[IPv6]:PORT`` or ``http://HOST:PORT`` as an
    ``Endpoint``; ``UsageError`` naming ``argument`` otherwise."""
    raw = text.strip()
    candidate = raw if "://" in raw else "http://" + raw
    try:
        parts = urlsplit(candidate)
        port = parts.port
    except ValueError:
        port = None
        parts = None
    if parts is None or parts.scheme != "http" or not parts.hostname or port is None or parts.path not in ("", "/"):
        hint = " (https is not served: a node's client port speaks plain HTTP)" if raw.startswith("https://") else ""
        raise UsageError(argument, f"{text!r} is not HOST:PORT or http://HOST:PORT{hint}")
    if port == 0:
        raise UsageError(argument, f"{text!r} has port 0")
    return Endpoint(parts.hostname, port)


def parse_endpoints(text: str, argument: str = "--endpoints") -> tuple[Endpoint, ...]:
    """A comma-separated list of endpoints (at least one, no duplicates)."""
    items = [item for item in (part.strip() for part in text.split(",")) if item]
    if not items:
        raise UsageError(argument, "names no endpoint; give HOST:PORT[,HOST:PORT...]")
    endpoints = tuple(parse_endpoint(item, argument) for item in items)
    if len(set(endpoints)) != len(endpoints):
        raise UsageError(argument, f"{text!r} names an endpoint twice")
    return endpoints


@dataclass(frozen=True, slots=True)
class Credentials:
    """A store user and its password (left out of ``repr``)."""

    user: str
    password: str = field(repr=False)


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, (socket.timeout, TimeoutError)):
        return "timed out"
    if isinstance(error, socket.gaierror):
        return f"cannot resolve the host name: {error.strerror or error}"
    if isinstance(error, http.client.RemoteDisconnected):
        return "the connection closed without an answer"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror.lower()
    return str(error) or type(error).__name__


def error_of(answer: object, status: int) -> tuple[int, str]:
    """``(grpc_code, message)`` of an error answer, in either of the
    gateway's shapes: a unary error body ``{"error", "message", "code"}`` or
    a stream's error chunk ``{"error": {"grpc_code", "message", ...}}``."""
    if isinstance(answer, dict):
        error = answer.get("error")
        if isinstance(error, dict):
            return int(error.get("grpc_code", 2)), str(error.get("message", ""))
        if "message" in answer or "error" in answer:
            return int(answer.get("code", 2)), str(answer.get("message") or answer.get("error"))
    return 2, f"HTTP {status} with an answer that is not an etcd error: {str(answer)[:200]}"


class GatewayClient:
    """A client of the gateways at ``endpoints`` (module docstring).
    ``timeout`` bounds connecting and each wait for data, in seconds.
    Not thread-safe; one connection per request."""

    def __init__(self, endpoints: tuple[Endpoint, ...] | list[Endpoint], *, credentials: Credentials | None = None,
                 timeout: float = DEFAULT_TIMEOUT) -> None:
        if not endpoints:
            raise ValueError("a client needs at least one endpoint")
        self.endpoints = tuple(endpoints)
        self.credentials = credentials
        self.timeout = timeout
        self._preferred = 0
        self._token: str | None = None  # "" once the cluster said auth is off

    @property
    def endpoint(self) -> Endpoint:
        """The endpoint tried first: the last one that answered."""
        return self.endpoints[self._preferred]

    def for_endpoint(self, endpoint: Endpoint) -> "GatewayClient":
        """A client of ``endpoint`` alone with these credentials and token."""
        other = GatewayClient((endpoint,), credentials=self.credentials, timeout=self.timeout)
        other._token = self._token
        return other

    # -- requests ----------------------------------------------------------------------

    def post(self, path: str, body: dict | None = None, *, idempotent: bool = True) -> dict:
        """POST ``body`` as JSON to ``path``; the JSON answer. Raises
        ``GatewayError`` for a refusal (``AdminError`` with advice when the
        store wants credentials that were not given)."""
        payload = json.dumps(body or {}).encode()
        for attempt in (1, 2):
            token = self._current_token()
            endpoint, status, data = self._roundtrip("POST", path, payload, token, idempotent=idempotent)
            answer = _json_or_text(data)
            if status == 200 and isinstance(answer, dict):
                return answer
            code, text = error_of(answer, status)
            if attempt == 1 and self._token_expired(text):
                continue
            raise self._refusal(endpoint, status, code, text)
        raise AssertionError("unreachable")

    def get(self, path: str) -> dict:
        """GET ``path`` (an ``/api/v1/...`` page that needs no credentials);
        its JSON answer."""
        endpoint, status, data = self._roundtrip("GET", path, None, None, idempotent=True)
        answer = _json_or_text(data)
        if status != 200 or not isinstance(answer, dict):
            text = answer.get("error") if isinstance(answer, dict) and "error" in answer else str(answer)[:300]
            raise AdminError(f"{endpoint} answered HTTP {status} to GET {path}: {text}")
        return answer

    def stream(self, path: str, body: dict | None = None, *, timeout: float | None = None) -> Iterator[dict]:
        """POST ``body`` to a streaming ``path``; yields each JSON line of the
        answer. An error chunk in the stream raises ``GatewayError``; a
        stream that breaks off raises ``AdminError``. ``timeout``: the wait
        for data (default: the client's)."""
        payload = json.dumps(body or {}).encode()
        wait = self.timeout if timeout is None else timeout
        for attempt in (1, 2):
            token = self._current_token()
            endpoint, conn, response = self._open("POST", path, payload, token, idempotent=True, timeout=wait)
            if response.status == 200:
                break
            try:
                data = response.read()
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                raise AdminError(f"{endpoint}: the answer to {path} broke off ({_reason(error)})") from None
            conn.close()
            code, text = error_of(_json_or_text(data), response.status)
            if attempt == 1 and self._token_expired(text):
                continue
            raise self._refusal(endpoint, response.status, code, text)
        return self._lines(endpoint, conn, response, path)

    def _lines(self, endpoint: Endpoint, conn, response, path: str) -> Iterator[dict]:
        count = 0
        try:
            while True:
                try:
                    line = response.readline()
                except (OSError, http.client.HTTPException) as error:
                    raise AdminError(
                        f"{endpoint}: the stream from {path} broke off after {count} lines ({_reason(error)})"
                    ) from None
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    item = json.loads(line)
                except ValueError:
                    raise AdminError(f"{endpoint}: line {count + 1} of {path} is not JSON: {line[:120]!r}") from None
                if isinstance(item, dict) and "error" in item:
                    code, text = error_of(item, 500)
                    raise GatewayError(str(endpoint), 500, code, text)
                count += 1
                yield item
        finally:
            conn.close()

    # -- auth --------------------------------------------------------------------------

    def _current_token(self) -> str | None:
        """The token to send (authenticating first if there is none yet);
        ``None`` without credentials or with auth off."""
        if self.credentials is None:
            return None
        if self._token is None:
            self._token = self._authenticate()
        return self._token or None

    def _authenticate(self) -> str:
        body = {"name": self.credentials.user, "password": self.credentials.password}
        endpoint, status, data = self._roundtrip(
            "POST", AUTHENTICATE_PATH, json.dumps(body).encode(), None, idempotent=True,
        )
        answer = _json_or_text(data)
        if status == 200 and isinstance(answer, dict) and "token" in answer:
            return str(answer["token"])
        code, text = error_of(answer, status)
        if _AUTH_OFF in text:
            return ""
        if "authentication failed" in text:
            raise AdminError(
                f"{endpoint} refused the password of user {self.credentials.user!r} ({text}); check --user and "
                "--password-file (or CONFIG_CENTER_PASSWORD); root's first password is in the first leader's "
                "<data-dir>/root-password"
            )
        raise GatewayError(str(endpoint), status, code, text)

    def _token_expired(self, text: str) -> bool:
        """Whether ``text`` refuses the token sent; if so, forget it so the
        next request authenticates again."""
        if self.credentials is None or not self._token or text not in _TOKEN_REFUSALS:
            return False
        self._token = None
        return True

    def _refusal(self, endpoint: Endpoint, status: int, code: int, text: str) -> AdminError:
        if text in _NO_USER_REFUSALS and self.credentials is None:
            return AdminError(
                f"{endpoint} has store auth on and no credentials were given: pass --password-file FILE "
                "(root's first password is in the first leader's <data-dir>/root-password) or set "
                "CONFIG_CENTER_PASSWORD; the user is --user (default root)"
            )
        return GatewayError(str(endpoint), status, code, text)

    # -- transport ---------------------------------------------------------------------

    def _roundtrip(self, method: str, path: str, payload: bytes | None, token: str | None, *,
                   idempotent: bool) -> tuple[Endpoint, int, bytes]:
        endpoint, conn, response = self._open(method, path, payload, token, idempotent=idempotent)
        try:
            return endpoint, response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            if idempotent:
                raise AdminError(f"{endpoint}: the answer to {method} {path} broke off ({_reason(error)})") from None
            raise self._unknown(endpoint, method, path, error) from None
        finally:
            conn.close()

    def _open(self, method: str, path: str, payload: bytes | None, token: str | None, *, idempotent: bool,
              timeout: float | None = None):
        """Send the request to the first endpoint that takes it; ``(endpoint,
        connection, response)`` once the status line is in."""
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        if token:
            headers["Authorization"] = token
        failures: list[str] = []
        count = len(self.endpoints)
        for step in range(count):
            index = (self._preferred + step) % count
            endpoint = self.endpoints[index]
            conn = http.client.HTTPConnection(endpoint.host, endpoint.port, timeout=self.timeout)
            try:
                conn.connect()
            except OSError as error:
                conn.close()
                failures.append(f"{endpoint} ({_reason(error)})")
                continue
            if timeout is not None:
                conn.sock.settimeout(timeout)
            try:
                conn.request(method, path, payload, headers)
                response = conn.getresponse()
            except (OSError, http.client.HTTPException) as error:
                conn.close()
                if not idempotent:
                    raise self._unknown(endpoint, method, path, error) from None
                failures.append(f"{endpoint} ({_reason(error)})")
                continue
            self._preferred = index
            return endpoint, conn, response
        raise UnreachableError(
            f"no endpoint answered {method} {path}: tried {', '.join(failures)}; check --endpoints "
            "(each a node's --listen-client) and that the nodes are running"
        )

    @staticmethod
    def _unknown(endpoint: Endpoint, method: str, path: str, error: BaseException) -> OutcomeUnknownError:
        return OutcomeUnknownError(
            f"{endpoint} took {method} {path} but its answer was lost ({_reason(error)}); the change may or may "
            "not have been made: look (e.g. 'manage.py member list') before trying again"
        )


def _json_or_text(data: bytes) -> object:
    try:
        return json.loads(data)
    except ValueError:
        return data.decode("utf-8", "replace")
