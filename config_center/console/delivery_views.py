"""Delivery: which instances are connected and which release each applied,
how each release propagated, and the canary release (start one by labels
and/or a percentage, watch it being adopted, promote or abandon it)."""
from __future__ import annotations

from datetime import datetime, timezone

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config_center.service.errors import ServiceError

from .pages import Page, console_page, field_errors

CANARY_FIELDS = ["labels", "percent", "comment"]


def parse_labels(text: str) -> tuple[dict | None, str]:
    """``team=core, zone=eu`` as a dict (None when empty), or an error."""
    if not text.strip():
        return None, ""
    labels = {}
    for part in text.split(","):
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            return None, f"labels must be key=value pairs separated by commas; {part.strip()!r} is not one"
        labels[key.strip()] = value.strip()
    return labels, ""


async def _page(page: Page, ns: str, *, errors: dict | None = None, values: dict | None = None,
                notice: str = "") -> HttpResponse:
    namespace = await page.service.get_namespace(page.principal, ns)
    status = await page.service.delivery_status(page.principal, ns)
    running = (await page.service.get_canary(page.principal, ns)).get("canary")
    pending = await page.service.pending_changes(page.principal, ns) if running is None else {"changes": []}
    for instance in status["instances"]:
        instance["connected"] = datetime.fromtimestamp(instance["connected_at"], timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S") if instance.get("connected_at") else ""
    on_canary = sum(1 for i in status["instances"] if running and i.get("applied_release") == running["seq"])
    return page.render("console/delivery.html", {
        "section": "namespaces", "ns": ns, "namespace": namespace, "status": status, "canary": running,
        "on_canary": on_canary, "pending": pending["changes"], "can": page.can(ns), "errors": errors or {},
        "values": values or {"labels": "", "percent": "", "comment": ""}, "notice": notice,
        "live_revision": namespace["revision"],
    })


@require_http_methods(["GET", "HEAD"])
@console_page
async def delivery(page: Page, ns: str) -> HttpResponse:
    done = page.request.GET.get("done", "")
    return await _page(page, ns, notice={"started": "Canary started.", "promote": "Canary promoted to everyone.",
                                         "abandon": "Canary abandoned: its instances get the main release back."
                                         }.get(done, ""))


@require_POST
@console_page
async def canary(page: Page, ns: str) -> HttpResponse:
    data = page.request.POST
    action = data.get("action", "start")
    values = {k: data.get(k, "").strip() for k in CANARY_FIELDS}
    revision = data.get("revision", "")
    base = int(revision) if revision.isdigit() else None
    errors: dict = {}
    if not values["comment"]:
        errors["comment"] = "Say why."
    try:
        if action in ("promote", "abandon"):
            if not errors:
                step = page.service.promote_canary if action == "promote" else page.service.abandon_canary
                await step(page.principal, ns, comment=values["comment"], revision=base)
                return HttpResponseRedirect(reverse("console-delivery", args=[ns]) + f"?done={action}")
        else:
            labels, label_error = parse_labels(values["labels"])
            if label_error:
                errors["labels"] = label_error
            percent = None
            if values["percent"]:
                if not values["percent"].isdigit():
                    errors["percent"] = "percent must be a whole number from 1 to 100"
                else:
                    percent = int(values["percent"])
            if not errors:
                await page.service.start_canary(page.principal, ns, labels=labels, percent=percent,
                                                comment=values["comment"], revision=base)
                return HttpResponseRedirect(reverse("console-delivery", args=[ns]) + "?done=started")
    except ServiceError as error:
        errors = field_errors(error, CANARY_FIELDS, {"a canary needs": "labels"})
    return await _page(page, ns, errors=errors, values=values)
