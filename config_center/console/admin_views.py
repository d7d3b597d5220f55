"""Administration in the console: users and their grants (administrators
only; the service refuses anyone else, which shows its 403 page), and API
tokens (everyone their own, administrators every one).

A new token's secret exists in one place only: the answer to the form that
created it. It is never put in the session, a redirect or a later page, and
that answer is marked ``no-store`` so the browser does not keep it either.

Forms are checked here with the service's own checks before anything is
sent, so a form shows every mistake at once, next to its field; the
service checks again and its refusals are placed the same way."""
from __future__ import annotations

import re
import time

from django.http import HttpResponse, HttpResponseRedirect, QueryDict
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_http_methods

from config_center.service import access, tokens as token_rules, users as user_rules
from config_center.service.errors import InvalidError, ServiceError

from .pages import Page, console_page, field_errors

PAGE_SIZE = 50
EMPTY_GRANT_ROWS = 2  # blank rows a grants form offers for new grants
ROLES = list(access.ROLES)
TOKEN_ACCESS = list(access.TOKEN_ACCESS)
TOKEN_DEFAULTS = {"name": "", "namespaces": "*", "access": "read", "expires_in_days": "90"}
_TOKEN_ID = re.compile(r"[0-9a-f]{12}\Z")
USER_SAVED = {
    "created": "User created. They can log in now.",
    "grants": "Grants saved. They apply from the user's next request, to their tokens as well.",
    "password": "Password changed.",
    "disabled": "Account disabled: the user cannot log in, and their tokens are refused.",
    "enabled": "Account enabled.",
}
# Where a refusal of each user-page action is shown.
USER_ACTION_FIELD = {"grants": "grants", "password": "password", "disable": "account", "enable": "account",
                     "delete": "confirm"}


# -- grants -----------------------------------------------------------------------------------------


def grant_rows_from(data: QueryDict) -> tuple[list[dict], list[dict]]:
    """The filled-in grant rows of a form, each with its error ("" if
    none), and the grants they make (to send only when no row has an
    error). A row with no namespace pattern grants nothing: that is how a
    grant is removed."""
    rows = []
    for role, pattern in zip(data.getlist("grant_role"), data.getlist("grant_namespaces")):
        pattern = pattern.strip()
        if not pattern:
            continue
        error = (f"Choose one of the roles {', '.join(ROLES)}." if role not in access.ROLES
                 else _pattern_error(pattern))
        rows.append({"role": role, "namespaces": pattern, "error": error})
    grants = [{"role": row["role"], "namespaces": row["namespaces"]} for row in rows]
    return rows, grants


def with_blank_rows(rows: list[dict]) -> list[dict]:
    return rows + [{"role": "viewer", "namespaces": "", "error": ""} for _ in range(EMPTY_GRANT_ROWS)]


def _rule_error(check, value) -> str:
    try:
        check(value)
    except InvalidError as refused:
        return refused.message[:1].upper() + refused.message[1:] + "."
    return ""


def _pattern_error(pattern: str) -> str:
    message = _rule_error(access.check_pattern, pattern)
    return f"{message} A pattern is *, name/* or a namespace name." if message else ""


def _user_refusal(error: ServiceError) -> dict[str, str]:
    return field_errors(error, ["name", "password", "grants"],
                        {"user": "name", "a user name": "name", "a password": "password", "each grant": "grants",
                         "unknown role": "grants", "a namespace pattern": "grants", "namespace": "grants"})


