"""Tokens: signature and tampering, expiry and clock skew, and what makes a
signed token stop standing for its user (deleted, password changed, auth
disabled and enabled again) — through the authorizer, on a member."""
from __future__ import annotations

import asyncio

import pytest

from consensus.auth import commands as c
from consensus.auth.api import (
    AuthenticateRequest,
    AuthUserAddRequest,
    AuthUserChangePasswordRequest,
    AuthUserDeleteRequest,
    AuthUserGrantRoleRequest,
    InvalidAuthTokenError,
    UserAddOptions,
)
from consensus.auth.tokens import DEFAULT_TTL, MAX_CLOCK_SKEW, TokenSigner
from consensus.mvcc.api import RangeRequest

from .harness import SECRET, Member


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_round_trip_and_shape():
    signer = TokenSigner(SECRET, clock=Clock())
    token = signer.issue("alice", 7)
    assert token.startswith("ccv1.") and token.count(".") == 2 and token.isascii()
    claims = signer.verify(token)
    assert (claims.user, claims.auth_revision, claims.expires_at - claims.issued_at) == ("alice", 7, DEFAULT_TTL)


def flip(text: str, i: int) -> str:
    return text[:i] + ("A" if text[i] != "A" else "B") + text[i + 1:]


def test_every_tampered_character_is_refused():
    signer = TokenSigner(SECRET, clock=Clock())
    token = signer.issue("alice", 7)
    for i in range(len(token)):
        tampered = flip(token, i)
        with pytest.raises(InvalidAuthTokenError):
            signer.verify(tampered)
    for bad in ("", "garbage", "ccv1..", "ccv1.a.b", token + "=", token + ".x", " " + token, "ccv2" + token[4:]):
        with pytest.raises(InvalidAuthTokenError):
            signer.verify(bad)


def test_another_clusters_secret_does_not_verify():
    token = TokenSigner(SECRET, clock=Clock()).issue("alice", 7)
    with pytest.raises(InvalidAuthTokenError):
        TokenSigner(b"another secret of sufficient length", clock=Clock()).verify(token)


def test_expiry_and_skew():
    clock = Clock()
    signer = TokenSigner(SECRET, ttl=300, clock=clock)
    token = signer.issue("alice", 7)
    clock.now += 299
    signer.verify(token)
    clock.now += 1
    with pytest.raises(InvalidAuthTokenError):
        signer.verify(token)
    # A member whose clock is behind the issuer's accepts a token from its
    # near future, not from its far future.
    behind = Clock(1_700_000_000.0 - MAX_CLOCK_SKEW)
    TokenSigner(SECRET, clock=behind).verify(token)
    behind.now -= 1
    with pytest.raises(InvalidAuthTokenError):
        TokenSigner(SECRET, clock=behind).verify(token)


def test_short_secret_is_refused():
    with pytest.raises(ValueError):
        TokenSigner(b"short")


# -- through the authorizer ------------------------------------------------------------------


def run(coro):
    return asyncio.run(coro)


async def setup(tmp_path, clock=None) -> Member:
    member = Member.open(tmp_path / "s.db", clock=clock)
    service = member.service
    await service.user_add(AuthUserAddRequest(name="root", password="rootpw"), actor=None)
    await service.user_grant_role(AuthUserGrantRoleRequest(user="root", role="root"), actor=None)
    await service.user_add(AuthUserAddRequest(name="alice", password="alicepw"), actor=None)
    await member.node.propose(_encoded(c.EnableAuth()))
    return member


def _encoded(command) -> bytes:
    from consensus.mvcc.log_codec import encode_request
    return encode_request(command)


async def token_of(member: Member, name: str, password: str) -> str:
    return (await member.service.authenticate(AuthenticateRequest(name=name, password=password))).token


