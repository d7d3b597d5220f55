"""``/v3/cluster/member/list|add|remove|update|promote`` in etcd 3.4's gateway JSON.

Shapes checked against a real etcd 3.4.23: members carry ``ID`` (a decimal
string), ``name``, ``peerURLs``, ``clientURLs`` and ``isLearner``, each left
out when empty/false; the header has ``cluster_id``, ``member_id`` and
``raft_term`` but no revision. Peer URLs are written ``tcp://host:port``
(our peer transport is not HTTP); on input ``host:port`` and ``http://``
forms are accepted too.
"""
from __future__ import annotations

import json
from typing import Any, Awaitable, Callable

from consensus.mvcc.api import InvalidRequestError, StoreError
from consensus.mvcc.json_codec import error_to_json

from consensus.mvcc.retryable_errors import as_store_error
from consensus.node import NotLeaderError

from .members import ClusterMembers, MemberInfo

Handler = Callable[[bytes, Any, Any], Awaitable[tuple[int, bytes]]]

MEMBER_PATHS = (
    "/v3/cluster/member/list",
    "/v3/cluster/member/add",
    "/v3/cluster/member/remove",
    "/v3/cluster/member/update",
    "/v3/maintenance/transfer-leadership",
    "/v3/cluster/member/promote",
)


def member_json(member: MemberInfo) -> dict:
    out: dict[str, Any] = {"ID": str(member.id)}
    if member.name:
        out["name"] = member.name
    if member.peer_urls:
        out["peerURLs"] = list(member.peer_urls)
    if member.client_urls:
        out["clientURLs"] = list(member.client_urls)
    if member.is_learner:
        out["isLearner"] = True
    return out


def _parse(body: bytes) -> dict:
    if not body.strip():
        return {}
    try:
        obj = json.loads(body)
    except ValueError as error:
        raise InvalidRequestError(f"invalid JSON body: {error}") from None
    if not isinstance(obj, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    return obj


def _member_id(obj: dict) -> int:
    raw = obj.get("ID", 0)
    try:
        value = int(raw) if not isinstance(raw, bool) else None
    except (TypeError, ValueError):
        value = None
    if value is None or not 0 <= value < 1 << 64:
        raise InvalidRequestError(f"ID must be an unsigned 64-bit integer, got {raw!r}")
    return value


def member_routes(members: ClusterMembers, header: Callable[[], dict], authorize: Callable[[Any, str], None]) -> dict[str, Handler]:
    """The four handlers, keyed by path. ``header()`` gives the response
    header (cluster_id, member_id, raft_term as strings); ``authorize(user,
    kind)`` raises a StoreError unless the user may change membership."""

    def answer(body: dict) -> tuple[int, bytes]:
        return 200, json.dumps({"header": header(), **body}, separators=(",", ":")).encode()

    def failed(error: StoreError) -> tuple[int, bytes]:
        status, body = error_to_json(error)
        return status, json.dumps(body, separators=(",", ":")).encode()

    def guarded(kind: str, run: Callable[[dict], Awaitable[dict]]) -> Handler:
        async def handler(body: bytes, user: Any, headers: Any) -> tuple[int, bytes]:
            try:
                authorize(user, kind)
                return answer(await run(_parse(body)))
            except (StoreError, NotLeaderError, TimeoutError) as error:
                return failed(as_store_error(error))
        return handler

    async def list_members(obj: dict) -> dict:
        return {"members": [member_json(m) for m in await members.list()]}

    async def add_member(obj: dict) -> dict:
        urls = obj.get("peerURLs") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidRequestError("peerURLs must be a list of strings")
        added = await members.add(urls, is_learner=bool(obj.get("isLearner", False)))
        return {"member": member_json(added), "members": [member_json(m) for m in members.members()]}

    async def remove_member(obj: dict) -> dict:
        await members.remove(_member_id(obj))
        return {"members": [member_json(m) for m in members.members()]}

    async def update_member(obj: dict) -> dict:
        urls = obj.get("peerURLs") or []
        if not isinstance(urls, list) or not all(isinstance(u, str) for u in urls):
            raise InvalidRequestError("peerURLs must be a list of strings")
        await members.update(_member_id(obj), urls)
        return {"members": [member_json(m) for m in members.members()]}

    async def promote_member(obj: dict) -> dict:
        await members.promote(_member_id(obj))
        return {"members": [member_json(m) for m in members.members()]}

    async def move_leader(obj: dict) -> dict:
        raw = obj.get("targetID", obj.get("target_id"))
        await members.move_leader(_member_id({"ID": raw}))
        return {}

    return {
        "/v3/cluster/member/list": guarded("member_list", list_members),
        "/v3/cluster/member/add": guarded("member_add", add_member),
        "/v3/cluster/member/remove": guarded("member_remove", remove_member),
        "/v3/cluster/member/update": guarded("member_update", update_member),
        "/v3/cluster/member/promote": guarded("member_promote", promote_member),
        "/v3/maintenance/transfer-leadership": guarded("move_leader", move_leader),
    }