# -- users ------------------------------------------------------------------------------------------


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def users(page: Page) -> HttpResponse:
    """Every user with grants and state, a page at a time; POST creates one
    and opens its page."""
    page.principal.require_superuser()
    errors: dict[str, str] = {}
    name, rows = "", []
    if page.request.method == "POST":
        data = page.request.POST
        name, password = data.get("name", "").strip(), data.get("password", "")
        rows, grants = grant_rows_from(data)
        errors = {field: message for field, message in (
            ("name", _rule_error(user_rules.check_name, name)),
            ("password", _rule_error(user_rules.check_password, password))) if message}
        if not errors and not any(row["error"] for row in rows):
            try:
                await page.service.create_user(page.principal, name, password, grants)
            except ServiceError as error:
                errors = _user_refusal(error)
            else:
                # The form posts to #new-user (to show its errors); a redirect without a fragment keeps it.
                return HttpResponseRedirect(reverse("console-user", args=[name]) + "?saved=created#main")
    cursor = page.request.GET.get("after", "")
    listing = await page.service.list_users(page.principal, cursor=cursor, limit=PAGE_SIZE)
    deleted = page.request.GET.get("deleted", "")
    return page.render("console/users.html", {
        "section": "admin", "users": listing["results"], "next": listing["next"], "cursor": cursor,
        "errors": errors, "name": name, "grant_rows": with_blank_rows(rows), "roles": ROLES,
        "notice": f"User {deleted} deleted." if deleted else "",
    })


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def user_page(page: Page, name: str) -> HttpResponse:
    """One user: change the grants, reset the password, disable or enable
    the account, delete it (typing the name to confirm). Each change
    redirects back here with a notice; a refused one shows its message
    next to the form it came from. Administrators are not offered to
    disable or delete their own account: nobody would be left to undo it."""
    page.principal.require_superuser()
    user = await page.service.get_user(page.principal, name)
    errors: dict[str, str] = {}
    rows = [{**grant, "error": ""} for grant in user["grants"]]
    if page.request.method == "POST":
        data = page.request.POST
        action = data.get("action", "")
        changes: dict = {}
        if action == "grants":
            rows, grants = grant_rows_from(data)
            if not any(row["error"] for row in rows):
                changes = {"grants": grants}
        elif action == "password":
            errors = {"password": _rule_error(user_rules.check_password, data.get("password", ""))}
            changes = {"password": data.get("password", "")}
        elif action in ("disable", "enable", "delete") and name == page.principal.user:
            errors = {USER_ACTION_FIELD[action]: "Administrators cannot disable or delete their own account."}
        elif action in ("disable", "enable"):
            changes = {"disabled": action == "disable"}
        elif action == "delete":
            if data.get("confirm", "").strip() != name:
                errors = {"confirm": f"Type the user name, {name}, to confirm."}
        else:
            errors = {"form": "Unknown action: use one of this page's buttons."}
        errors = {field: message for field, message in errors.items() if message}
        if not errors and (changes or action == "delete"):
            try:
                if action == "delete":
                    await page.service.delete_user(page.principal, name)
                    return HttpResponseRedirect(reverse("console-users") + "?deleted=" + name)
                await page.service.update_user(page.principal, name, **changes)
            except ServiceError as error:
                errors = {USER_ACTION_FIELD[action]: error.message}
            else:
                saved = {"disable": "disabled", "enable": "enabled"}.get(action, action)
                return HttpResponseRedirect(reverse("console-user", args=[name]) + "?saved=" + saved)
    return page.render("console/user.html", {
        "section": "admin", "user": user, "grant_rows": with_blank_rows(rows), "roles": ROLES,
        "errors": errors, "notice": USER_SAVED.get(page.request.GET.get("saved", ""), ""),
        "is_me": name == page.principal.user,
    })


# -- API tokens -------------------------------------------------------------------------------------


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())


def token_form_errors(values: dict[str, str]) -> dict[str, str]:
    """What is wrong with a new-token form, field by field (the service's
    rules, checked before asking it)."""
    errors = {}
    if not 1 <= len(values["name"]) <= 100:
        errors["name"] = "Say what the token is for, in 1 to 100 characters."
    if message := _pattern_error(values["namespaces"]):
        errors["namespaces"] = message
    if values["access"] not in access.TOKEN_ACCESS:
        errors["access"] = f"Choose one of {', '.join(TOKEN_ACCESS)}."
    days = values["expires_in_days"]
    if days and not (days.isdigit() and 1 <= int(days) <= token_rules.MAX_DAYS):
        errors["expires_in_days"] = (f"Enter a whole number of days from 1 to {token_rules.MAX_DAYS}, or leave it "
                                     "empty for a token that never expires.")
    return errors


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def tokens(page: Page) -> HttpResponse:
    """The caller's tokens (an administrator's: every user's), a page at a
    time. POST creates one, answered with its secret shown this once, or
    (``action=revoke``) revokes one; ``?revoke=<id>`` asks to confirm."""
    errors: dict[str, str] = {}
    values = dict(TOKEN_DEFAULTS)
    created = None
    if page.request.method == "POST":
        data = page.request.POST
        if data.get("action") == "revoke":
            revoked = await page.service.revoke_token(page.principal, data.get("token_id", ""))
            return HttpResponseRedirect(reverse("console-tokens") + "?revoked=" + revoked["id"])
        values = {field: data.get(field, "").strip() for field in TOKEN_DEFAULTS}
        errors = token_form_errors(values)
        if not errors:
            days = values["expires_in_days"]
            try:
                created = await page.service.create_token(
                    page.principal, name=values["name"], namespaces=values["namespaces"],
                    access_level=values["access"], expires_in_days=int(days) if days else None)
            except ServiceError as error:
                errors = field_errors(error, ["access", "expires_in_days"],
                                      {"a token": "name", "a namespace pattern": "namespaces",
                                       "namespace": "namespaces", "a namespace": "namespaces"})
            else:
                values = dict(TOKEN_DEFAULTS)
    query = page.request.GET
    cursor = query.get("after", "")
    listing = await page.service.list_tokens(page.principal, cursor=cursor, limit=PAGE_SIZE)
    now = _now_iso()
    rows = [{**t, "expired": bool(t["expires_at"]) and t["expires_at"] <= now} for t in listing["results"]]
    confirm = None
    if query.get("revoke"):
        confirm = next((t for t in rows if t["id"] == query["revoke"] and not t["revoked_at"]), None)
        if confirm is None:
            errors["revoke"] = "That token is not on this page or is revoked already."
    revoked = query.get("revoked", "")
    response = page.render("console/tokens.html", {
        "section": "tokens", "tokens": rows, "next": listing["next"], "cursor": cursor, "errors": errors,
        "values": values, "created": created, "confirm": confirm, "accesses": TOKEN_ACCESS,
        "notice": (f"Token {revoked} revoked: requests with it are refused from now on."
                   if _TOKEN_ID.match(revoked) else ""),
    })
    if created is not None:
        patch_cache_control(response, no_store=True, private=True)
    return response
