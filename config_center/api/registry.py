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

from .calls import body, principal, run


class ServiceList(APIView):
    def get(self, request):
        p = principal(request)
        return Response({"results": run(lambda s: s.list_services(p))})


class InstanceList(APIView):
    def get(self, request, service):
        p = principal(request)
        return Response(run(lambda s: s.service_instances(p, service)))


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
