"""``WatchSession``: the watches of one watch stream, whatever carries it
(etcd's ``Watch.Watch`` gRPC stream, the gateway's ``/v3/watch``, our
``/ws/v1/watch``). The codec feeds it decoded requests and writes each
``WatchResponse`` it emits; everything etcd's watch stream means is here:

- a create request is answered ``created`` (header revision = the store's
  revision, ``watch_id`` the stream's ID for it); its events follow, one
  response per revision; a compacted start revision gets the canceled
  response with ``compact_revision`` right after ``created``;
- a refused create request (empty range, an ID already used in the
  stream, or refused by the ``Authorizer``) is answered ``created`` and
  ``canceled`` with ``watch_id`` -1 and the reason; a refusal by the
  authorizer reads like a gRPC status, e.g. "rpc error: code =
  PermissionDenied desc = etcdserver: permission denied";
- a cancel request for a watch of the stream is answered with
  ``canceled`` for its ID (after the events already on their way); one for
  an unknown ID with nothing;
- a progress request is answered with a response for ``watch_id`` -1
  whose header revision is the store's revision;
- when the stream ends its watches are cancelled in the hub at once, so
  the member forgets them.

Watch IDs are per stream, as in etcd (each stream numbers its watches from
0, skipping IDs in use; a requested ID is taken as is unless the stream
already uses it). The hub's IDs are unique per member, so the session keeps
the stream's IDs and rewrites the ``watch_id`` of each response.

Deliberate difference: a progress response is sent only once every watch of
the stream is caught up and everything queued before it has been written
(etcd 3.5's rule). etcd 3.4.23 answers at once, also while a watch is still
replaying history, and the revision it then reports is one whose events
that watch has not received yet — a client resuming from it would skip
them.

Access is checked again whenever the auth state changes (a user deleted,
a password changed, a role losing a permission, auth disabled and enabled
again): the stream's token is authenticated anew and every watch
authorized anew, and a watch no longer allowed is ended with a canceled
response whose ``cancel_reason`` is the refusal ("rpc error: code =
PermissionDenied desc = etcdserver: permission denied", or the invalid
token's). Nothing is written from the moment the change is applied on this
member until that check is done, and nothing of a watch ended so is
written afterwards. (etcd checks a watch only when it is created, so a
revoked user keeps its watches; a store that guards config must not.)

Flow: one task per watch takes its responses (``Watcher.next``) and puts
them in one bounded queue; one writer takes from the queue and emits. A
client that does not read blocks ``emit``, leaves the queue full, the
watches' buffers fill, and the hub's slow-watcher handling takes over (its
buffer bound holds; it never skips an event).
"""
from __future__ import annotations

import asyncio
import dataclasses
import logging
from typing import Any, Awaitable, Callable

from consensus.mvcc.api import WatchCancelRequest, WatchCreateRequest, WatchResponse
from consensus.mvcc.watch_hub import DUPLICATE_ID_REASON, EMPTY_RANGE_REASON, INVALID_WATCH_ID
from consensus.mvcc.watcher import WatchClosed, Watcher, WatcherState
from consensus.mvcc.watcher_group import is_empty_range

from .authorization import Authorizer
from .errors import as_store_error, grpc_reason, internal_error

logger = logging.getLogger(__name__)

KIND = "watch"
# Responses waiting for the writer, all watches of a stream together.
QUEUE_RESPONSES = 64
# How often a deferred progress request is looked at again when nothing
# else is being written.
PROGRESS_RECHECK_S = 0.1

_PROGRESS = object()  # queued for a progress request, in order with the responses


