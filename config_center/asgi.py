"""The ASGI application a node serves (uvicorn, see consensus/runtime_host.py).

- HTTP under ``/v3/``: the store's etcd v3 JSON gateway
  (``consensus.gateway.GatewayApp``), straight from the server with no Django
  in between: it is the store's hot path, and Django's request handling
  would cost more than the whole gateway request does;
- with an API token, reading live config, saving a draft and publishing:
  the lean hot path applications and pipelines use
  (``config_center.api.fast_routes``);
- every other HTTP request: Django;
- websockets, each first through the origin check (``ws.origin``) and
  counted and bounded by the server (``consensus.websocket_protocol``,
  bounds from the settings): ``/ws/v1/watch``, the store's own watch API,
  to the gateway (``consensus.gateway.watch_socket``); the rest to Channels.

``get_asgi_application()`` runs first: it sets Django up, so the consumer modules
imported by the routing can safely import models and settings.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_center.settings")

django_http_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from config_center.api.fast_routes import FastRoutes  # noqa: E402
from config_center.routing import websocket_urlpatterns  # noqa: E402
from config_center.ws.origin import browser_origin_validator  # noqa: E402
from consensus.gateway import GatewayApp  # noqa: E402
from consensus.gateway.watch_socket import PATH as WATCH_SOCKET_PATH  # noqa: E402
from consensus.gateway_binding import LocalAuthorizer, local_extra_routes  # noqa: E402
from consensus.member import local_store  # noqa: E402
from consensus.websocket_protocol import census, default_max_open  # noqa: E402

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
        "websocket": URLRouter(websocket_urlpatterns),
    }
)

census.configure(max_open=settings.WS_MAX_CONNECTIONS or default_max_open(),
                 max_unauthenticated_per_address=settings.WS_MAX_UNAUTHENTICATED_PER_ADDRESS)


async def _websockets(scope, receive, send):
    if scope["path"] == WATCH_SOCKET_PATH:
        await store_gateway.serve_watch_socket(scope, receive, send)
    else:
        await django_application(scope, receive, send)


checked_websockets = browser_origin_validator(_websockets)


async def application(scope, receive, send):
    """``/v3/...`` HTTP requests to the gateway, websockets through the
    origin check, everything else to Django."""
    if scope["type"] == "http" and scope["path"].startswith(GATEWAY_PREFIX):
        await store_gateway(scope, receive, send)
    elif scope["type"] == "websocket":
        await checked_websockets(scope, receive, send)
    else:
        await django_application(scope, receive, send)
