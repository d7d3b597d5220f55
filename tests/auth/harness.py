"""An in-process member for auth tests: a real ``StoreStateMachine`` on a
temporary SQLite file, a fake Raft node that applies each proposal at the
next index (no consensus: one member, everything committed at once), and
the auth service, authorizer and routes wired as a node would wire them.

``Member.post(path, body, token)`` plays the gateway for the paths the
differential test uses: ``/v3/auth/*`` through the routes, the KV and lease
paths through ``json_codec``, ``authenticate`` and ``authorize`` first, as
the gateway's seam says (``consensus/etcd_api/authorization.py``).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from consensus.auth.authorizer import StoreAuthorizer
from consensus.auth.passwords import PasswordHasher
from consensus.auth.routes import UNAUTHENTICATED_PATHS, build_auth_routes, error_answer
from consensus.auth.service import AuthService
from consensus.auth.tokens import TokenSigner
from consensus.mvcc import json_codec
from consensus.mvcc.api import StoreError
from consensus.mvcc.log_codec import encode_request
from consensus.mvcc.state_machine import StoreStateMachine

SECRET = b"cluster-secret-for-tests-0123456789"
# Cheap scrypt for tests (the default costs ~0.1 s per hash).
FAST_HASHER = PasswordHasher(n=2**4, r=8, p=1)


class FakeNode:
    """Proposals apply at once, at the next index; ReadIndex is a no-op
    (there is one member and it has applied everything)."""

    def __init__(self, machine: StoreStateMachine) -> None:
        self.machine = machine
        self.index = machine.applied_index
        self.read_indexes = 0

    async def propose(self, payload: bytes) -> object:
        self.index += 1
        try:
            return self.machine.apply(self.index, payload)
        except StoreError as error:
            return error

    async def read_index(self) -> int:
        self.read_indexes += 1
        return self.index


@dataclass
class Member:
    machine: StoreStateMachine
    node: FakeNode
    tokens: TokenSigner
    service: AuthService
    authorizer: StoreAuthorizer
    routes: dict

    @classmethod
    def open(cls, path: Path, *, clock=None, hasher: PasswordHasher = FAST_HASHER, ttl: int = 300) -> Member:
        machine = StoreStateMachine.open(path)
        node = FakeNode(machine)
        tokens = TokenSigner(SECRET, ttl=ttl, **({"clock": clock} if clock else {}))
        service = AuthService(node, machine, tokens, hasher=hasher)
        # Starts open, as etcd does (what these tests compare with); a node
        # stays locked until its first leader has set auth up.
        authorizer = StoreAuthorizer(machine, tokens, read_index=node.read_index, locked_until_set_up=False)
        return cls(machine, node, tokens, service, authorizer, build_auth_routes(service))

    async def post(self, path: str, body: dict | str | bytes, token: str | None = None) -> tuple[int, dict]:
        raw = json.dumps(body).encode() if isinstance(body, dict) else body
        raw = raw.encode() if isinstance(raw, str) else raw
        if path in self.routes:
            user = None
            if path not in UNAUTHENTICATED_PATHS:
                try:
                    user = await self.authorizer.authenticate(token)
                except StoreError as error:
                    return _loads(error_answer(error))
            return _loads(await self.routes[path](raw, user, {}))
        try:
            return 200, json_codec.response_to_json(await self._kv(path, raw, token))
        except StoreError as error:
            status, answer = json_codec.error_to_json(error)
            return status, answer

    async def _kv(self, path: str, raw: bytes, token: str | None) -> Any:
        kind = json_codec.PATHS[path]
        request = json_codec.request_from_json(path, json_codec.parse_body(raw, kind))
        user = await self.authorizer.authenticate(token)
        self.authorizer.authorize(user, kind, request)
        if kind == "range":
            return self.machine.range(request)
        if kind == "lease_timetolive":
            return self.machine.lease_time_to_live(request, None)
        if kind == "lease_leases":
            return self.machine.lease_leases()
        result = await self.node.propose(encode_request(request))
        if isinstance(result, StoreError):
            raise result
        return result


def _loads(answer: tuple[int, bytes]) -> tuple[int, dict]:
    status, raw = answer
    return status, json.loads(raw)

