"""Editing one item: the editor page (its draft if any, else its live
version), saving a draft, discarding it, and the validation the editor asks
for as the operator types."""
from __future__ import annotations

import json

from django.http import HttpResponse, HttpResponseRedirect, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from config_center.content import diff, formats
from config_center.service.errors import ConflictError, NotFoundError, ServiceError

from .pages import Page, console_page, field_errors

EDITOR_FIELDS = ["name", "content", "format", "comment", "revision"]


async def _stored(page: Page, ns: str, name: str) -> dict | None:
    """The version an edit of ``name`` starts from; None for a new item."""
    try:
        return await page.service.get_item(page.principal, ns, name, draft=True)
    except NotFoundError:
        return None


async def _render(page: Page, ns: str, name: str, *, item: dict | None, content: str, fmt: str, revision: int,
                  comment: str = "", errors: dict | None = None, conflict: dict | None = None,
                  creating: bool = False) -> HttpResponse:
    namespace = await page.service.get_namespace(page.principal, ns)
    return page.render("console/item_editor.html", {
        "section": "namespaces", "ns": ns, "name": name, "item": item, "content": content, "format": fmt,
        "formats": formats.FORMATS, "revision": revision, "comment": comment, "errors": errors or {},
        "conflict": conflict, "creating": creating, "can": page.can(ns), "namespace": namespace,
        "live_revision": namespace["revision"],
    })


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def item_new(page: Page, ns: str) -> HttpResponse:
    namespace = await page.service.get_namespace(page.principal, ns)
    if page.request.method != "POST":
        return await _render(page, ns, "", item=None, content="", fmt=namespace["format"], revision=0,
                             creating=True)
    name = page.request.POST.get("name", "").strip()
    if not name:
        return await _render(page, ns, name, item=None, content=page.request.POST.get("content", ""),
                             fmt=page.request.POST.get("format", namespace["format"]), revision=0, creating=True,
                             errors={"name": "Enter a name for the item, such as app.yaml."})
    return await _save(page, ns, name, creating=True)


@require_http_methods(["GET", "HEAD", "POST"])
@console_page
async def item_editor(page: Page, ns: str, name: str) -> HttpResponse:
    if page.request.method == "POST":
        return await _save(page, ns, name, creating=False)
    item = await _stored(page, ns, name)
    if item is None:
        raise NotFoundError(f"item {ns}/{name} does not exist")
    return await _render(page, ns, name, item=item, content=item.get("content") or "", fmt=item["format"],
                         revision=item["revision"])


async def _save(page: Page, ns: str, name: str, *, creating: bool) -> HttpResponse:
    data = page.request.POST
    content = data.get("content", "").replace("\r\n", "\n")
    fmt = data.get("format", "")
    comment = data.get("comment", "").strip()
    revision_text = data.get("revision", "")
    revision = int(revision_text) if revision_text.isdigit() else 0
    if data.get("take_theirs"):
        return HttpResponseRedirect(reverse("console-item", args=[ns, name]))
    try:
        await page.service.save_draft(page.principal, ns, name, content, format=fmt or None, comment=comment,
                                      revision=revision)
    except ConflictError as error:
        current = await _stored(page, ns, name)
        theirs = (current or {}).get("content") or ""
        conflict = {
            "revision": error.details.get("current_revision", 0),
            "changes": [{"name": name, "op": "modified", "format": fmt, "secret": False,
                         "unified": diff.unified(theirs, content, "theirs", "yours"), "structural": None}],
            "by": (current or {}).get("author") or (current or {}).get("updated_by") or "someone",
        }
        return await _render(page, ns, name, item=current, content=content, fmt=fmt, revision=revision,
                             comment=comment, conflict=conflict, creating=creating)
    except ServiceError as error:
        if error.code == "invalid_content":
            errors = {"content": error.message}
        else:
            errors = field_errors(error, EDITOR_FIELDS, {"item": "name", "an item name": "name"})
        return await _render(page, ns, name, item=await _stored(page, ns, name) if not creating else None,
                             content=content, fmt=fmt, revision=revision, comment=comment, errors=errors,
                             creating=creating)
    return HttpResponseRedirect(reverse("console-namespace", args=[ns]) + "?saved=" + name)


@require_POST
@console_page
async def item_discard(page: Page, ns: str, name: str) -> HttpResponse:
    revision = page.request.POST.get("revision", "")
    await page.service.discard_draft(page.principal, ns, name, revision=int(revision) if revision.isdigit() else None)
    return HttpResponseRedirect(reverse("console-namespace", args=[ns]) + "?discarded=" + name)


@require_POST
@console_page
async def validate(page: Page, ns: str) -> HttpResponse:
    """``{format, content}`` (JSON) -> the validation report; a malformed
    request is answered 400 with the usual error shape."""
    try:
        data = json.loads(page.request.body or b"null")
    except ValueError:
        data = None
    if not isinstance(data, dict):
        return JsonResponse({"code": "invalid", "message": "send a JSON object with format and content"}, status=400)
    try:
        report = await page.service.validate_content(page.principal, ns, data.get("format"), data.get("content"))
    except ServiceError as error:
        return JsonResponse(error.as_dict(), status=error.status)
    return JsonResponse(report)
