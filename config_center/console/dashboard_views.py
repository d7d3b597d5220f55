"""The dashboard: the cluster's health at a glance (members, leader, lag,
alerts) and the latest release of the namespaces the user can see."""
from __future__ import annotations

import asyncio

from django.http import HttpResponse
from django.views.decorators.http import require_http_methods

from consensus.cluster.status import cluster_status
from consensus.member import local_members

from .pages import Page, console_page

# A member this many entries behind the leader's commit is flagged: a
# healthy follower is within a few batches, a recovering one far more.
LAGGING_ENTRIES = 1000
# Latest releases shown, found among the first namespaces (in name order)
# the user can see: one small read each, concurrent, so the page stays fast.
RECENT_SHOWN = 8
NAMESPACES_LOOKED_AT = 50
# How long peers get to answer; an unreachable one is reported as such.
PEER_TIMEOUT = 0.5


def alerts(status: dict | None) -> list[str]:
    if status is None:
        return ["This node's store member is not running."]
    found = [alarm["message"] for alarm in status.get("alarms", ())]
    if not status["has_leader"]:
        found.append("No leader: the cluster cannot accept writes until a quorum of members elects one.")
    for member in status["members"]:
        if not member["reachable"]:
            found.append(f"Member {member['name'] or member['id']} does not answer.")
        elif member.get("lag", 0) > LAGGING_ENTRIES:
            found.append(f"Member {member['name']} is {member['lag']:,} entries behind the leader.")
    return found


async def recent_releases(page: Page) -> list[dict]:
    """The newest releases: the latest of each of the first
    ``NAMESPACES_LOOKED_AT`` visible namespaces, newest first."""
    listing = await page.service.list_namespaces(page.principal, limit=NAMESPACES_LOOKED_AT)

    async def latest(ns: dict) -> dict | None:
        found = (await page.service.list_releases(page.principal, ns["name"], limit=1))["results"]
        return {"namespace": ns["name"], **found[0]} if found else None

    found = await asyncio.gather(*(latest(ns) for ns in listing["results"]))
    return sorted((r for r in found if r), key=lambda r: r["time"], reverse=True)[:RECENT_SHOWN]


@require_http_methods(["GET", "HEAD"])
@console_page
async def dashboard(page: Page) -> HttpResponse:
    members = local_members()
    status = await cluster_status(members, timeout=PEER_TIMEOUT) if members is not None else None
    leader = next((m for m in status["members"] if m.get("role") == "leader"), None) if status else None
    return page.render("console/dashboard.html", {
        "section": "dashboard", "status": status, "leader": leader, "alerts": alerts(status),
        "recent": await recent_releases(page),
    })
