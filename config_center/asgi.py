"""The ASGI application a node serves (uvicorn, see consensus/runtime_host.py).

- HTTP under ``/v3/``: the store's etcd v3 JSON gateway
  (``consensus.gateway.GatewayApp``), straight from the server with no Django
  in between: it is the store's hot path, and Django's request handling
  would cost more than the whole gateway request does;
- with an API token, reading live config, saving a draft and publishing:
  the lean hot path applications and pipelines use
  (``config_center.api.fast_routes``);
- every other HTTP request: Django;
- websockets: ``/ws/v1/watch``, the store's own watch API, to the gateway
  (``consensus.gateway.watch_socket``); the rest to Channels.

``get_asgi_application()`` runs first: it sets Django up, so the consumer modules
imported by the routing can safely import models and settings.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_center.settings")

django_http_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from config_center.api.fast_routes import FastRoutes  # noqa: E402
from config_center.routing import websocket_urlpatterns  # noqa: E402
from config_center.ws.origin import browser_origin_validator  # noqa: E402
from consensus.gateway import GatewayApp  # noqa: E402
from consensus.gateway.watch_socket import PATH as WATCH_SOCKET_PATH  # noqa: E402
from consensus.gateway_binding import LocalAuthorizer, local_extra_routes  # noqa: E402
from consensus.member import local_store  # noqa: E402

GATEWAY_PREFIX = "/v3/"

# The authorizer and the auth/cluster routes belong to the member, which
# starts after this module is imported: the binding looks it up per request.
store_gateway = GatewayApp(local_store, authorizer=LocalAuthorizer(), extra_routes=local_extra_routes())

django_application = ProtocolTypeRouter(
    {
        # The console needs a handful of static files and a node has no separate
        # web server in front of it, so Django's staticfiles handler serves them
        # (from STATICFILES_DIRS via the finders; no collectstatic step).
        # Applications' token calls on the hot path skip Django (fast_routes).
        "http": FastRoutes(ASGIStaticFilesHandler(django_http_app)),
        "websocket": browser_origin_validator(URLRouter(websocket_urlpatterns)),
    }
)


async def application(scope, receive, send):
    """``/v3/...`` HTTP requests to the gateway, everything else to Django
    and Channels."""
    if scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIX):
        await store_gateway(scope, receive, send)
    elif scope["type"] == "websocket" and scope["path"] == WATCH_SOCKET_PATH:
        await store_gateway.serve_watch_socket(scope, receive, send)
    else:
        await django_application(scope, receive, send)
