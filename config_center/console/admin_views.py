"""Administration: users and their grants (administrators), and API tokens
(everyone their own; administrators all). A new token's secret is shown
once, in the answer to the form that made it, and never again."""
from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config_center.service.access import ROLES, TOKEN_ACCESS
from config_center.service.errors import ServiceError

from .pages import Page, console_page, field_errors

GRANT_ROWS = 3  # empty grant rows a user form offers


def grants_from_form(data) -> list[dict]:
    """The grant rows of a form that have a namespace pattern."""
    roles, patterns = data.getlist("grant_role"), data.getlist("grant_namespaces")
    return [{"role": role, "namespaces": pattern.strip()} for role, pattern in zip(roles, patterns) if pattern.strip()]


def _grant_rows(grants: list[dict]) -> list[dict]:
    return list(grants) + [{"role": "viewer", "namespaces": ""}] * GRANT_ROWS


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def users(page: Page) -> HttpResponse:
    page.principal.require_superuser()
    errors, values = {}, {"name": "", "grants": []}
    if page.request.method == "POST":
        data = page.request.POST
        values = {"name": data.get("name", "").strip(), "grants": grants_from_form(data)}
        password = data.get("password", "")
        if not values["name"]:
            errors["name"] = "Enter a user name."
        if not password:
            errors["password"] = "Enter a password of at least 10 characters."
        if not errors:
            try:
                await page.service.create_user(page.principal, values["name"], password, values["grants"])
            except ServiceError as error:
                errors = field_errors(error, ["name", "password", "grants"],
                                      {"user": "name", "a user name": "name", "each grant": "grants",
                                       "unknown role": "grants", "a namespace pattern": "grants",
                                       "namespace": "grants", "passwords": "password", "a password": "password"})
            else:
                return HttpResponseRedirect(reverse("console-users") + "?created=" + values["name"])
    listing = await page.service.list_users(page.principal, limit=500)
    created = page.request.GET.get("created", "")
    return page.render("console/users.html", {
        "section": "admin", "users": listing["results"], "errors": errors, "values": values,
        "grant_rows": _grant_rows(values["grants"]), "roles": list(ROLES),
        "notice": f"User {created} created." if created else "",
    })


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def user_page(page: Page, name: str) -> HttpResponse:
    page.principal.require_superuser()
    errors: dict = {}
    notice = ""
    if page.request.method == "POST":
        data = page.request.POST
        action = data.get("action")
        try:
            if action == "grants":
                await page.service.update_user(page.principal, name, grants=grants_from_form(data))
                notice = "Grants saved."
            elif action in ("disable", "enable"):
                await page.service.update_user(page.principal, name, disabled=action == "disable")
                notice = "Account disabled." if action == "disable" else "Account enabled."
            elif action == "password":
                if not data.get("password"):
                    errors["password"] = "Enter the new password."
                else:
                    await page.service.update_user(page.principal, name, password=data["password"])
                    notice = "Password changed."
            elif action == "delete":
                if data.get("confirm") != name:
                    errors["confirm"] = f"Type {name} to confirm."
                else:
                    await page.service.delete_user(page.principal, name)
                    return HttpResponseRedirect(reverse("console-users"))
            else:
                errors["form"] = "Unknown action."
        except ServiceError as error:
            errors = field_errors(error, ["password", "grants"],
                                  {"each grant": "grants", "unknown role": "grants", "a namespace pattern": "grants",
                                   "namespace": "grants", "passwords": "password", "a password": "password"})
    user = await page.service.get_user(page.principal, name)
    return page.render("console/user.html", {
        "section": "admin", "user": user, "grant_rows": _grant_rows(user["grants"]), "roles": list(ROLES),
        "errors": errors, "notice": notice,
    })


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def tokens(page: Page) -> HttpResponse:
    errors: dict = {}
    values = {"name": "", "namespaces": "*", "access": "read", "expires_in_days": "90"}
    created = None
    notice = ""
    if page.request.method == "POST":
        data = page.request.POST
        if data.get("action") == "revoke":
            revoked = await page.service.revoke_token(page.principal, data.get("token_id", ""))
            notice = f"Token {revoked['name']} revoked: it no longer works."
        else:
            values = {k: data.get(k, "").strip() for k in values}
            days = values["expires_in_days"]
            if days and not days.isdigit():
                errors["expires_in_days"] = "expires_in_days must be a whole number of days (or empty: never)"
            else:
                try:
                    created = await page.service.create_token(
                        page.principal, name=values["name"], namespaces=values["namespaces"],
                        access_level=values["access"], expires_in_days=int(days) if days else None)
                except ServiceError as error:
                    errors = field_errors(error, ["namespaces", "access", "expires_in_days"],
                                          {"a token": "name", "a namespace pattern": "namespaces",
                                           "namespace": "namespaces"})
    listing = await page.service.list_tokens(page.principal, limit=500)
    return page.render("console/tokens.html", {
        "section": "tokens", "tokens": listing["results"], "errors": errors, "values": values,
        "created": created, "accesses": list(TOKEN_ACCESS), "notice": notice,
    })
