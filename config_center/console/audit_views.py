"""The audit log: one namespace's chain, and every chain for
administrators; filtered by actor, action and time, paged with a cursor,
with the hash chain's verification beside it."""
from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from config_center.service.errors import InvalidError
from config_center.service.users import GLOBAL

from .pages import Page, console_page

PAGE_SIZE = 50
FILTERS = ("namespace", "actor", "action", "since", "until")

# A date, optionally with a time (to the minute, second or fraction) and a
# zone; without a zone it is UTC, as the log's own times are.
_MOMENT = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})"
    r"(?:[T ](?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.(?P<fraction>\d{1,6}))?)?)?"
    r"\s*(?P<zone>Z|[+-]\d{2}:?\d{2})?",
    re.IGNORECASE,
)


def parse_moment(text: str, *, end: bool) -> str:
    """``text`` as the RFC 3339 UTC form the log's times have (they compare
    as strings). What ``text`` leaves out is filled in as the start of the
    period for ``since`` and its last millisecond for ``until`` (``end``),
    so "until 2024-05-01" includes that whole day. ``ValueError`` if it is
    not a date."""
    match = _MOMENT.fullmatch(text.strip())
    if match is None:
        raise ValueError(text)
    parts = match.groupdict()
    moment = datetime.strptime(parts["date"], "%Y-%m-%d")
    if parts["hour"] is None:
        period = timedelta(days=1)
    else:
        moment = moment.replace(hour=int(parts["hour"]), minute=int(parts["minute"]))
        period = timedelta(minutes=1)
        if parts["second"] is not None:
            moment = moment.replace(second=int(parts["second"]))
            period = timedelta(seconds=1)
            if parts["fraction"] is not None:
                moment = moment.replace(microsecond=int(parts["fraction"].ljust(6, "0")))
                period = timedelta(milliseconds=1)
    zone = (parts["zone"] or "Z").upper()
    if zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        moment -= sign * timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    if end:
        moment += period - timedelta(milliseconds=1)
    # Not strftime: its %Y drops the leading zeros of years before 1000.
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T{moment.hour:02d}:{moment.minute:02d}:"
            f"{moment.second:02d}.{moment.microsecond // 1000:03d}Z")


def _filters(query) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """What the filter form holds, the values for the service, and the
    errors of the fields that do not parse."""
    values = {name: query.get(name, "").strip() for name in FILTERS}
    wanted: dict[str, str] = {}
    errors: dict[str, str] = {}
    for name in ("since", "until"):
        if not values[name]:
            continue
        try:
            wanted[name] = parse_moment(values[name], end=name == "until")
        except (ValueError, OverflowError):
            errors[name] = (f"{name} must be a date (2024-05-01) or a date and time (2024-05-01 14:30), "
                            f"in UTC unless it ends in a zone such as +02:00; {values[name]!r} is neither.")
    if "since" in wanted and "until" in wanted and wanted["until"] < wanted["since"]:
        errors["until"] = "until is before since: nothing can match; swap them."
    return values, wanted, errors


def _entry_row(entry: dict) -> dict:
    shown = {key: entry[key] for key in ("details", "chain", "seq", "revision", "before", "token", "hash")
             if entry.get(key) is not None}
    return {**entry, "details_text": json.dumps(shown, indent=2, sort_keys=True, ensure_ascii=False)}


def _describe(verification: dict) -> str:
    if verification["ok"]:
        return f"verified: {verification['entries']} entries, hash chain intact"
    return (f"NOT verified: {verification['entries']} entries, {len(verification['problems'])} problem(s): "
            + "; ".join(verification["problems"]))


async def _audit_page(page: Page, context: dict, *, chain: str | None, verified_chain: str | None) -> HttpResponse:
    """Render one page of ``chain`` (every chain when None), filtered by
    the query; ``verified_chain``: the chain whose hashes are checked."""
    query = page.request.GET
    values, wanted, errors = _filters(query)
    cursor = query.get("after", "") or None
    context = {**context, "filters": values, "errors": errors, "form_error": errors.get("form", ""),
               "entries": [], "next": None, "paged": bool(query.get("after"))}
    if errors:
        return page.render("console/audit.html", context, status=400)
    try:
        entries, after = await page.service.audit(
            page.principal, namespace=chain, actor=values["actor"] or None, action=values["action"] or None,
            since=wanted.get("since"), until=wanted.get("until"), cursor=cursor, limit=PAGE_SIZE)
    except InvalidError as error:
        if isinstance(error.details, dict) and "cursor" in error.details:
            context["form_error"] = "That page link is broken: start again from the newest entries."
        elif values["namespace"] and chain == values["namespace"]:
            context["errors"] = {"namespace": error.message}
        else:
            context["form_error"] = error.message
        return page.render("console/audit.html", context, status=400)
    kept = {name: value for name, value in values.items() if value and (name != "namespace" or "ns" not in context)}
    # Verifying re-hashes the whole chain (thousands of entries in a busy
    # namespace), so it runs when asked for, not on every page of entries.
    verification = None
    if verified_chain is not None and query.get("verify") == "1":
        verification = await page.service.verify_audit(page.principal, verified_chain)
        verification = {**verification, "text": _describe(verification)}
    return page.render("console/audit.html", {
        **context, "entries": [_entry_row(e) for e in entries], "verification": verification,
        "actions": sorted({entry["action"] for entry in entries}),
        "next": urlencode({**kept, "after": after}) if after else None,
        "first": urlencode(kept), "verify_link": urlencode({**kept, "verify": "1"}),
        "can_verify": verified_chain is not None,
    })


@require_http_methods(["GET", "HEAD"])
@console_page
async def namespace_audit(page: Page, ns: str) -> HttpResponse:
    """The audit chain of ``ns``, newest first."""
    namespace = await page.service.get_namespace(page.principal, ns)
    context = {"section": "namespaces", "ns": ns, "namespace": namespace, "can": page.can(ns),
               "live_revision": namespace["revision"], "verified_label": f"the chain of {ns}"}
    return await _audit_page(page, context, chain=ns, verified_chain=ns)


@require_http_methods(["GET", "HEAD"])
@console_page
async def global_audit(page: Page) -> HttpResponse:
    """Every chain, newest first per chain (administrators); with a
    namespace filter, that namespace's chain (anyone who may read it, even
    once it is deleted)."""
    namespace = page.request.GET.get("namespace", "").strip()
    context = {"section": "audit", "global_label": GLOBAL}
    if namespace:
        return await _audit_page(page, {**context, "verified_label": f"the chain of {namespace}"},
                                 chain=namespace, verified_chain=namespace)
    if not page.principal.is_superuser:
        # Not an error: the page offers the namespace filter instead.
        return page.render("console/audit.html", {
            **context, "filters": {name: "" for name in FILTERS}, "errors": {}, "entries": [], "restricted": True})
    return await _audit_page(page, {**context, "verified_label": f"the {GLOBAL} chain (users, tokens, logins, "
                                    "pruning)"}, chain=None, verified_chain=GLOBAL)
