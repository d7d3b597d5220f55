"""The store's HTTP/JSON edge, shaped like etcd v3's gRPC gateway.

Only the maintenance status is served over HTTP so far; the KV, lease,
watch and cluster endpoints come with the node issue (#4). Numbers are strings, as the gateway's
proto3 JSON mapping writes 64-bit integers, and zero values are omitted.
"""
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from consensus.member import local_store
from consensus.node import local_node

ETCD_SERVER_VERSION = "3.4.0"


@csrf_exempt
@require_POST
def maintenance_status(request: HttpRequest) -> JsonResponse:
    """``POST /v3/maintenance/status``: this member's Raft state."""
    member = local_node()
    if member is None:
        return JsonResponse({"error": "the store member is not running", "code": 14}, status=503)
    status = member.status()
    store = local_store()
    body = {
        "header": {
            "cluster_id": str(store.cluster_id) if store else "",
            "member_id": str(status.id),
            "revision": str(store.machine.revision) if store else "",
            "raft_term": str(status.term),
        },
        "version": ETCD_SERVER_VERSION,
        "dbSize": str(store.machine.db_size_bytes) if store else "",
        "leader": str(status.leader),
        "raftIndex": str(status.commit),
        "raftTerm": str(status.term),
        "raftAppliedIndex": str(status.applied),
    }
    return JsonResponse(_drop_zero(body))


def _drop_zero(body: dict) -> dict:
    return {
        k: (_drop_zero(v) if isinstance(v, dict) else v)
        for k, v in body.items()
        if v not in ("0", "", None)
    }
