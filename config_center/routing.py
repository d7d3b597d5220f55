"""Websocket routes, mounted by ``config_center.asgi`` under the origin validator.

Empty until the watch consumers (``/ws/v1/...``) exist; a websocket handshake to
any path is refused until then.
"""

websocket_urlpatterns: list = []
