"""The store client interface of the config service.

The service layer calls the store only through these etcd v3 calls — four
for reading and writing, ``watch`` for live delivery — with the request and
response types of ``consensus.mvcc.api`` (etcd's own messages, field for
field). ``ReplicatedStore`` — this process's member —
satisfies it directly; an adapter over a remote etcd's API could as well,
which is the point of keeping the interface this small.

Calls run on the event loop that owns the store. Synchronous code (Django
and DRF views run in a worker thread under ASGI) hands a whole service call
to that loop with ``run_on_loop`` and waits for it.
"""
from __future__ import annotations

import asyncio
from typing import Awaitable, Callable, Protocol, TypeVar

from consensus.member import local_store
from consensus.mvcc.watcher import WatchClosed  # noqa: F401  (part of WatchStream's contract)
from consensus.mvcc.api import (
    DeleteRangeRequest,
    DeleteRangeResponse,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseKeepAliveRequest,
    LeaseKeepAliveResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
    PutRequest,
    PutResponse,
    RangeRequest,
    RangeResponse,
    TxnRequest,
    TxnResponse,
    WatchCreateRequest,
    WatchResponse,
)

T = TypeVar("T")

# Longer than the node's own bounds on a proposal and a ReadIndex (5 s each).
CALL_TIMEOUT = 8.0


class StoreClient(Protocol):
    async def range(self, request: RangeRequest) -> RangeResponse: ...

    async def put(self, request: PutRequest) -> PutResponse: ...

    async def delete_range(self, request: DeleteRangeRequest) -> DeleteRangeResponse: ...

    async def txn(self, request: TxnRequest) -> TxnResponse: ...


class WatchStream(Protocol):
    """One watch, as etcd's watch API gives it: responses in revision order
    (the first ``created``, the last, if it ends, ``canceled``), every event
    after the start revision exactly once or an explicit end."""

    async def next(self) -> WatchResponse:
        """The next response; raises ``WatchClosed`` once the terminal one
        has been taken."""
        ...

    def cancel(self) -> bool: ...

    def request_progress(self) -> bool:
        """Queue a bookmark behind the events given so far (etcd's
        RequestProgress); False while the watch is catching up."""
        ...


class WatchingStoreClient(StoreClient, Protocol):
    """A client that can also watch, hold leases (the service registry),
    and say whether its member follows a leader (reads it serves locally
    may be stale when it does not)."""

    def watch(self, request: WatchCreateRequest) -> WatchStream: ...

    async def lease_grant(self, request: LeaseGrantRequest) -> LeaseGrantResponse: ...

    async def lease_keepalive(self, request: LeaseKeepAliveRequest) -> LeaseKeepAliveResponse: ...

    async def lease_revoke(self, request: LeaseRevokeRequest) -> LeaseRevokeResponse: ...

    def leader_known(self) -> bool: ...


class StoreUnavailableError(RuntimeError):
    """No store member runs in this process (not started yet, or stopping)."""


def local_client() -> StoreClient:
    """This process's store member."""
    store = local_store()
    if store is None:
        raise StoreUnavailableError("the store member is not running")
    return store


class LocalStoreClient:
    """``StoreClient`` over whatever member runs in this process now, looked
    up per call (the member starts after Django is set up and may restart)."""

    async def range(self, request: RangeRequest) -> RangeResponse:
        return await local_client().range(request)

    async def put(self, request: PutRequest) -> PutResponse:
        return await local_client().put(request)

    async def delete_range(self, request: DeleteRangeRequest) -> DeleteRangeResponse:
        return await local_client().delete_range(request)

    async def txn(self, request: TxnRequest) -> TxnResponse:
        return await local_client().txn(request)

    def watch(self, request: WatchCreateRequest) -> WatchStream:
        return local_client().watch(request)

    async def lease_grant(self, request: LeaseGrantRequest) -> LeaseGrantResponse:
        return await local_client().lease_grant(request)

    async def lease_keepalive(self, request: LeaseKeepAliveRequest) -> LeaseKeepAliveResponse:
        return await local_client().lease_keepalive(request)

    async def lease_revoke(self, request: LeaseRevokeRequest) -> LeaseRevokeResponse:
        return await local_client().lease_revoke(request)

    def leader_known(self) -> bool:
        store = local_store()
        return store is not None and store.leader_known()


def run_on_loop(loop: asyncio.AbstractEventLoop, make: Callable[[], Awaitable[T]], timeout: float = CALL_TIMEOUT) -> T:
    """Run the coroutine ``make()`` on ``loop`` from another thread and wait
    for its result. Refuses to run on the loop's own thread, where waiting
    would stop the loop it waits for."""
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        raise RuntimeError("run_on_loop called on the store's own event loop; await the call instead")

    async def call() -> T:
        return await make()

    return asyncio.run_coroutine_threadsafe(call(), loop).result(timeout)
