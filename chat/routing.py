"""WebSocket URLs: the three doors. Room names are matched loosely here and checked by the
consumer, so a bad name gets an ``invalid_room`` error and close code 4400, not a failed route."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from channels.consumer import AsyncConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.urls import re_path

from . import consumers

if TYPE_CHECKING:
    from channels.routing import URLRouter, _ExtendedURLPattern


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refuse the handshake (HTTP 403) instead of a server error."""

    channel_layer_alias = consumers.RoomConsumer.channel_layer_alias

    async def connect(self) -> None:
        await self.close()


def consumer_path(regex: str, consumer: type[AsyncConsumer]) -> _ExtendedURLPattern:
    """``re_path(regex, consumer.as_asgi())``, typed for Channels' ``URLRouter``: django-stubs types
    ``re_path`` for Django views only, and the stubs of Channels want their own pattern type."""
    pattern = re_path(regex, consumer.as_asgi())  # type: ignore[arg-type]  # an ASGI app, not a view
    return cast("_ExtendedURLPattern", pattern)


websocket_urlpatterns: list[_ExtendedURLPattern | URLRouter] = [
    consumer_path(r"^chat/(?P<room>[^/]+)/?$", consumers.SeedConsumer),
    consumer_path(r"^ws/chat/(?P<room>[^/]+)/?$", consumers.TutorialConsumer),
    consumer_path(r"^ws/rooms/(?P<room>[^/]+)/?$", consumers.NativeConsumer),
    consumer_path(r"^ws/ns/(?P<ns>[^/]+)/(?P<room>[^/]+)/?$", consumers.NativeConsumer),
    consumer_path(r"^ws/dm/(?P<dm>[^/]+)/?$", consumers.DirectConsumer),
    consumer_path(r"", NotFoundConsumer),
]
