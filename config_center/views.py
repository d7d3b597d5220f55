"""Node-level endpoints: liveness, version and the index page.

``/health`` and ``/version`` keep etcd's response shapes so that tools which
probe an etcd member can probe a config_center node the same way.
"""

from django.http import HttpRequest, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_safe

from config_center import __version__

# The etcd API generation our store's client interface is shaped after.
ETCD_COMPATIBLE_VERSION = "3.4.0"


@require_safe
def health(request: HttpRequest) -> JsonResponse:
    """Answer 200 ``{"health": "true"}`` while this process serves requests.

    Liveness only: it does not consult the Raft node yet.
    """
    return JsonResponse({"health": "true"})


@require_safe
def version(request: HttpRequest) -> JsonResponse:
    """Answer with etcd's ``/version`` keys plus our own release."""
    return JsonResponse(
        {
            "etcdserver": f"{ETCD_COMPATIBLE_VERSION}-compatible",
            "etcdcluster": ETCD_COMPATIBLE_VERSION,
            "config_center": __version__,
        }
    )


@require_safe
def index(request: HttpRequest):
    """Render the landing page that says what this server is."""
    return render(request, "index.html", {"version": __version__})
