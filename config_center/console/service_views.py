"""The service registry in the console: the services that have live
instances, and one service's instances.

A service page is rendered from a linearizable read at store revision R
and carries R; static/console/registry.js then subscribes to the service
with ``since=R``, so every registration and removal after the read reaches
the open page exactly once, and none before it is shown twice."""
from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config_center.service.errors import InvalidError
from config_center.service.registry import check_service

from .pages import Page, console_page


def instance_row(instance: dict) -> dict:
    """An instance as the table shows it; registry.js builds the same row
    from a live message, so the two must agree."""
    registered = (instance.get("registered_at") or "")[:19].replace("T", " ")
    return {**instance, "registered": registered, "metadata_pairs": sorted(instance.get("metadata", {}).items())}


@require_http_methods(["GET", "HEAD"])
@console_page
async def service_list(page: Page) -> HttpResponse:
    """The visible services with their instance counts. ``?name=`` opens a
    service by name, which may have no instance yet (to watch it come up)."""
    name = page.request.GET.get("name", "").strip()
    name_error = ""
    if name:
        try:
            return HttpResponseRedirect(reverse("console-service", args=[check_service(name)]))
        except InvalidError as refused:
            name_error = refused.message
    services = await page.service.list_services(page.principal)
    return page.render("console/services.html", {
        "section": "services", "services": services, "name": name, "name_error": name_error,
        "instance_total": sum(s["instances"] for s in services),
    })


@require_http_methods(["GET", "HEAD"])
@console_page
async def service_page(page: Page, service: str) -> HttpResponse:
    listing = await page.service.service_instances(page.principal, service)
    return page.render("console/service.html", {
        "section": "services", "service": listing["service"], "revision": listing["revision"],
        "instances": [instance_row(i) for i in listing["instances"]],
    })
