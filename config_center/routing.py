"""Websocket routes, mounted by ``config_center.asgi`` behind the origin
check (``ws.origin``), which every websocket passes first.
``/ws/v1/watch`` (the store's own watch) is served by the gateway, past the
same check, before this routing is reached."""
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import path, re_path

from config_center.ws.config_consumer import LiveConfigConsumer


class NoSuchSocket(AsyncWebsocketConsumer):
    """Any other path: the handshake is refused (HTTP 403), as Channels
    refuses one it does not accept."""

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns = [
    path("ws/v1/config", LiveConfigConsumer.as_asgi()),
    re_path(r"", NoSuchSocket.as_asgi()),
]
