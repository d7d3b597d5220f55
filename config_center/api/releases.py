"""Publishing, releases, rollback, retention and diffs of a namespace.

    GET  .../-/changes                 what publishing now would change (diffs)
    POST .../-/publish                 comment, revision -> the new release
    GET  .../-/releases                newest first (cursor, limit)
    GET  .../-/releases/<seq>          one release with its items' content
    POST .../-/rollback                release, comment, revision -> a new release
    GET  .../-/canary                  the running canary release, if any
    POST .../-/canary                  labels and/or percent, comment, revision: release the drafts
                                       to the instances selected (a canary release)
    POST .../-/canary/promote          comment, revision: the canary's items become live for all
    POST .../-/canary/abandon          comment, revision: its instances get the live release back
    POST .../-/prune                   apply the retention policy now
    GET  .../-/diff?from=A&to=B        A, B: live, draft or a release number (&item=name)
"""
from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from .calls import base_revision, body, page_params, principal, run


class PendingChanges(APIView):
    def get(self, request, ns):
        p = principal(request)
        return Response(run(lambda s: s.pending_changes(p, ns)))


class Publish(APIView):
    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        release = run(lambda s: s.publish(p, ns, comment=data.get("comment", ""), revision=revision))
        return Response(release, status=201)


class ReleaseList(APIView):
    def get(self, request, ns):
        p = principal(request)
        cursor, limit = page_params(request, default=50, maximum=500)
        return Response(run(lambda s: s.list_releases(p, ns, cursor=cursor, limit=limit)))


class ReleaseDetail(APIView):
    def get(self, request, ns, seq):
        p = principal(request)
        return Response(run(lambda s: s.get_release(p, ns, seq)))


class Rollback(APIView):
    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        release = run(lambda s: s.rollback(p, ns, data.get("release"), comment=data.get("comment", ""),
                                           revision=revision))
        return Response(release, status=201)


class Prune(APIView):
    def post(self, request, ns):
        p = principal(request)
        return Response(run(lambda s: s.prune(p, ns)))


class Diff(APIView):
    def get(self, request, ns):
        p = principal(request)
        old = request.query_params.get("from", "live")
        new = request.query_params.get("to", "draft")
        item = request.query_params.get("item")
        return Response(run(lambda s: s.diff(p, ns, old, new, item=item)))


class Canary(APIView):
    def get(self, request, ns):
        p = principal(request)
        return Response(run(lambda s: s.get_canary(p, ns)))

    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        release = run(lambda s: s.start_canary(p, ns, labels=data.get("labels"), percent=data.get("percent"),
                                               comment=data.get("comment", ""), revision=revision))
        return Response(release, status=201)


class CanaryPromote(APIView):
    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        return Response(run(lambda s: s.promote_canary(p, ns, comment=data.get("comment", ""), revision=revision)),
                        status=201)


class CanaryAbandon(APIView):
    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        return Response(run(lambda s: s.abandon_canary(p, ns, comment=data.get("comment", ""), revision=revision)))
