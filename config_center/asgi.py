"""The ASGI application daphne serves: HTTP goes to Django, websockets to Channels.

``get_asgi_application()`` runs first: it sets Django up, so the consumer modules
imported by the routing can safely import models and settings.
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config_center.settings")

django_http_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import AllowedHostsOriginValidator  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

from config_center.routing import websocket_urlpatterns  # noqa: E402

application = ProtocolTypeRouter(
    {
        # The console needs a handful of static files and a node has no separate
        # web server in front of it, so Django's staticfiles handler serves them
        # (from STATICFILES_DIRS via the finders; no collectstatic step).
        "http": ASGIStaticFilesHandler(django_http_app),
        "websocket": AllowedHostsOriginValidator(URLRouter(websocket_urlpatterns)),
    }
)