class WatchSession:
    """The watches of one stream (module docstring): ``emit`` writes one
    ``WatchResponse`` to the client, in the codec's form."""

    def __init__(self, store: Any, authorizer: Authorizer, token: str | None,
                 emit: Callable[[WatchResponse], Awaitable[None]], timeout: float) -> None:
        self.store = store
        self.authorizer = authorizer
        self.token = token
        self.emit = emit
        self.timeout = timeout
        self.watches: dict[int, Watcher] = {}  # the stream's watch ID -> the hub's watcher
        self._requests: dict[Watcher, WatchCreateRequest] = {}  # what each was created for
        self._ended: set[Watcher] = set()  # watches ended by an access check: write nothing more of theirs
        self._may_write = asyncio.Event()
        self._may_write.set()
        self._rechecking: asyncio.Task | None = None
        self._recheck_again = False
        self._next_id = 0
        self._pumps: set[asyncio.Task] = set()
        self._queue: asyncio.Queue = asyncio.Queue(maxsize=QUEUE_RESPONSES)
        self._holding = 0  # pumps holding a response they could not queue yet
        self._progress_due = 0

    async def run(self, requests, client_gone: Awaitable[None]) -> None:
        """Handle ``requests`` (an async iterator) in order, write responses
        until ``client_gone`` completes, then cancel every watch of the
        stream in the hub."""
        writer = asyncio.create_task(self._write(), name="watch-stream-writer")
        handler = asyncio.create_task(self._handle_all(requests), name="watch-stream-requests")
        gone = asyncio.ensure_future(client_gone)
        stop_watching_auth = self.authorizer.watch_changes(self._auth_changed)
        try:
            done, _ = await asyncio.wait({writer, gone}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is writer and not task.cancelled() and task.exception() is not None:
                    logger.error("watch stream writer failed", exc_info=task.exception())
        finally:
            stop_watching_auth()
            tasks = [writer, handler, gone, *self._pumps, *([self._rechecking] if self._rechecking else [])]
            for task in tasks:
                task.cancel()
            for watcher in list(self.watches.values()):
                watcher.cancel()  # the hub forgets it now, not when the task ends
            self.watches.clear()
            await asyncio.gather(*tasks, return_exceptions=True)

    # -- requests ------------------------------------------------------------------------

    async def _handle_all(self, requests) -> None:
        async for request in requests:
            try:
                await self._handle(request)
            except Exception as exc:  # a bug: logged, and the stream goes on with the next request
                internal_error(exc, f"handling {request!r} on a watch stream")

    async def _handle(self, request) -> None:
        if isinstance(request, WatchCreateRequest):
            await self._create(request)
        elif isinstance(request, WatchCancelRequest):
            watcher = self.watches.get(request.watch_id)
            if watcher is not None:
                watcher.cancel()  # its task delivers the canceled response
        else:
            await self._queue.put(_PROGRESS)

    async def _create(self, request: WatchCreateRequest) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                user = await self.authorizer.authenticate(self.token)
            self.authorizer.authorize(user, KIND, request)
        except Exception as exc:
            error = as_store_error(exc) or internal_error(exc, "authorizing a watch")
            await self._queue.put(self._refusal(grpc_reason(error)))
            return
        if is_empty_range(request.key, request.range_end):
            # refused before an ID is taken, as etcd's watch stream does
            await self._queue.put(self._refusal(EMPTY_RANGE_REASON))
            return
        local_id = request.watch_id
        if local_id == 0:
            while self._next_id in self.watches:
                self._next_id += 1
            local_id = self._next_id
            self._next_id += 1
        elif local_id in self.watches:
            await self._queue.put(self._refusal(DUPLICATE_ID_REASON))
            return
        # The hub numbers the member's watches; this stream keeps its own IDs.
        watcher = self.store.watch(dataclasses.replace(request, watch_id=0))
        created = watcher.poll()
        if watcher.id == INVALID_WATCH_ID:  # refused by the hub: its only response
            await self._queue.put(created)
            return
        self.watches[local_id] = watcher
        self._requests[watcher] = request
        await self._queue.put(_renumber(created, local_id))
        pump = asyncio.create_task(self._pump(local_id, watcher), name=f"watch-stream-{local_id}")
        self._pumps.add(pump)
        pump.add_done_callback(self._pumps.discard)

    def _refusal(self, reason: str) -> WatchResponse:
        return WatchResponse(
            header=self.store.header(), watch_id=INVALID_WATCH_ID, created=True, canceled=True, cancel_reason=reason,
        )

    async def _pump(self, local_id: int, watcher: Watcher) -> None:
        """Move ``watcher``'s responses to the queue until its last one."""
        try:
            while not watcher.done:
                try:
                    response = await watcher.next()
                except WatchClosed:
                    break
                if watcher in self._ended:
                    break
                self._holding += 1
                try:
                    await self._queue.put((watcher, _renumber(response, local_id)))
                finally:
                    self._holding -= 1
        finally:
            self._requests.pop(watcher, None)
            if self.watches.get(local_id) is watcher:
                del self.watches[local_id]  # the ID is free again, as in etcd

    # -- access checked again ------------------------------------------------------------

    def _auth_changed(self) -> None:
        """The auth state changed (``Authorizer.watch_changes``, called as
        the change is applied): hold the writer until every watch has been
        checked again."""
        self._may_write.clear()
        if self._rechecking is None:
            self._rechecking = asyncio.get_running_loop().create_task(self._recheck(), name="watch-stream-recheck")
        else:
            self._recheck_again = True

    async def _recheck(self) -> None:
        try:
            while True:
                self._recheck_again = False
                await self._check_watches()
                if not self._recheck_again:
                    return
        except Exception as exc:  # a bug: end every watch rather than serve unchecked
            internal_error(exc, "checking a watch stream's access again")
            for local_id, watcher in list(self.watches.items()):
                await self._end_watch(local_id, watcher, "etcdserver: access could not be checked again")
        finally:
            self._rechecking = None
            self._may_write.set()

    async def _check_watches(self) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                user = await self.authorizer.authenticate(self.token)
            refusal = None
        except Exception as exc:
            refusal = as_store_error(exc) or internal_error(exc, "authenticating a watch stream again")
        for local_id, watcher in list(self.watches.items()):
            request = self._requests.get(watcher)
            if request is None:
                continue
            denied = refusal
            if denied is None:
                try:
                    self.authorizer.authorize(user, KIND, request)
                    continue
                except Exception as exc:
                    denied = as_store_error(exc) or internal_error(exc, "authorizing a watch again")
            await self._end_watch(local_id, watcher, grpc_reason(denied))

    async def _end_watch(self, local_id: int, watcher: Watcher, reason: str) -> None:
        """End a watch its stream may no longer have: what it queued is not
        written; its last response says why."""
        self._ended.add(watcher)
        if self.watches.get(local_id) is watcher:
            del self.watches[local_id]
        self._requests.pop(watcher, None)
        watcher.cancel()
        await self._queue.put((None, WatchResponse(header=self.store.header(), watch_id=local_id, canceled=True,
                                                   cancel_reason=reason)))

    # -- writing -----------------------------------------------------------------------

    async def _write(self) -> None:
        queue = self._queue
        while True:
            if self._progress_due:
                try:
                    async with asyncio.timeout(PROGRESS_RECHECK_S):
                        item = await queue.get()
                except TimeoutError:
                    item = None
            else:
                item = await queue.get()
            await self._may_write.wait()
            if item is _PROGRESS:
                self._progress_due += 1
            elif isinstance(item, tuple):
                source, response = item
                if source is None or source not in self._ended:
                    await self._emit(response)
            elif item is not None:
                await self._emit(item)
            if self._progress_due and self._caught_up():
                due, self._progress_due = self._progress_due, 0
                for _ in range(due):
                    await self._emit(WatchResponse(header=self.store.header(), watch_id=INVALID_WATCH_ID))

    def _caught_up(self) -> bool:
        """Every watch of the stream has every event up to the store's
        revision, and all of it has been written."""
        if self._holding or not self._queue.empty():
            return False
        return all(
            watcher.state is WatcherState.SYNCED and watcher.buffered_responses == 0
            for watcher in self.watches.values()
        )

    async def _emit(self, response: WatchResponse) -> None:
        await self.emit(response)


def _renumber(response: WatchResponse, local_id: int) -> WatchResponse:
    if response.watch_id == local_id:
        return response
    return dataclasses.replace(response, watch_id=local_id)
