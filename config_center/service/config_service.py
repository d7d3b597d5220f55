"""``ConfigService``: every operation the API offers, each checked against
the caller's permissions (``access``) before the rule-keeping modules run
it. The REST views, the console and the websocket consumers call this and
nothing below it."""
from __future__ import annotations

import asyncio
from typing import Any

from config_center.content import formats

from . import (audit, canary, cursors, delivery, diffs, items, namespaces, registry, releases, sessions, tokens,
               transfer, users, validation)
from .access_watch import AccessWatch
from .activity import ActivitySubscription
from .delivery import DeliveryTracker
from .prefix_subscription import check_since
from .live_feed import LiveFeeds
from .subscriptions import ChangeRenderer, LiveSubscription, check_item_filter
from .access import DRAFT, MANAGE, PUBLISH, READ, REVEAL, Principal
from .context import ServiceContext
from .live_reads import TokenPrincipals
from .errors import ForbiddenError, InvalidError, NotAuthenticatedError, NotFoundError, TooManyAttemptsError
from .login_throttle import REFUSAL_PAUSE_SECONDS, LoginThrottle, PasswordChecks


class ConfigService:
    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.token_principals = TokenPrincipals(ctx)
        self.change_renderer = ChangeRenderer(ctx)
        self.live_feeds = LiveFeeds(ctx, self.change_renderer)
        self.delivery = DeliveryTracker(ctx)
        self.access_watch = AccessWatch(ctx)
        # Login's guards (``login_throttle``) and its bounded audit of failures.
        self.login_throttle = LoginThrottle(ctx.clock)
        self.password_checks = PasswordChecks()
        self.login_failures = users.LoginFailureLog(ctx)

    # -- who is calling -----------------------------------------------------------------------

    async def login(self, name: Any, password: Any, address: str = "") -> Principal:
        """The principal for a correct name and password from ``address``.
        ``TooManyAttemptsError`` (429, ``retry_after``) when the name or the
        address must wait or too many checks are in flight: decided before
        any hashing, raised after a short pause; ``NotAuthenticatedError``
        for a wrong name or password (``login_throttle`` has the rules)."""
        key = name if isinstance(name, str) else ""
        try:
            self.login_throttle.check(key, address)
            principal = await users.authenticate(
                self.ctx, name, password, address, checks=self.password_checks,
                trusted=self.login_throttle.trusted(key, address), failures=self.login_failures)
        except TooManyAttemptsError:
            await asyncio.sleep(REFUSAL_PAUSE_SECONDS)
            raise
        except NotAuthenticatedError:
            self.login_throttle.failed(key, address)
            raise
        self.login_throttle.succeeded(key, address)
        return principal

    async def user_principal(self, name: str, address: str = "") -> Principal:
        return await users.principal(self.ctx, name, address)

    async def start_session(self, p: Principal, *, lifetime: float) -> str:
        """A login session for ``p`` (just logged in), ended by
        ``end_session`` or by a password change, a disable or a delete of
        its user (``sessions``); the secret its cookie holds."""
        return await sessions.start(self.ctx, p, lifetime=lifetime)

    async def end_session(self, user: Any, secret: Any) -> None:
        await sessions.end(self.ctx, user, secret)

    async def session_principal(self, user: Any, secret: Any, address: str = "") -> Principal:
        """The principal of a running session; ``NotAuthenticatedError`` once
        it has ended."""
        return await sessions.principal(self.ctx, user, secret, address)

    async def token_principal(self, raw: str, address: str = "") -> Principal:
        return await self.token_principals.get(raw, address)

    # -- namespaces --------------------------------------------------------------------------------

    async def list_namespaces(self, p: Principal, *, search: str = "", cursor: Any = None, limit: int = 50,
                              format: str = "") -> dict:
        """Namespaces ``p`` may read; ``format``: only those whose items
        default to it."""
        if format and format not in formats.FORMATS:
            raise InvalidError(f"format must be one of {', '.join(formats.FORMATS)}")
        return await namespaces.list_page(self.ctx, search=search, cursor=cursor, limit=limit,
                                          visible=lambda ns: p.allowed(READ, ns), format=format)

    async def create_namespace(self, p: Principal, name: Any, settings: Any) -> dict:
        if not isinstance(name, str):
            raise InvalidError("a namespace name is required")
        p.require(MANAGE, name)
        return await namespaces.create(self.ctx, p.actor, name, settings)

    async def get_namespace(self, p: Principal, ns: str) -> dict:
        p.require(READ, ns)
        return await namespaces.get(self.ctx, ns)

    async def update_namespace(self, p: Principal, ns: str, changes: Any, revision: Any) -> dict:
        p.require(MANAGE, ns)
        return await namespaces.update(self.ctx, p.actor, ns, changes, revision)

    async def delete_namespace(self, p: Principal, ns: str, revision: Any, *, archive: bool = False) -> dict:
        p.require(MANAGE, ns)
        return await namespaces.delete(self.ctx, p.actor, ns, revision, archive=archive)

    # -- items and drafts --------------------------------------------------------------------------

    async def list_items(self, p: Principal, ns: str) -> list[dict]:
        p.require(READ, ns)
        return await items.listing(self.ctx, ns)

    async def list_items_page(self, p: Principal, ns: str, *, cursor: Any = None, limit: int = 1000) -> dict:
        """A page of ``list_items``: ``{"namespace", "items", "next"}``."""
        listed = await self.list_items(p, ns)
        shown, following = cursors.page(cursors.listing(cursors.ITEMS, ns), listed, "name", cursor, limit)
        return {"namespace": ns, "items": shown, "next": following}

    async def get_item(self, p: Principal, ns: str, name: str, *, draft: bool = False) -> dict:
        p.require(READ, ns)
        return await items.get(self.ctx, ns, name, draft=draft, reveal=p.allowed(REVEAL, ns))

    async def validate_content(self, p: Principal, ns: str, format: Any, content: Any) -> dict:
        """What saving and publishing ``content`` would say of it, as a
        report (``validation``); nothing is written."""
        p.require(READ, ns)
        return await validation.check(self.ctx, ns, format, content)

    async def live_config(self, p: Principal, ns: str) -> dict:
        p.require(READ, ns)
        return await items.live_config(self.ctx, ns, reveal=p.allowed(REVEAL, ns))

    async def subscribe(self, p: Principal, ns: Any, *, since: Any = None, items: Any = None,
                        instance: dict | None = None) -> LiveSubscription:
        """A started subscription to ``ns``'s live config (``subscriptions``);
        ``instance`` (checked by ``delivery.check_instance``) for canaries."""
        subscription = LiveSubscription(self.ctx, self.change_renderer, ns, since=check_since(since),
                                        items=check_item_filter(items), reveal=False, instance=instance,
                                        feeds=self.live_feeds)
        p.require(READ, subscription.namespace)
        subscription.reveal = p.allowed(REVEAL, subscription.namespace)
        await subscription.start()
        return subscription

    # -- the service registry ------------------------------------------------------------------------

    async def register_instance(self, p: Principal, service: Any, instance_id: Any, body: Any) -> dict:
        p.require(DRAFT, registry.check_service(service))
        return await registry.register(self.ctx, service, instance_id, body, by=p.actor.name)

    async def keepalive_instance(self, p: Principal, service: Any, instance_id: Any, lease: Any) -> dict:
        p.require(DRAFT, registry.check_service(service))
        return await registry.keepalive(self.ctx, service, instance_id, lease)

    async def deregister_instance(self, p: Principal, service: Any, instance_id: Any) -> dict:
        p.require(DRAFT, registry.check_service(service))
        return await registry.deregister(self.ctx, service, instance_id)

    async def service_instances(self, p: Principal, service: Any, *, cursor: Any = None,
                                limit: int | None = None) -> dict:
        """The instances of ``service``; with ``limit``, a page of them
        (``next``: the cursor of the following page)."""
        p.require(READ, registry.check_service(service))
        listing = await registry.instances(self.ctx, service)
        if limit is None:
            return listing
        shown, following = cursors.page(cursors.listing(cursors.INSTANCES, listing["service"]),
                                        listing["instances"], "id", cursor, limit)
        return {**listing, "instances": shown, "next": following}

    async def list_services(self, p: Principal) -> list[dict]:
        return await registry.services(self.ctx, visible=lambda name: p.allowed(READ, name))

    async def list_services_page(self, p: Principal, *, cursor: Any = None, limit: int = 100) -> dict:
        """A page of ``list_services``: ``{"results", "next"}``."""
        shown, following = cursors.page(cursors.SERVICES, await self.list_services(p), "service", cursor, limit)
        return {"results": shown, "next": following}

    async def subscribe_service(self, p: Principal, service: Any, *, since: Any = None) -> registry.RegistrySubscription:
        subscription = registry.RegistrySubscription(self.ctx, registry.check_service(service),
                                                     since=check_since(since))
        p.require(READ, subscription.topic)
        await subscription.start()
        return subscription

    async def subscribe_activity(self, p: Principal, ns: Any, *, since: Any = None) -> ActivitySubscription:
        """Every change made to ``ns`` from now (or after ``since``), as its
        audit log records it (``activity``): what the console watches."""
        subscription = ActivitySubscription(self.ctx, ns, since=check_since(since))
        p.require(READ, subscription.topic)
        await subscription.start()
        return subscription

    async def delivery_status(self, p: Principal, ns: str) -> dict:
        """Who is subscribed to ``ns`` and what they applied (``delivery``)."""
        p.require(READ, ns)
        await namespaces.get(self.ctx, ns)
        return await delivery.read(self.ctx, ns)

    async def save_draft(self, p: Principal, ns: str, name: str, content: Any, *, format: str | None = None,
                         comment: str = "", revision: Any = None, secret: Any = None) -> dict:
        p.require(DRAFT, ns)
        return await items.save_draft(self.ctx, p.actor, ns, name, content, format=format, comment=comment,
                                      base_revision=revision, secret=secret, reveal=p.allowed(REVEAL, ns))

    async def draft_delete(self, p: Principal, ns: str, name: str, *, comment: str = "", revision: Any = None) -> dict:
        p.require(DRAFT, ns)
        return await items.draft_delete(self.ctx, p.actor, ns, name, comment=comment, base_revision=revision)

    async def discard_draft(self, p: Principal, ns: str, name: str, *, revision: Any = None) -> dict:
        p.require(DRAFT, ns)
        return await items.discard_draft(self.ctx, p.actor, ns, name, base_revision=revision)

    # -- releases ------------------------------------------------------------------------------------

    async def publish(self, p: Principal, ns: str, *, comment: Any = "", revision: Any = None) -> dict:
        p.require(PUBLISH, ns)
        return await releases.publish(self.ctx, p.actor, ns, comment=comment, base_revision=revision)

    async def start_canary(self, p: Principal, ns: str, *, labels: Any = None, percent: Any = None,
                           comment: Any = "", revision: Any = None) -> dict:
        p.require(PUBLISH, ns)
        return await canary.start(self.ctx, p.actor, ns, labels=labels, percent=percent, comment=comment,
                                  base_revision=revision)

    async def get_canary(self, p: Principal, ns: str) -> dict:
        p.require(READ, ns)
        await namespaces.get(self.ctx, ns)
        running = await canary.current(self.ctx, ns)
        return {"running": running is not None, **({"canary": running} if running else {})}

    async def promote_canary(self, p: Principal, ns: str, *, comment: Any = "", revision: Any = None) -> dict:
        p.require(PUBLISH, ns)
        return await canary.promote(self.ctx, p.actor, ns, comment=comment, base_revision=revision)

    async def abandon_canary(self, p: Principal, ns: str, *, comment: Any = "", revision: Any = None) -> dict:
        p.require(PUBLISH, ns)
        return await canary.abandon(self.ctx, p.actor, ns, comment=comment, base_revision=revision)

    async def rollback(self, p: Principal, ns: str, to_release: Any, *, comment: Any = "",
                       revision: Any = None) -> dict:
        p.require(PUBLISH, ns)
        return await releases.rollback(self.ctx, p.actor, ns, to_release, comment=comment, base_revision=revision)

    async def list_releases(self, p: Principal, ns: str, *, cursor: Any = None, limit: int = 50) -> dict:
        p.require(READ, ns)
        return await releases.list_page(self.ctx, ns, cursor=cursor, limit=limit)

    async def release_summary(self, p: Principal, ns: str, seq: int) -> dict:
        """Release ``seq`` as the listing shows it (no items, no content)."""
        p.require(READ, ns)
        return await releases.summary(self.ctx, ns, seq)

    async def get_release(self, p: Principal, ns: str, seq: Any) -> dict:
        p.require(READ, ns)
        return await releases.get(self.ctx, ns, seq, with_content=True, reveal=p.allowed(REVEAL, ns))

    async def prune(self, p: Principal, ns: str) -> dict:
        p.require(MANAGE, ns)
        return await releases.prune(self.ctx, p.actor, ns)

    # -- diffs ---------------------------------------------------------------------------------------

    async def pending_changes(self, p: Principal, ns: str) -> dict:
        p.require(READ, ns)
        return await diffs.drafts_vs_live(self.ctx, ns, reveal=p.allowed(REVEAL, ns))

    async def diff(self, p: Principal, ns: str, old: Any, new: Any, *, item: str | None = None, offset: int = 0,
                   limit: int | None = None) -> dict:
        p.require(READ, ns)
        if not isinstance(offset, int) or offset < 0 or (limit is not None and not (isinstance(limit, int)
                                                                                     and 1 <= limit <= 1000)):
            raise InvalidError("offset must be 0 or more and limit from 1 to 1000")
        return await diffs.between(self.ctx, ns, old, new, item=item, reveal=p.allowed(REVEAL, ns), offset=offset,
                                   limit=limit)

    # -- import, export, promotion ------------------------------------------------------------

    async def export_namespace(self, p: Principal, ns: str) -> dict:
        p.require(READ, ns)
        return await transfer.export(self.ctx, ns, reveal=p.allowed(REVEAL, ns))

    async def import_bundle(self, p: Principal, ns: str, bundle: Any, *, dry_run: bool = True, prune: bool = False,
                            revision: Any = None, comment: str = "") -> dict:
        p.require(DRAFT, ns)
        return await transfer.import_bundle(self.ctx, p.actor, ns, bundle, dry_run=dry_run, prune=prune,
                                            base_revision=revision, comment=comment, reveal=p.allowed(REVEAL, ns))

    async def promote(self, p: Principal, source: Any, target: str, *, dry_run: bool = True, prune: bool = False,
                      revision: Any = None, comment: str = "") -> dict:
        if not isinstance(source, str):
            raise InvalidError("'from' must name the namespace to promote from")
        p.require(READ, source)
        p.require(DRAFT, target)
        reveal = p.allowed(REVEAL, source) and p.allowed(REVEAL, target)
        return await transfer.promote(self.ctx, p.actor, source, target, dry_run=dry_run, prune=prune,
                                      base_revision=revision, comment=comment, reveal=reveal)

    # -- audit ---------------------------------------------------------------------------------------

    async def audit(self, p: Principal, *, namespace: str | None = None, actor: str | None = None,
                    action: str | None = None, since: str | None = None, until: str | None = None,
                    cursor: Any = None, limit: int = 50) -> tuple[list[dict], str | None]:
        if namespace is None:
            p.require_superuser()
        else:
            p.require(READ, namespace)
        if not 1 <= limit <= 500:
            raise InvalidError("limit must be between 1 and 500")
        return await audit.query(self.ctx, chain=namespace, actor=actor, action=action, since=since, until=until,
                                 cursor=cursor, limit=limit)

    async def verify_audit(self, p: Principal, chain: str) -> dict:
        if chain == users.GLOBAL:
            p.require_superuser()
        else:
            p.require(READ, chain)
        return (await audit.verify(self.ctx, chain)).as_dict()

    # -- users and tokens ------------------------------------------------------------------------------

    async def list_users(self, p: Principal, *, cursor: Any = None, limit: int = 100) -> dict:
        p.require_superuser()
        return await users.listing(self.ctx, cursor=cursor, limit=limit)

    async def get_user(self, p: Principal, name: str) -> dict:
        """One user (no password hash): administrators, or the user themself."""
        if name != p.user:
            p.require_superuser()
        user = await users.get(self.ctx, name)
        if user is None:
            raise NotFoundError(f"user {name!r} does not exist")
        return users.public(user)

    async def create_user(self, p: Principal, name: Any, password: Any, grants: Any) -> dict:
        p.require_superuser()
        return await users.create(self.ctx, p.actor, name, password, grants)

    async def update_user(self, p: Principal, name: str, **changes: Any) -> dict:
        if changes.keys() - {"password"} or name != p.user or p.token_id is not None:
            p.require_superuser()  # everyone may change their own password, nothing else
        return await users.update(self.ctx, p.actor, name, **changes)

    async def delete_user(self, p: Principal, name: str) -> None:
        p.require_superuser()
        if name == p.user:
            raise ForbiddenError("administrators cannot delete themselves")
        await users.delete(self.ctx, p.actor, name)

    async def create_token(self, p: Principal, **fields: Any) -> dict:
        return await tokens.create(self.ctx, p, **fields)

    async def list_tokens(self, p: Principal, *, cursor: Any = None, limit: int = 100) -> dict:
        return await tokens.listing(self.ctx, p, cursor=cursor, limit=limit)

    async def revoke_token(self, p: Principal, token_id: Any) -> dict:
        return await tokens.revoke(self.ctx, p, token_id)

