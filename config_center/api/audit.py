"""The audit log.

    GET .../namespaces/<ns>/-/audit    the namespace's chain, newest first
    GET /api/v1/audit                  every chain (administrators), newest first per chain
    GET /api/v1/audit/verify?chain=X   recompute chain X (a namespace, or _global)

Filters: ``actor``, ``action``, ``since``, ``until`` (RFC 3339, UTC),
``cursor`` (the ``next`` of the previous page) and ``limit`` (1-500).
"""
from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from config_center.service.errors import InvalidError

from .calls import page_params, principal, run


def _query(request, namespace):
    p = principal(request)
    params = request.query_params
    cursor, limit = page_params(request, default=50, maximum=500)
    entries, following = run(lambda s: s.audit(
        p, namespace=namespace, actor=params.get("actor"), action=params.get("action"), since=params.get("since"),
        until=params.get("until"), cursor=cursor, limit=limit))
    return Response({"results": entries, "next": following})


class NamespaceAudit(APIView):
    def get(self, request, ns):
        return _query(request, ns)


class GlobalAudit(APIView):
    def get(self, request):
        return _query(request, None)


class VerifyAudit(APIView):
    def get(self, request):
        p = principal(request)
        chain = request.query_params.get("chain")
        if not chain:
            raise InvalidError("chain is required: a namespace name, or _global")
        return Response(run(lambda s: s.verify_audit(p, chain)))
