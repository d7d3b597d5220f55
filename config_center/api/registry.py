"""The service registry (``service.registry``).

    GET    /services                                    services with instances, and how many
    GET    /services/<service>/-/instances              the instances (linearizable)
    PUT    /services/<service>/-/instances/<id>         register: address, port, metadata, health, ttl
    POST   /services/<service>/-/instances/<id>/keepalive   renew: lease -> ttl
    DELETE /services/<service>/-/instances/<id>         deregister

A service name may contain ``/``, so ``-`` sets the rest apart, as for
namespaces.
"""
from __future__ import annotations

from rest_framework.response import Response
from rest_framework.views import APIView

from .calls import body, page_params, principal, run


class ServiceList(APIView):
    def get(self, request):
        """Services with instances, by name (``cursor``, ``limit`` 1-500, default 100)."""
        p = principal(request)
        cursor, limit = page_params(request, default=100, maximum=500)
        return Response(run(lambda s: s.list_services_page(p, cursor=cursor, limit=limit)))


class InstanceList(APIView):
    def get(self, request, service):
        """The instances by id, linearizable (``cursor``, ``limit`` 1-1000,
        default 1000)."""
        p = principal(request)
        cursor, limit = page_params(request, default=1000, maximum=1000)
        return Response(run(lambda s: s.service_instances(p, service, cursor=cursor, limit=limit)))


class InstanceDetail(APIView):
    def put(self, request, service, instance_id):
        p = principal(request)
        data = body(request)
        return Response(run(lambda s: s.register_instance(p, service, instance_id, data)), status=201)

    def delete(self, request, service, instance_id):
        p = principal(request)
        return Response(run(lambda s: s.deregister_instance(p, service, instance_id)))


class Keepalive(APIView):
    def post(self, request, service, instance_id):
        p = principal(request)
        data = body(request)
        return Response(run(lambda s: s.keepalive_instance(p, service, instance_id, data.get("lease"))))
