"""Items and drafts of a namespace, and the live config applications read.

    GET    .../-/items                 every item with its live/draft state
    GET    .../-/items/<name>          the live item (?view=draft: what an edit starts from)
    PUT    .../-/items/<name>          save a draft: content, format, comment, revision, secret
    DELETE .../-/items/<name>          draft the item's deletion (revision, comment)
    DELETE .../-/drafts/<name>         discard the item's draft (revision)
    GET    .../-/config                the live config, every item with content
    GET    .../-/delivery              subscribed instances, what each applied, per-release adoption
"""
from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from .calls import base_revision, body, etag, page_params, principal, run


class ItemList(APIView):
    def get(self, request, ns):
        """Items in name order, ``limit`` (1-1000, default 1000, the most a
        namespace holds by default) after ``cursor`` (the ``next`` of the
        previous page)."""
        p = principal(request)
        cursor, limit = page_params(request, default=1000, maximum=1000)
        return Response(run(lambda s: s.list_items_page(p, ns, cursor=cursor, limit=limit)))


class ItemDetail(APIView):
    def get(self, request, ns, name):
        p = principal(request)
        draft = request.query_params.get("view") == "draft"
        item = run(lambda s: s.get_item(p, ns, name, draft=draft))
        return Response(item, headers={"ETag": etag(item["revision"])})

    def put(self, request, ns, name):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        saved = run(lambda s: s.save_draft(
            p, ns, name, data.get("content"), format=data.get("format"), comment=data.get("comment", ""),
            revision=revision, secret=data.get("secret")))
        return Response(saved, headers={"ETag": etag(saved["revision"])})

    def delete(self, request, ns, name):
        p = principal(request)
        data = request.data if isinstance(request.data, dict) else {}
        revision = base_revision(request, data)
        drafted = run(lambda s: s.draft_delete(p, ns, name, comment=data.get("comment", ""), revision=revision))
        return Response(drafted)


class DraftDetail(APIView):
    def delete(self, request, ns, name):
        p = principal(request)
        data = request.data if isinstance(request.data, dict) else {}
        revision = base_revision(request, data)
        return Response(run(lambda s: s.discard_draft(p, ns, name, revision=revision)))


class LiveConfig(APIView):
    def get(self, request, ns):
        p = principal(request)
        config = run(lambda s: s.live_config(p, ns))
        return Response(config, headers={"ETag": etag(config["revision"])})


class Delivery(APIView):
    def get(self, request, ns):
        p = principal(request)
        return Response(run(lambda s: s.delivery_status(p, ns)))
