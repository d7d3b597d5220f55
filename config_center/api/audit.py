"""The audit log.

    GET .../namespaces/<ns>/-/audit    the namespace's chain, newest first
    GET /api/v1/audit                  every chain (administrators), newest first per chain
    GET /api/v1/audit/verify?chain=X   recompute chain X (a namespace, or _global)

Filters: ``actor``, ``action``, ``since``, ``until`` (RFC 3339, UTC),
``cursor`` (the ``next`` of the previous page) and ``limit`` (1-500).
"""
from __future__ import annotations

import base64

from rest_framework.response import Response
from rest_framework.views import APIView

from config_center.service.errors import InvalidError

from .calls import principal, run


def _query(request, namespace):
    p = principal(request)
    params = request.query_params
    try:
        cursor = base64.urlsafe_b64decode(params.get("cursor", "").encode()) if params.get("cursor") else b""
    except ValueError:
        raise InvalidError("cursor is not one this API gave out") from None
    limit = params.get("limit", "50")
    if not limit.isdigit():
        raise InvalidError("limit must be a number from 1 to 500")
    entries, after = run(lambda s: s.audit(
        p, namespace=namespace, actor=params.get("actor"), action=params.get("action"), since=params.get("since"),
        until=params.get("until"), cursor=cursor, limit=int(limit)))
    return Response({"results": entries, "next": base64.urlsafe_b64encode(after).decode() if after else None})


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
