"""WebSocket URLs: the three doors. Room names are matched loosely here and checked by the
consumer, so a bad name gets an ``invalid_room`` error and close code 4400, not a failed route."""

from __future__ import annotations

import re
from collections.abc import Awaitable
from typing import Any

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable
from channels.generic.websocket import AsyncWebsocketConsumer

from parley.edge import passes_on

from . import consumers


class NotFoundConsumer(AsyncWebsocketConsumer):
    """Any other WebSocket path: refuse the handshake (HTTP 403) instead of a server error."""

    channel_layer_alias = consumers.RoomConsumer.channel_layer_alias

    async def connect(self) -> None:
        await self.close()


ROUTES: tuple[tuple[re.Pattern[str], type[AsyncWebsocketConsumer]], ...] = (
    (re.compile(r"chat/(?P<room>[^/]+)/?"), consumers.SeedConsumer),
    (re.compile(r"ws/chat/(?P<room>[^/]+)/?"), consumers.TutorialConsumer),
    (re.compile(r"ws/rooms/(?P<room>[^/]+)/?"), consumers.NativeConsumer),
    (re.compile(r"ws/ns/(?P<ns>[^/]+)/(?P<room>[^/]+)/?"), consumers.NativeConsumer),
    (re.compile(r"ws/dm/(?P<dm>[^/]+)/?"), consumers.DirectConsumer),
)
"""Each door's path (without its leading ``/``, matched whole) and its consumer."""


@passes_on
class Doors:
    """Routes a WebSocket (or the SSE door's stand-in for one) to its consumer by path, as Channels'
    ``URLRouter`` did with ``ROUTES`` as ``re_path``s, for less per connection: the path's parts go
    into the scope in place (``url_route``, as Channels names it) instead of a copy of the scope,
    and the consumer is instantiated here and its coroutine returned (a tail call, ``edge.
    passes_on``), where the router's and ``as_asgi``'s coroutine frames stayed with every
    connection. A path no door matches gets ``NotFoundConsumer``: the handshake refused (403)."""

    def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        path = path.lstrip("/")
        consumer: type[AsyncWebsocketConsumer] = NotFoundConsumer
        for pattern, door in ROUTES:
            if match := pattern.fullmatch(path):
                consumer = door
                scope["url_route"] = {"args": (), "kwargs": match.groupdict()}
                break
        application: Any = consumer()  # Channels' stubs type a consumer's __call__ for its own scope type
        return application(scope, receive, send)
