"""The publish dialog: every drafted change with its full diff, a required
comment, then the release. The namespace revision the reviewer saw goes
with the form, so a change drafted after they looked is never published
unseen (409: the dialog shows the new state)."""
from __future__ import annotations

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config_center.service.errors import ConflictError, ServiceError

from .pages import Page, console_page, field_errors


async def _dialog(page: Page, ns: str, *, comment: str = "", errors: dict | None = None) -> HttpResponse:
    namespace = await page.service.get_namespace(page.principal, ns)
    pending = await page.service.pending_changes(page.principal, ns)
    return page.render("console/publish.html", {
        "section": "namespaces", "ns": ns, "namespace": namespace, "changes": pending["changes"],
        "revision": pending["revision"], "comment": comment, "errors": errors or {}, "can": page.can(ns),
        "live_revision": namespace["revision"],
    })


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def publish(page: Page, ns: str) -> HttpResponse:
    if page.request.method != "POST":
        return await _dialog(page, ns)
    comment = page.request.POST.get("comment", "").strip()
    revision = page.request.POST.get("revision", "")
    if not comment:
        return await _dialog(page, ns, errors={"comment": "Say what this release changes and why."})
    try:
        release = await page.service.publish(page.principal, ns, comment=comment,
                                             revision=int(revision) if revision.isdigit() else None)
    except ConflictError:
        return await _dialog(page, ns, comment=comment, errors={
            "form": "The drafts changed while you were reviewing them: review the changes below and publish again."})
    except ServiceError as error:
        return await _dialog(page, ns, comment=comment, errors=field_errors(error, ["comment"]))
    return HttpResponseRedirect(reverse("console-namespace", args=[ns]) + f"?published={release['seq']}")
