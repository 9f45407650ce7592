"""WebSocket URLs: the three doors. Room names are matched loosely here and checked by the
consumer, so a bad name gets an ``invalid_room`` error and close code 4400, not a failed route."""

from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from . import consumers


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refuse the handshake (HTTP 403) instead of a server error."""

    channel_layer_alias = consumers.RoomConsumer.channel_layer_alias

    async def connect(self) -> None:
        await self.close()


websocket_urlpatterns = [
    re_path(r"^chat/(?P<room>[^/]+)/?$", consumers.SeedConsumer.as_asgi()),
    re_path(r"^ws/chat/(?P<room>[^/]+)/?$", consumers.TutorialConsumer.as_asgi()),
    re_path(r"^ws/rooms/(?P<room>[^/]+)/?$", consumers.NativeConsumer.as_asgi()),
    re_path(r"", NotFoundConsumer.as_asgi()),
]
