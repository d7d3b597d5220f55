"""A namespace's release history, the comparison of two of its releases,
and rolling back to one of them. (Publishing is ``publish_views``.)"""
from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from config_center.service.access import PUBLISH
from config_center.service.errors import ConflictError, NotFoundError, ServiceError

from .diff_pages import diff_page
from .pages import Page, console_page, field_errors

PAGE_SIZE = 50
# A publish may touch hundreds of items: the history names the first few.
CHANGES_SHOWN = 6


def _release_row(release: dict) -> dict:
    changes = sorted((release.get("changes") or {}).items())
    return {**release, "changed": [{"name": name, "op": op} for name, op in changes[:CHANGES_SHOWN]],
            "changed_more": max(0, len(changes) - CHANGES_SHOWN), "changed_count": len(changes)}


async def release_summary(page: Page, ns: str, seq: int) -> dict:
    """Release ``seq`` of ``ns`` without its item list (one read, no
    content); ``NotFoundError`` when it was never made or is pruned."""
    return await page.service.release_summary(page.principal, ns, seq)


def _history_notice(query) -> str:
    """What the redirect after a rollback asks the history page to say."""
    made, target, pending = query.get("rolled_back", ""), query.get("to", ""), query.get("drafts", "0")
    if not (made.isdigit() and target.isdigit()):
        return ""
    notice = f"Rolled back: release #{made} is live, with the items of release #{target}."
    if pending.isdigit() and int(pending):
        notice += f" {pending} draft(s) are still pending; the rollback left them as they were."
    return notice


@require_http_methods(["GET", "HEAD"])
@console_page
async def history(page: Page, ns: str) -> HttpResponse:
    """Releases newest first, ``PAGE_SIZE`` a page; ``before``: the cursor
    the previous page gave (the service refuses any other with a 400).
    Any two can be picked for comparing."""
    before = page.request.GET.get("before", "")
    namespace = await page.service.get_namespace(page.principal, ns)
    listing = await page.service.list_releases(page.principal, ns, cursor=before or None, limit=PAGE_SIZE)
    rows = [_release_row(release) for release in listing["results"]]
    return page.render("console/releases.html", {
        "section": "namespaces", "ns": ns, "namespace": namespace, "releases": rows, "next": listing["next"],
        "before": before, "can": page.can(ns), "notice": _history_notice(page.request.GET),
        "live_revision": namespace["revision"],
        # On the first page the two newest are picked, the usual question
        # being "what did the last release change".
        "picked_new": rows[0]["seq"] if rows and not before else None,
        "picked_old": rows[1]["seq"] if len(rows) > 1 and not before else None,
    })


def _release_number_errors(query) -> dict[str, str]:
    errors: dict[str, str] = {}
    labels = {"old": "older", "new": "newer"}
    for field in ("old", "new"):
        text = query.get(field, "").strip()
        if not text:
            errors[field] = f"Pick the {labels[field]} release to compare (its number, such as 3)."
        elif not text.isdigit() or int(text) < 1:
            errors[field] = f"{field} must be a release number, such as 3 (not {text!r})."
    if not errors and int(query["old"]) == int(query["new"]):
        errors["new"] = "Pick two different releases: a release equals itself."
    return errors


@require_http_methods(["GET", "HEAD"])
@console_page
async def compare(page: Page, ns: str) -> HttpResponse:
    """The changes from release ``old`` to release ``new`` (either order)."""
    query = page.request.GET
    namespace = await page.service.get_namespace(page.principal, ns)
    context = {"section": "namespaces", "ns": ns, "namespace": namespace, "can": page.can(ns),
               "old": query.get("old", "").strip(), "new": query.get("new", "").strip(), "errors": {}}
    errors = _release_number_errors(query)
    if errors:
        return page.render("console/compare.html", {**context, "errors": errors}, status=400)
    old, new = int(context["old"]), int(context["new"])
    try:
        old_release = await release_summary(page, ns, old)
        new_release = await release_summary(page, ns, new)
    except NotFoundError as error:
        return page.render("console/compare.html", {**context, "form_error": error.message}, status=404)
    return page.render("console/compare.html", {
        **context, "old_release": old_release, "new_release": new_release,
        **await diff_page(page, ns, old, new),
    })


async def _confirmation(page: Page, ns: str, target: dict, *, comment: str, errors: dict[str, str],
                        conflict: str = "", status: int = 200) -> HttpResponse:
    """The rollback confirmation: the revision is read before the diff, so
    a change between the two reads makes the rollback a conflict rather
    than a confirmation of a diff the user did not see."""
    namespace = await page.service.get_namespace(page.principal, ns)
    return page.render("console/rollback.html", {
        "section": "namespaces", "ns": ns, "namespace": namespace, "can": page.can(ns), "target": target,
        **await diff_page(page, ns, "live", target["seq"]),
        "comment": comment, "errors": errors, "form_error": errors.get("form", ""), "conflict": conflict,
        "live_revision": namespace["revision"],
    }, status=status)


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def rollback(page: Page, ns: str, seq: int) -> HttpResponse:
    """GET: what rolling back to release ``seq`` would change, and a form
    asking why. POST (comment, revision): roll back, then show the history;
    a change made since the form was shown re-shows it with the new diff."""
    page.principal.require(PUBLISH, ns)
    target = await release_summary(page, ns, seq)
    if page.request.method != "POST":
        return await _confirmation(page, ns, target, comment="", errors={})
    data = page.request.POST
    comment = data.get("comment", "").strip()
    revision = data.get("revision", "")
    errors: dict[str, str] = {}
    if not comment:
        errors["comment"] = "Say why you roll back: the comment goes into the history and the audit log."
    if not revision.isdigit():
        errors["form"] = "The form lost the namespace revision it was based on: review the changes and confirm again."
    if errors:
        return await _confirmation(page, ns, target, comment=comment, errors=errors, status=400)
    try:
        release = await page.service.rollback(page.principal, ns, seq, comment=comment, revision=int(revision))
    except ConflictError as error:
        conflict = (f"{ns} changed while you were reviewing (it is now at revision "
                    f"{(error.details or {}).get('current_revision', '?')}). Here is what rolling back to "
                    f"release #{seq} changes now: review it and confirm again.")
        return await _confirmation(page, ns, target, comment=comment, errors={}, conflict=conflict, status=409)
    except ServiceError as error:
        return await _confirmation(page, ns, target, comment=comment, errors=field_errors(error, ["comment"]),
                                   status=error.status)
    done = {"rolled_back": release["seq"], "to": seq, "drafts": release.get("drafts_pending", 0)}
    return HttpResponseRedirect(reverse("console-releases", args=[ns]) + "?" + urlencode(done))
