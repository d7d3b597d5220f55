"""Export, import and promotion of a namespace.

    GET  .../-/export[?as=yaml]        the namespace as a bundle (JSON, or YAML)
    POST .../-/import                  {bundle | bundle_text, dry_run (default true), prune, revision, comment}
    POST .../-/promote                 {from, dry_run (default true), prune, revision, comment}

Both writes stage drafts and answer the diff; with ``dry_run`` nothing is
written."""
from __future__ import annotations

import yaml
from django.http import HttpResponse
from rest_framework.response import Response
from rest_framework.views import APIView

from config_center.service.errors import InvalidError

from .calls import base_revision, body, principal, run


def _flag(data: dict, name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise InvalidError(f"{name} must be true or false")
    return value


class Export(APIView):
    def get(self, request, ns):
        p = principal(request)
        bundle = run(lambda s: s.export_namespace(p, ns))
        if request.query_params.get("as") == "yaml":
            text = yaml.safe_dump(bundle, sort_keys=False, allow_unicode=True)
            return HttpResponse(text, content_type="application/yaml; charset=utf-8")
        return Response(bundle)


class Import(APIView):
    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        bundle = data.get("bundle")
        if bundle is None and isinstance(data.get("bundle_text"), str):
            try:
                bundle = yaml.safe_load(data["bundle_text"])  # YAML is a superset of JSON
            except yaml.YAMLError as error:
                raise InvalidError(f"bundle_text is neither YAML nor JSON: {error}") from None
        if bundle is None:
            raise InvalidError("give the bundle as 'bundle' (an object) or 'bundle_text' (YAML or JSON text)")
        revision = base_revision(request, data)
        dry_run, prune = _flag(data, "dry_run", True), _flag(data, "prune", False)
        result = run(lambda s: s.import_bundle(p, ns, bundle, dry_run=dry_run, prune=prune, revision=revision,
                                               comment=data.get("comment", "")))
        return Response(result, status=200 if dry_run else 201)


class Promote(APIView):
    def post(self, request, ns):
        p = principal(request)
        data = body(request)
        revision = base_revision(request, data)
        dry_run, prune = _flag(data, "dry_run", True), _flag(data, "prune", False)
        result = run(lambda s: s.promote(p, data.get("from"), ns, dry_run=dry_run, prune=prune, revision=revision,
                                         comment=data.get("comment", "")))
        return Response(result, status=200 if dry_run else 201)

