"""Namespaces: the searchable list, creating one, a namespace's page (its
items and pending changes) and its settings."""
from __future__ import annotations

import json
from typing import Any

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config_center.content import formats
from config_center.service.errors import ServiceError

from .pages import Page, console_page, field_errors

PAGE_SIZE = 50
SETTINGS_FIELDS = ["name", "description", "format", "schema", "retention", "four_eyes", "owners"]


@require_http_methods(["GET", "HEAD"])
@console_page
async def namespace_list(page: Page) -> HttpResponse:
    query = page.request.GET
    search = query.get("q", "").strip()
    cursor = query.get("after", "")
    fmt = query.get("format", "")
    if fmt not in formats.FORMATS:
        fmt = ""
    listing = await page.service.list_namespaces(page.principal, search=search, cursor=cursor, limit=PAGE_SIZE,
                                                 format=fmt)
    rows = listing["results"]
    return page.render("console/namespaces.html", {
        "section": "namespaces", "namespaces": rows, "next": listing["next"], "search": search,
        "format": fmt, "formats": formats.FORMATS, "cursor": cursor,
        "can_create": page.principal.is_superuser or any(role == "admin" for role, _ in page.principal.grants),
    })


def settings_from_form(data: Any, *, with_name: bool) -> tuple[dict, dict[str, str]]:
    """The namespace settings a form sent, and errors for the fields that
    do not even parse (the service checks the rest)."""
    errors: dict[str, str] = {}
    settings: dict[str, Any] = {
        "description": data.get("description", "").strip(),
        "format": data.get("format", formats.YAML),
        "four_eyes": data.get("four_eyes") == "on",
        "owners": [o for o in (part.strip() for part in data.get("owners", "").split(",")) if o],
    }
    schema_text = data.get("schema", "").strip()
    if schema_text:
        try:
            settings["schema"] = json.loads(schema_text)
        except ValueError as error:
            errors["schema"] = f"schema is not valid JSON: {error}"
    else:
        settings["schema"] = None
    retention = {}
    for field in ("max_releases", "max_age_days", "min_releases"):
        text = data.get(f"retention_{field}", "").strip()
        if not text.isdigit():
            errors["retention"] = f"retention.{field} must be a whole number >= 0"
            continue
        retention[field] = int(text)
    settings["retention"] = retention
    if with_name and not data.get("name", "").strip():
        errors["name"] = "Enter a name for the namespace, such as payments/prod."
    return settings, errors


def _form_values(data: Any, defaults: dict) -> dict:
    retention = defaults.get("retention") or {"max_releases": 100, "max_age_days": 0, "min_releases": 10}
    schema = defaults.get("schema")
    return {
        "name": data.get("name", defaults.get("name", "")),
        "description": data.get("description", defaults.get("description", "")),
        "format": data.get("format", defaults.get("format", formats.YAML)),
        "schema": data.get("schema", json.dumps(schema, indent=2) if schema is not None else ""),
        "four_eyes": (data.get("four_eyes") == "on") if data else defaults.get("four_eyes", False),
        "owners": data.get("owners", ", ".join(defaults.get("owners", []))),
        **{f"retention_{k}": data.get(f"retention_{k}", retention.get(k, "")) for k in
           ("max_releases", "max_age_days", "min_releases")},
    }


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def namespace_create(page: Page) -> HttpResponse:
    context = {"section": "namespaces", "formats": formats.FORMATS, "errors": {}}
    if page.request.method != "POST":
        return page.render("console/namespace_form.html", {**context, "values": _form_values({}, {}),
                                                           "creating": True})
    data = page.request.POST
    settings, errors = settings_from_form(data, with_name=True)
    values = _form_values(data, {})
    if not errors:
        name = data.get("name", "").strip()
        try:
            await page.service.create_namespace(page.principal, name, settings)
        except ServiceError as error:
            errors = field_errors(error, SETTINGS_FIELDS, {"namespace": "name", "a namespace name": "name"})
        else:
            return HttpResponseRedirect(reverse("console-namespace", args=[name]) + "?created=1")
    return page.render("console/namespace_form.html", {**context, "values": values, "errors": errors,
                                                       "creating": True})


@require_http_methods(["GET", "HEAD"])
@console_page
async def namespace_page(page: Page, ns: str) -> HttpResponse:
    namespace = await page.service.get_namespace(page.principal, ns)
    items = await page.service.list_items(page.principal, ns)
    pending = await page.service.pending_changes(page.principal, ns)
    query = page.request.GET
    notice = ("Namespace created. Add its first item." if query.get("created")
              else f"Draft of {query['saved']} saved." if query.get("saved")
              else f"Draft of {query['discarded']} discarded." if query.get("discarded")
              else f"Published release #{query['published']}." if query.get("published") else "")
    return page.render("console/namespace.html", {
        "section": "namespaces", "ns": ns, "namespace": namespace, "items": items,
        "pending": pending["changes"], "can": page.can(ns), "notice": notice,
        "live_revision": namespace["revision"],
    })


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def namespace_settings(page: Page, ns: str) -> HttpResponse:
    namespace = await page.service.get_namespace(page.principal, ns)
    context = {"section": "namespaces", "ns": ns, "formats": formats.FORMATS, "errors": {}, "creating": False,
               "namespace": namespace}
    if page.request.method != "POST":
        return page.render("console/namespace_form.html", {**context, "values": _form_values({}, namespace)})
    data = page.request.POST
    settings, errors = settings_from_form(data, with_name=False)
    revision = data.get("revision", "")
    if not errors:
        try:
            await page.service.update_namespace(page.principal, ns, settings,
                                                int(revision) if revision.isdigit() else None)
        except ServiceError as error:
            errors = field_errors(error, SETTINGS_FIELDS)
        else:
            return HttpResponseRedirect(reverse("console-namespace", args=[ns]))
    return page.render("console/namespace_form.html", {**context, "values": _form_values(data, namespace),
                                                       "errors": errors})
