"""WebSocket URLs: the three doors. Room names are matched loosely here and checked by the
consumer, so a bad name gets an ``invalid_room`` error and close code 4400, not a failed route."""

from __future__ import annotations

import re

from . import consumers


class NotFoundConsumer(consumers.Consumer):
    """Any other WebSocket path: refuse the handshake (HTTP 403) instead of a server error."""

    async def connect(self) -> None:
        await self.close()


ROUTES: tuple[tuple[re.Pattern[str], type[consumers.Consumer]], ...] = (
    (re.compile(r"chat/(?P<room>[^/]+)/?"), consumers.SeedConsumer),
    (re.compile(r"ws/chat/(?P<room>[^/]+)/?"), consumers.TutorialConsumer),
    (re.compile(r"ws/rooms/(?P<room>[^/]+)/?"), consumers.NativeConsumer),
    (re.compile(r"ws/ns/(?P<ns>[^/]+)/(?P<room>[^/]+)/?"), consumers.NativeConsumer),
    (re.compile(r"ws/dm/(?P<dm>[^/]+)/?"), consumers.DirectConsumer),
)
"""Each door's path (without its leading ``/``, matched whole) and its consumer."""


def route(path: str) -> tuple[type[consumers.Consumer], dict[str, str]]:
    """The consumer of a WebSocket's ``path`` (the scope's, less its ``root_path``) and the path's
    parts, as Channels' ``URLRouter`` matched them with ``ROUTES`` as ``re_path``s: a path no door
    matches gets ``NotFoundConsumer`` (the handshake refused, 403). ``parley.asgi.Doors`` calls it."""
    path = path.lstrip("/")
    for pattern, consumer in ROUTES:
        if match := pattern.fullmatch(path):
            return consumer, match.groupdict()
    return NotFoundConsumer, {}
