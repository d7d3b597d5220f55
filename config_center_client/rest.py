"""The members' REST API, as the registry helpers call it: one JSON request,
failed over across the members.

A request goes to the member that answered last, then to the others in the
order given. A connection error, a timeout or a 5xx/429 answer (503: that
member's store is unavailable right now) moves it to the next member; any
other 4xx is the cluster's answer and is raised at once as
``RegistryError`` (another member would say the same). When every member
failed, ``NoMemberAvailable`` says why the last one did.

The standard library's ``urllib`` does the HTTP, in a worker thread
(``asyncio.to_thread``), so the event loop never blocks on a member.
"""
from __future__ import annotations

import asyncio
import json
import logging
import urllib.error
import urllib.request
from typing import Sequence
from urllib.parse import quote

from . import protocol
from .errors import NoMemberAvailable, RegistryError

logger = logging.getLogger("config_center_client")


def instance_path(service: str, instance_id: str | None = None) -> str:
    """``/services/<service>/-/instances[/<id>]`` (``-`` sets the service
    name, which may contain ``/``, apart from what follows)."""
    path = f"/services/{quote(service, safe='/')}/-/instances"
    return path if instance_id is None else f"{path}/{quote(instance_id, safe='')}"


class RestClient:
    """JSON requests to ``urls`` with ``token`` (module docstring)."""

    def __init__(self, urls: Sequence[str], token: str) -> None:
        self._bases = [protocol.rest_url(url) for url in urls]
        self._token = token
        self._preferred = 0  # the member that answered last

    async def call(self, method: str, path: str, body: dict | None = None, *, timeout: float) -> dict:
        """The JSON answer of ``method path`` (relative to ``/api/v1``);
        ``timeout`` applies to each member tried. Raises ``RegistryError``
        for a 4xx answer, ``NoMemberAvailable`` when no member answered."""
        last = "no member was tried"
        count = len(self._bases)
        for step in range(count):
            index = (self._preferred + step) % count
            try:
                answer = await asyncio.to_thread(self._request, self._bases[index] + path, method, body, timeout)
            except RegistryError as error:
                if not error.retryable:
                    self._preferred = index
                    raise
                last = f"{self._bases[index]}: {error}"
            except (OSError, ValueError) as error:  # URLError and timeouts are OSErrors
                last = f"{self._bases[index]}: {type(error).__name__}: {error}"
            else:
                self._preferred = index
                return answer
            logger.debug("config_center_client: %s %s failed on %s", method, path, last)
        raise NoMemberAvailable(f"{method} {path}: no member answered ({last}); it will be tried again")

    def _request(self, url: str, method: str, body: dict | None, timeout: float) -> dict:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data=data, method=method, headers={
            "Authorization": f"Bearer {self._token}", "Accept": "application/json",
            "Content-Type": "application/json", "User-Agent": f"{protocol.SDK_NAME}/{protocol.SDK_VERSION}"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return _json(response.read(), response.status)
        except urllib.error.HTTPError as error:
            with error:
                answer = _json(error.read(), error.code, strict=False)
            raise RegistryError(error.code, str(answer.get("code") or "http_error"),
                                str(answer.get("message") or error.reason)) from None


def _json(raw: bytes, status: int, *, strict: bool = True) -> dict:
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = None
    if not isinstance(answer, dict):
        if strict:
            # A proxy's HTML page rather than a member: try the next one.
            raise RegistryError(502, "bad_answer", f"HTTP {status} with a body that is not a JSON object")
        return {}
    return answer
