"""Operational endpoints of a node: ``/metrics`` and ``/api/v1/cluster/status``.

Both read the running member and change nothing. Like etcd's ``/metrics``
and ``/health`` they need no credentials: they expose operational numbers and
member URLs, never keys, values or config content.
"""
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.http import require_safe

from consensus import metrics
from consensus.cluster.status import cluster_status
from consensus.member import local_members

PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


@require_safe
def metrics_view(request: HttpRequest) -> HttpResponse:
    """Prometheus exposition of this member's metrics."""
    return HttpResponse(metrics.render(), content_type=PROMETHEUS_CONTENT_TYPE)


@require_safe
async def cluster_status_view(request: HttpRequest) -> JsonResponse:
    """Per member: id, name, URLs, role, term, commit and applied index,
    lag behind the leader, learner or voter, DB size. 503 when this
    process's member is not running."""
    members = local_members()
    if members is None:
        return JsonResponse({"error": "the store member is not running"}, status=503)
    return JsonResponse(await cluster_status(members))
