"""Websocket routes, mounted by ``config_center.asgi`` behind the origin
check (``ws.origin``)."""
from django.urls import path

from config_center.ws.config_consumer import LiveConfigConsumer

websocket_urlpatterns = [
    path("ws/v1/config", LiveConfigConsumer.as_asgi()),
]
