"""``StoreClient`` over etcd v3's JSON API (a node's ``/v3/...`` gateway,
or a real etcd): the same four calls, the same request and response
types, so the config service runs unchanged against a store in another
process — the management commands use it, and a test runs the service
against a real etcd 3.4 with it.

Each call is one HTTP request made with the standard library in a worker
thread; that suits commands and tests, not a hot path (a node's own service
calls its member in-process)."""
from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from consensus.mvcc.api import (
    DeleteRangeRequest,
    DeleteRangeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    StoreError,
    TxnRequest,
    TxnResponse,
)
from consensus.mvcc.json_codec import (
    error_from_json,
    kind_of,
    path_of,
    request_to_json,
    response_from_json,
)

TIMEOUT = 10.0


class EtcdHttpClient:
    def __init__(self, endpoint: str, *, token: str | None = None, timeout: float = TIMEOUT) -> None:
        self.endpoint = endpoint.rstrip("/")
        self.token = token
        self.timeout = timeout

    @classmethod
    async def login(cls, endpoint: str, name: str, password: str, *, timeout: float = TIMEOUT) -> "EtcdHttpClient":
        """A client holding a token from ``/v3/auth/authenticate``."""
        client = cls(endpoint, timeout=timeout)
        answer = await asyncio.to_thread(client._post, "/v3/auth/authenticate", {"name": name, "password": password})
        client.token = answer["token"]
        return client

    async def range(self, request: RangeRequest) -> RangeResponse:
        return await self._call(request)

    async def put(self, request: PutRequest) -> PutResponse:
        return await self._call(request)

    async def delete_range(self, request: DeleteRangeRequest) -> DeleteRangeResponse:
        return await self._call(request)

    async def txn(self, request: TxnRequest) -> TxnResponse:
        return await self._call(request)

    async def _call(self, request):
        answer = await asyncio.to_thread(self._post, path_of(request), request_to_json(request))
        return response_from_json(kind_of(request), answer)

    def _post(self, path: str, body: dict) -> dict:
        http_request = urllib.request.Request(
            self.endpoint + path, data=json.dumps(body).encode(), method="POST",
            headers={"Content-Type": "application/json", **({"Authorization": self.token} if self.token else {})},
        )
        try:
            with urllib.request.urlopen(http_request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raw = error.read()
            try:
                obj = json.loads(raw)
            except ValueError:
                raise StoreError(f"{self.endpoint}{path} answered HTTP {error.code}: {raw[:200]!r}") from None
            raise error_from_json(error.code, obj) from None
