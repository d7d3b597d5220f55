"""``/api/v1/namespaces`` and ``/api/v1/namespaces/<ns>``."""
from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from .calls import base_revision, body, etag, page_params, principal, run


class NamespaceList(APIView):
    def get(self, request):
        """Namespaces the caller may read; ``search``, ``format``, ``cursor`` (the
        ``next`` of the previous page) and ``limit`` (1-500, default 50)."""
        p = principal(request)
        search = request.query_params.get("search", "")
        cursor, limit = page_params(request, default=50, maximum=500)
        fmt = request.query_params.get("format", "")
        return Response(run(lambda s: s.list_namespaces(p, search=search, cursor=cursor, limit=limit, format=fmt)))

    def post(self, request):
        """Create a namespace: ``name`` plus any settings."""
        p = principal(request)
        data = dict(body(request))
        name = data.pop("name", None)
        created = run(lambda s: s.create_namespace(p, name, data))
        return Response(created, status=201, headers={"ETag": etag(created["revision"])})


class NamespaceDetail(APIView):
    def get(self, request, ns):
        p = principal(request)
        found = run(lambda s: s.get_namespace(p, ns))
        return Response(found, headers={"ETag": etag(found["revision"])})

    def patch(self, request, ns):
        """Change settings; based on the namespace's revision."""
        p = principal(request)
        data = dict(body(request))
        revision = base_revision(request, data)
        data.pop("revision", None)
        updated = run(lambda s: s.update_namespace(p, ns, data, revision))
        return Response(updated, headers={"ETag": etag(updated["revision"])})

    def delete(self, request, ns):
        """Delete an empty namespace, or any with ``?archive=true``."""
        p = principal(request)
        revision = base_revision(request, request.data if isinstance(request.data, dict) else None)
        if revision is None and request.query_params.get("revision", "").isdigit():
            revision = int(request.query_params["revision"])
        archive = request.query_params.get("archive", "").lower() in ("1", "true", "yes")
        return Response(run(lambda s: s.delete_namespace(p, ns, revision, archive=archive)))
