"""The service registry: services with live instances, and one service's
instances, kept current in the page over the live websocket."""
from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config_center.service.registry import check_service
from config_center.service.errors import InvalidError

from .pages import Page, console_page


@require_http_methods(["GET", "HEAD"])
@console_page
async def service_list(page: Page) -> HttpResponse:
    """The services; ``?name=`` opens one (it may have no instance yet)."""
    name = page.request.GET.get("name", "").strip()
    error = ""
    if name:
        try:
            return HttpResponseRedirect(reverse("console-service", args=[check_service(name)]))
        except InvalidError as refused:
            error = refused.message
    return page.render("console/services.html", {
        "section": "services", "services": await page.service.list_services(page.principal), "name": name,
        "name_error": error})


@require_http_methods(["GET", "HEAD"])
@console_page
async def service_page(page: Page, service: str) -> HttpResponse:
    listing = await page.service.service_instances(page.principal, service)
    return page.render("console/service.html", {"section": "services", "service": listing["service"],
                                                "instances": listing["instances"], "revision": listing["revision"]})
