"""Node-level endpoints: liveness, version and the index page.

``/health`` and ``/version`` keep etcd's response shapes so that tools which
probe an etcd member can probe a config_center node the same way.
"""

from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from config_center import __version__
from consensus.node import local_node

# The etcd API generation our store's client interface is shaped after.
ETCD_COMPATIBLE_VERSION = "3.4.0"


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """etcd 3.4's health answer: 200 ``{"health": "true"}`` when this
    process's store member knows a leader; 503 ``{"health": "false"}`` with a
    ``reason`` otherwise (no member running here, or no leader elected)."""
    member = local_node()
    if member is None:
        return JsonResponse({"health": "false", "reason": "the store member is not running"}, status=503)
    if member.status().leader == 0:
        return JsonResponse({"health": "false", "reason": "RAFT NO LEADER"}, status=503)
    return JsonResponse({"health": "true"})


@require_safe
def version(request: HttpRequest) -> JsonResponse:
    """Answer with etcd's ``/version`` keys plus our own release."""
    return JsonResponse(
        {
            # A plain version: etcd clients (etcd3gw) parse it to pick the API path.
            "etcdserver": ETCD_COMPATIBLE_VERSION,
            "etcdcluster": ETCD_COMPATIBLE_VERSION,
            "config_center": __version__,
        }
    )


@require_safe
def index(request: HttpRequest):
    """Render the landing page that says what this server is."""
    return render(request, "index.html", {"version": __version__})
