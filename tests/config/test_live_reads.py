"""The hot read path: a cached answer is reused only while the namespace,
the token and its owner are unchanged, and never past the token's expiry."""
from __future__ import annotations

import pytest

from config_center.service.access import Principal
from config_center.service.config_service import ConfigService
from config_center.service.errors import ForbiddenError, NotAuthenticatedError, NotFoundError
from config_center.service.live_reads import LiveReader

from .service_support import with_service
from .test_access import FastHasher

ROOT = Principal("root", (("admin", "*"),))


class Clock:
    now = 1_790_000_000.0

    def __call__(self):
        return self.now


def test_cached_answers_follow_every_change(tmp_path):
    clock = Clock()

    async def body(ctx, store):
        ctx.passwords = FastHasher()
        service = ConfigService(ctx)
        reader = LiveReader(ctx)
        await service.create_namespace(ROOT, "app/prod", {})
        await service.save_draft(ROOT, "app/prod", "a.yaml", "v: 1\n")
        await service.publish(ROOT, "app/prod", revision=(await service.get_namespace(ROOT, "app/prod"))["revision"])
        await service.create_user(ROOT, "app", "app password 1", [{"role": "viewer", "namespaces": "*"}])
        user = await service.login("app", "app password 1")
        token = (await service.create_token(user, name="t", namespaces="app/*", access_level="read",
                                            expires_in_days=1))["token"]

        first = await reader.read(token, "app/prod", "10.0.0.9")
        assert first.config["items"]["a.yaml"]["content"] == "v: 1\n"
        assert b'"v: 1\\n"' in first.body
        assert await reader.read(token, "app/prod") is first, "nothing changed: the same answer"

        # A draft changes the namespace's revision but not its live config.
        await service.save_draft(ROOT, "app/prod", "a.yaml", "v: 2\n",
                                 revision=(await service.get_item(ROOT, "app/prod", "a.yaml"))["revision"])
        drafted = await reader.read(token, "app/prod")
        assert drafted.revision > first.revision and drafted.config["items"] == first.config["items"]
        await service.publish(ROOT, "app/prod", revision=(await service.get_namespace(ROOT, "app/prod"))["revision"])
        published = await reader.read(token, "app/prod")
        assert published.config["items"]["a.yaml"]["content"] == "v: 2\n"

        with pytest.raises(NotFoundError):
            await reader.read(token, "app/nope")
        with pytest.raises(ForbiddenError):
            await reader.read(token, "other/prod")

        # The owner loses the grant: refused at once, though the token is cached.
        await service.update_user(ROOT, "app", grants=[{"role": "viewer", "namespaces": "other/*"}])
        with pytest.raises(ForbiddenError):
            await reader.read(token, "app/prod")
        await service.update_user(ROOT, "app", grants=[{"role": "viewer", "namespaces": "*"}])
        await reader.read(token, "app/prod")
        clock.now += 86400 + 1
        with pytest.raises(NotAuthenticatedError):
            await reader.read(token, "app/prod")
        clock.now -= 86400 + 1
        await reader.read(token, "app/prod")
        await service.revoke_token(user, token.split("_")[1])
        with pytest.raises(NotAuthenticatedError):
            await reader.read(token, "app/prod")
        with pytest.raises(NotAuthenticatedError):
            await reader.read("cct_nope", "app/prod")

    with_service(tmp_path, body, clock=clock)