def test_a_token_names_its_user(tmp_path):
    async def scenario():
        member = await setup(tmp_path)
        token = await token_of(member, "alice", "alicepw")
        assert await member.authorizer.authenticate(token) == "alice"
        assert await member.authorizer.authenticate(None) is None  # anonymous; authorize decides
        for bad in ("", "garbage", flip(token, len(token) - 3)):
            with pytest.raises(InvalidAuthTokenError):
                await member.authorizer.authenticate(bad)
    run(scenario())


def test_expired_token_is_invalid(tmp_path):
    async def scenario():
        clock = Clock()
        member = await setup(tmp_path, clock=clock)
        token = await token_of(member, "alice", "alicepw")
        clock.now += DEFAULT_TTL
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(token)
    run(scenario())


def test_password_change_invalidates_the_users_tokens_only(tmp_path):
    async def scenario():
        member = await setup(tmp_path)
        alice, root = await token_of(member, "alice", "alicepw"), await token_of(member, "root", "rootpw")
        await member.service.user_change_password(
            AuthUserChangePasswordRequest(name="alice", password="new"), actor="root")
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(alice)
        assert await member.authorizer.authenticate(root) == "root"
        assert await member.authorizer.authenticate(await token_of(member, "alice", "new")) == "alice"
    run(scenario())


def test_deleted_and_recreated_user_keeps_no_old_token(tmp_path):
    async def scenario():
        member = await setup(tmp_path)
        token = await token_of(member, "alice", "alicepw")
        await member.service.user_delete(AuthUserDeleteRequest(name="alice"), actor="root")
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(token)
        await member.service.user_add(AuthUserAddRequest(name="alice", password="alicepw"), actor="root")
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(token)
    run(scenario())


def test_role_changes_need_no_new_token(tmp_path):
    async def scenario():
        member = await setup(tmp_path)
        token = await token_of(member, "alice", "alicepw")
        user = await member.authorizer.authenticate(token)
        with pytest.raises(Exception):
            member.authorizer.authorize(user, "range", RangeRequest(key=b"k"))
        await member.service.user_grant_role(AuthUserGrantRoleRequest(user="alice", role="root"), actor="root")
        assert await member.authorizer.authenticate(token) == "alice"
        member.authorizer.authorize(user, "range", RangeRequest(key=b"k"))
    run(scenario())


def test_disable_ignores_tokens_and_reenable_invalidates_them(tmp_path):
    async def scenario():
        member = await setup(tmp_path)
        token = await token_of(member, "root", "rootpw")
        await member.node.propose(_encoded(c.DisableAuth(actor="root")))
        # Auth off: a token is ignored (etcd >= 3.4.26), even a bad one.
        assert await member.authorizer.authenticate(token) is None
        assert await member.authorizer.authenticate("garbage") is None
        await member.node.propose(_encoded(c.EnableAuth()))
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(token)
        assert await member.authorizer.authenticate(await token_of(member, "root", "rootpw")) == "root"
    run(scenario())


def test_a_lagging_member_catches_up_before_refusing(tmp_path):
    """A token issued by a member ahead of this one is checked again after a
    ReadIndex."""
    async def scenario():
        member = await setup(tmp_path)
        ahead = member.tokens.issue("carol", member.machine.auth_state.revision + 1)

        async def catch_up():
            await member.service.user_add(AuthUserAddRequest(name="carol", password="pw"), actor="root")

        member.authorizer._read_index = catch_up  # the ReadIndex that applies what was committed
        assert await member.authorizer.authenticate(ahead) == "carol"
        member.authorizer._read_index = None
        farther = member.tokens.issue("carol", member.machine.auth_state.revision + 5)
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(farther)
    run(scenario())


def test_no_password_user_gets_no_token(tmp_path):
    async def scenario():
        member = await setup(tmp_path)
        await member.service.user_add(
            AuthUserAddRequest(name="bot", options=UserAddOptions(no_password=True)), actor="root")
        forged_by_a_member = member.tokens.issue("bot", member.machine.auth_state.revision)
        with pytest.raises(InvalidAuthTokenError):
            await member.authorizer.authenticate(forged_by_a_member)
    run(scenario())
