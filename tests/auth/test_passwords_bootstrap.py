"""Password hashes, and the bootstrap of the first root user (idempotent,
deterministic, the password returned only to the proposal that created
root, and written 0600 atomically)."""
from __future__ import annotations

import asyncio
import os
import stat

import pytest

from consensus.auth import commands as c
from consensus.auth.api import AuthenticateRequest
from consensus.auth.bootstrap import ROOT_PASSWORD_FILE, bootstrap_root, write_root_password_file
from consensus.auth.passwords import DEFAULT_N, PasswordHasher, hash_password, verify_password
from consensus.mvcc.log_codec import encode_request

from .harness import Member


def test_hash_and_verify():
    encoded = hash_password("correct horse", n=2**4)
    assert encoded.startswith("scrypt$16$8$1$") and "correct horse" not in encoded
    assert verify_password("correct horse", encoded)
    assert not verify_password("correct horsE", encoded)
    assert hash_password("x", n=2**4) != hash_password("x", n=2**4)  # fresh salt each time
    assert verify_password("", hash_password("", n=2**4))
    assert verify_password("ünïcödé \ud800", hash_password("ünïcödé \ud800", n=2**4))


@pytest.mark.parametrize("bad", [
    "", "scrypt", "bcrypt$16$8$1$AAAA$AAAA", "scrypt$15$8$1$AAAA$AAAA", "scrypt$16$8$1$!!$AAAA",
    "scrypt$16$8$1$AAAA$", f"scrypt${2**30}$8$1$AAAA$AAAA", "scrypt$16$0$1$AAAA$AAAA",
])
def test_malformed_hashes_match_nothing(bad):
    assert not verify_password("", bad)


def test_default_cost_and_hasher_bounds():
    assert PasswordHasher().n == DEFAULT_N == 2**15
    with pytest.raises(ValueError):
        PasswordHasher(n=1000)
    with pytest.raises(ValueError):
        PasswordHasher(r=0)


def test_the_default_hasher_works_off_the_loop():
    async def scenario():
        hasher = PasswordHasher()
        encoded = await hasher.hash("pw")
        assert await hasher.verify("pw", encoded) and not await hasher.verify("pW", encoded)
    asyncio.run(scenario())


# -- bootstrap -------------------------------------------------------------------------------


def test_bootstrap_creates_root_once(tmp_path):
    async def scenario():
        member = Member.open(tmp_path / "s.db")
        password = await bootstrap_root(member.service)
        assert password and len(password) >= 40
        state = member.machine.auth_state
        assert state.enabled and state.users["root"].is_root and list(state.roles) == ["root"]
        token = (await member.service.authenticate(AuthenticateRequest(name="root", password=password))).token
        assert await member.authorizer.authenticate(token) == "root"
        assert await bootstrap_root(member.service) is None  # initialized: nothing proposed
        proposals = member.node.index
        assert await bootstrap_root(member.service) is None and member.node.index == proposals
        assert member.machine.auth_state == state
    asyncio.run(scenario())


def test_a_racing_second_proposal_is_a_no_op(tmp_path):
    """Two leaders in turn both saw a pristine state: only the first
    proposal applies; the second caller gets no password."""
    async def scenario():
        member = Member.open(tmp_path / "s.db")
        first = member.service.hasher.hash_sync("first")
        assert await member.service.bootstrap_root(first) is True
        assert await member.service.bootstrap_root(member.service.hasher.hash_sync("second")) is False
        assert member.machine.auth_state.users["root"].password_hash == first
    asyncio.run(scenario())


def test_bootstrap_leaves_a_touched_state_alone(tmp_path):
    async def scenario():
        member = Member.open(tmp_path / "s.db")
        await member.node.propose(encode_request(c.AddRole(name="ops")))
        assert await bootstrap_root(member.service) is None
        assert not member.machine.auth_state.enabled and "root" not in member.machine.auth_state.users
    asyncio.run(scenario())


def test_bootstrap_is_deterministic_on_every_member(tmp_path):
    """The same log on two members gives the same state (the hash is in the
    entry; nothing is chosen at apply)."""
    async def scenario():
        a = Member.open(tmp_path / "a.db")
        await bootstrap_root(a.service)
        b = Member.open(tmp_path / "b.db")
        entry = encode_request(c.BootstrapRoot(password_hash=a.machine.auth_state.users["root"].password_hash))
        b.machine.apply(1, entry)
        assert b.machine.auth_state == a.machine.auth_state
    asyncio.run(scenario())


def test_root_password_file_is_0600_and_atomic(tmp_path):
    old_umask = os.umask(0)  # even a permissive umask gives 0600
    try:
        path = write_root_password_file(tmp_path, "s3cret")
    finally:
        os.umask(old_umask)
    assert path == tmp_path / ROOT_PASSWORD_FILE
    assert path.read_text() == "s3cret\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    write_root_password_file(tmp_path, "again")
    assert path.read_text() == "again\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == [ROOT_PASSWORD_FILE]  # no temporary left


def test_the_bootstrap_task_stops_when_cancelled_even_if_its_proposal_fails_at_that_moment(tmp_path):
    """asyncio.wait_for (3.11) can answer a cancel with the awaited
    future's own failure; the member's bootstrap loop must still end, not
    retry against a node that has stopped (seen: a node stopped by SIGINT
    while the first leader bootstrapped root hung for 10 s)."""
    from consensus.member import _bootstrap_root_when_leader
    from consensus.node import NotLeaderError

    class LeaderNode:
        is_leader = True
        stopped = False

    class FailingService:
        calls = 0

        async def state(self):
            FailingService.calls += 1
            # The stop arrives while the proposal waits, and the wait
            # answers it with the node's failure, as wait_for can.
            waiting = asyncio.get_running_loop().create_future()
            asyncio.get_running_loop().call_soon(asyncio.current_task().cancel)
            try:
                await waiting
            except asyncio.CancelledError:
                raise NotLeaderError("node is shutting down") from None

    async def run():
        task = asyncio.create_task(_bootstrap_root_when_leader(LeaderNode(), FailingService(), tmp_path))
        async with asyncio.timeout(2):
            with pytest.raises(asyncio.CancelledError):
                await task

    asyncio.run(run())
    assert FailingService.calls == 1
    assert not (tmp_path / ROOT_PASSWORD_FILE).exists()
