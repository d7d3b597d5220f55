"""``EtcdApi``: etcd's request semantics, once, for every codec.

The JSON gateway and the gRPC servicers decode a request into an ``api``
dataclass and hand it here; what comes back (a response dataclass, or a
``StoreError`` raised) they encode. Everything between is this module's,
in this order, so the two front ends cannot drift:

1. the store member must be running (``StoreNotRunningError``, code 14);
2. the caller is authenticated from the raw token the codec found (the
   ``Authorization`` header; gRPC's ``token`` metadata);
3. the request is authorized for its *kind* (``authorization`` lists the
   kinds and the rules);
4. the store call runs within ``request_timeout`` (etcd's "request timed
   out", code 14, after it; the proposal may still be applied, as with
   etcd);
5. the response header is stamped with this member's identity
   (``unary.stamp``).

Keep-alives (one call per message of a keep-alive stream) follow the same
path; an unknown lease answers TTL 0 rather than failing, as etcd does.
A snapshot needs the root role. Status (``member_status``) asks nobody, as
in etcd. A watch stream is a ``watch_session.WatchSession``
(``watch_session``), with this object's store, authorizer and timeout.
"""
from __future__ import annotations

import asyncio
import hashlib
from typing import Any, Awaitable, Callable, Iterator, Union

from consensus.mvcc.api import LeaseKeepAliveRequest, LeaseKeepAliveResponse, LeaseNotFoundError, StoreError, WatchResponse
from consensus.mvcc.replicated_store import ReplicatedStore

from .authorization import AllowEveryone, Authorizer
from .errors import StoreNotRunningError
from .unary import UNARY_HANDLERS, MemberStatus, member_status, stamp
from .watch_session import WatchSession

StoreProvider = Callable[[], Union[ReplicatedStore, None]]

# Longer than the node's own bounds on a proposal and a ReadIndex (5 s
# each), so those report first and this only catches what nothing else bounds.
REQUEST_TIMEOUT = 7.0

KEEPALIVE_KIND = "lease_keepalive"
SNAPSHOT_KIND = "snapshot"
# etcd's snapshotSendBufferSize.
SNAPSHOT_CHUNK_BYTES = 32 * 1024


class RawInvalidAuthTokenError(StoreError):
    """A token that does not authenticate, as etcd's maintenance server
    reports it on Snapshot (unconverted, code 2)."""

    grpc_code = 2
    message = "auth: invalid auth token"


def snapshot_chunks(data: bytes, chunk_bytes: int = SNAPSHOT_CHUNK_BYTES) -> Iterator[tuple[int, bytes]]:
    """``(remaining_bytes, blob)`` of each ``SnapshotResponse`` that sends
    ``data``, as etcd's maintenance server sends it: the database in chunks
    of ``chunk_bytes``, each with what is left *after* it, then one more
    blob, the SHA-256 of everything before it, with 0 remaining (a client
    tells it from the database because the countdown already reached 0)."""
    digest = hashlib.sha256()
    view = memoryview(data)
    total = len(data)
    sent = 0
    while sent < total:
        chunk = bytes(view[sent:sent + chunk_bytes])
        sent += len(chunk)
        digest.update(chunk)
        yield total - sent, chunk
    yield 0, digest.digest()


class EtcdApi:
    """etcd's API over the store ``store_provider()`` returns (``None``
    while the member is not running) and the ``authorizer``'s answers."""

    def __init__(self, store_provider: StoreProvider, *, authorizer: Authorizer | None = None,
                 request_timeout: float = REQUEST_TIMEOUT) -> None:
        self.store_provider = store_provider
        self.authorizer: Authorizer = authorizer if authorizer is not None else AllowEveryone()
        self.request_timeout = request_timeout

    def store(self) -> ReplicatedStore:
        """The running member's store; ``StoreNotRunningError`` if none."""
        store = self.store_provider()
        if store is None:
            raise StoreNotRunningError()
        return store

    async def user(self, token: str | None) -> str | None:
        """Who ``token`` belongs to (``None``: auth is off), or the
        authorizer's refusal."""
        return await self.authorizer.authenticate(token)

    async def unary(self, kind: str, request: Any, token: str | None) -> Any:
        """The response to ``request``, of ``unary.UNARY_HANDLERS`` kind
        ``kind``, asked with ``token`` (module docstring, steps 1-5)."""
        store = self.store()
        user = await self.authorizer.authenticate(token)
        self.authorizer.authorize(user, kind, request)
        async with asyncio.timeout(self.request_timeout):
            response = await UNARY_HANDLERS[kind](store, request)
        return stamp(response, store.header())

    async def keepalive(self, request: LeaseKeepAliveRequest, token: str | None) -> LeaseKeepAliveResponse:
        """One keep-alive of a stream opened with ``token``."""
        store = self.store()
        user = await self.authorizer.authenticate(token)
        self.authorizer.authorize(user, KEEPALIVE_KIND, request)
        async with asyncio.timeout(self.request_timeout):
            try:
                response = await store.lease_keepalive(request)
            except LeaseNotFoundError:
                # etcd answers an unknown lease with TTL 0, not an error
                return LeaseKeepAliveResponse(header=store.header(), ID=request.ID)
        return stamp(response, store.header())

    async def snapshot(self, token: str | None) -> bytes:
        """The store's database, for a caller with the root role. An invalid
        token is refused as etcd's maintenance server refuses it there
        (``RawInvalidAuthTokenError``, unconverted, code 2); authenticating
        is bounded by ``request_timeout``, copying the database is not, as
        in etcd."""
        store = self.store()
        try:
            async with asyncio.timeout(self.request_timeout):
                user = await self.authorizer.authenticate(token)
        except StoreError as error:
            if error.grpc_code == 16:  # UNAUTHENTICATED
                raise RawInvalidAuthTokenError() from None
            raise
        self.authorizer.authorize(user, SNAPSHOT_KIND, None)
        return await asyncio.to_thread(store.machine.snapshot)

    def watch_session(self, token: str | None, emit: Callable[[WatchResponse], Awaitable[None]]) -> WatchSession:
        """The session of one watch stream opened with ``token``; ``emit``
        writes a response in the codec's form."""
        return WatchSession(self.store(), self.authorizer, token, emit, self.request_timeout)

    def status(self) -> MemberStatus:
        """This member's status; no token is asked for (etcd asks none)."""
        return member_status(self.store())
