"""The hot path: applications reading a namespace's live config with an API
token, many times a second.

``LiveReader.read`` costs one linearizable read when nothing changed: the
namespace's head (whose mod_revision moves with every change of the
namespace, ``changes``) is read through ReadIndex, and if it is the
revision the cached answer was built at, the cached answer is current.
The token and its owner are checked the same way: their records' revisions,
read locally at that same point, must be the ones the cached principal
was built from (a revoked token, a changed grant, a disabled user rebuild
it, and fail), and the token's expiry is checked against the clock every
time. Anything else rebuilds from the store, exactly as ``items.live_config``
and ``tokens.authenticate`` do.
"""
from __future__ import annotations

import dataclasses
import json
from collections import OrderedDict
from dataclasses import dataclass

from consensus.mvcc.api import RangeRequest

from config_center.store import keys, records

from . import items, tokens
from .access import READ, REVEAL, Principal
from .context import ServiceContext
from .errors import NotAuthenticatedError
from .names import check_namespace

MAX_NAMESPACES = 1000
MAX_TOKENS = 10_000


@dataclass(frozen=True)
class LiveAnswer:
    revision: int  # the namespace's revision (its head's mod_revision)
    config: dict  # what ``items.live_config`` returns
    body: bytes  # ``config`` as compact JSON, rendered once per revision


@dataclass(frozen=True)
class _CachedPrincipal:
    principal: Principal
    token_revision: int
    user_revision: int
    expires_at: float | None


class TokenPrincipals:
    """Principals of API tokens, remembered with the revisions of the token
    and owner records they were built from (module docstring)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self._cache: OrderedDict[str, _CachedPrincipal] = OrderedDict()

    async def get(self, raw_token: str, address: str = "", at: int = 0) -> Principal:
        """The token's principal as of revision ``at`` (0: as this member has
        applied the store; like etcd's own auth checks, this is the local
        state, not a ReadIndex: a revocation counts on a member from the
        moment it has applied it)."""
        cached = self._cache.get(raw_token) if isinstance(raw_token, str) else None
        if cached is not None:
            token_key = keys.token(cached.principal.token_id or "")
            if at:
                token_kv = await records.get(self.ctx.client, token_key, revision=at, serializable=True)
            else:
                response = await self.ctx.client.range(RangeRequest(key=token_key, serializable=True))
                token_kv, at = (response.kvs[0] if response.kvs else None), response.header.revision
            user_kv = await records.get(self.ctx.client, keys.user(cached.principal.user), revision=at,
                                        serializable=True)
            fresh = (token_kv is not None and user_kv is not None and token_kv.mod_revision == cached.token_revision
                     and user_kv.mod_revision == cached.user_revision
                     and (cached.expires_at is None or cached.expires_at > self.ctx.clock()))
            if fresh:
                self._cache.move_to_end(raw_token)
                if cached.principal.address == address:
                    return cached.principal
                return dataclasses.replace(cached.principal, address=address)
            del self._cache[raw_token]
        principal = await tokens.authenticate(self.ctx, raw_token, address)
        token_kv = await records.get(self.ctx.client, keys.token(principal.token_id or ""))
        user_kv = await records.get(self.ctx.client, keys.user(principal.user))
        if token_kv is None or user_kv is None:
            raise NotAuthenticatedError("invalid, expired or revoked API token")
        expires = records.decode(token_kv.value)["expires_at"]
        _remember(self._cache, raw_token, _CachedPrincipal(
            principal, token_kv.mod_revision, user_kv.mod_revision, tokens.epoch(expires) if expires else None,
        ), MAX_TOKENS)
        return principal


class LiveReader:
    def __init__(self, ctx: ServiceContext, principals: TokenPrincipals | None = None) -> None:
        self.ctx = ctx
        self.principals = principals or TokenPrincipals(ctx)
        self._answers: OrderedDict[tuple[str, bool], LiveAnswer] = OrderedDict()

    async def read(self, raw_token: str, ns: str, address: str = "") -> LiveAnswer:
        """The live config of ``ns`` for the holder of ``raw_token``.
        Raises ``NotAuthenticatedError``, ``ForbiddenError``, ``NotFoundError``."""
        check_namespace(ns)
        head = await self.ctx.client.range(RangeRequest(key=keys.head(ns)))
        at = head.header.revision
        principal = await self.principals.get(raw_token, address, at)
        principal.require(READ, ns)
        reveal = principal.allowed(REVEAL, ns)
        revision = head.kvs[0].mod_revision if head.kvs else 0
        cached = self._answers.get((ns, reveal))
        if cached is not None and cached.revision == revision:
            self._answers.move_to_end((ns, reveal))
            return cached
        config = await items.live_config(self.ctx, ns, reveal=reveal)
        body = json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
        answer = LiveAnswer(config["revision"], config, body)
        _remember(self._answers, (ns, reveal), answer, MAX_NAMESPACES)
        return answer


def _remember(cache: OrderedDict, key, value, limit: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > limit:
        cache.popitem(last=False)
