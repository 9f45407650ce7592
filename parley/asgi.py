"""The ASGI application: Django for HTTP (and its static files), Channels for WebSockets."""

import gc
import logging
import os
from collections.abc import Awaitable
from typing import Any, cast

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from asgiref.typing import ASGIReceiveCallable, ASGISendCallable  # noqa: E402
from channels.auth import AuthMiddlewareStack  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402
from django.core.signals import request_finished  # noqa: E402
from django.db import connections  # noqa: E402

import chat.routing  # noqa: E402
from accounts.tokens import user_for_token  # noqa: E402
from api.errors import STATUS  # noqa: E402
from chat import db, sse  # noqa: E402
from chat.protocol import ErrorCode  # noqa: E402
from core import backends, metrics  # noqa: E402
from hooks import deliverer  # noqa: E402
from parley.edge import AddressLimits, BodyLimit, OriginCheck, passes_on  # noqa: E402

log = logging.getLogger("parley.asgi")

# Each serving process (every worker imports this module): fewer collections of the young objects,
# and so far fewer full ones, while connections pile up (PARLEY_GC_THRESHOLD, docs/deployment.md).
if settings.PARLEY_GC_THRESHOLD:
    gc.set_threshold(settings.PARLEY_GC_THRESHOLD, *gc.get_threshold()[1:])


def _close_request_connections(**_: object) -> None:
    """Called when an HTTP request ends, in the thread that ran its sync code: close that thread's
    database connections. Django gives each request's sync code a thread of its own (a
    ``ThreadSensitiveContext`` per request), so a persistent connection (``CONN_MAX_AGE``) opened
    there is never used again, and it stayed open until the dead thread's objects were collected:
    with ``PARLEY_GC_THRESHOLD`` that is rare, and a burst of page requests ran PostgreSQL out of
    connections ("too many clients already": tests/e2e/test_bad_input.py). The database thread
    (``chat.db``) and the read threads (``chat.reads``) keep theirs: no request ends on them."""
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


request_finished.connect(_close_request_connections)


@passes_on
class SessionAuth:
    """Channels' AuthMiddlewareStack (cookies, session, user) for a handshake that carries a session
    cookie. One without is an anonymous visitor with no session: it gets ``AnonymousUser`` and no
    session directly, without the three middlewares, whose scope copies, session store and send
    wrapper would stay with every idle connection (about 3 KiB each) for nothing.

    ``Authorization: Bearer <token>`` (a personal API token, ``accounts.tokens``) wins over a
    cookie: the connection is the token's user, with no session. A token that names no active user
    (unknown, revoked, expired) leaves ``parley.auth_refused`` in the scope, and the door answers
    ``unauthenticated`` and closes with 4401 before anything else (``chat.consumers``); a database
    that cannot be asked makes it ``unavailable`` and 1013. Other schemes (a proxy's Basic auth,
    say) are not Parley's and are ignored.
    """

    def __init__(self, application: Any) -> None:
        self.application = application
        # Channels' stubs say the stack may be an ASGI 2 application; it is an ASGI 3 one, called so.
        self.with_session: Any = AuthMiddlewareStack(application)
        self.cookie = settings.SESSION_COOKIE_NAME.encode("latin-1") + b"="

    def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]:
        with_cookie = False
        for name, value in scope.get("headers", ()):
            if name == b"authorization":
                scheme, _, token = value.strip().partition(b" ")
                if scheme.lower() == b"bearer":
                    return self._with_bearer(scope, token, receive, send)
            if name == b"cookie" and self.cookie in value:
                with_cookie = True
        if with_cookie:
            return cast("Awaitable[None]", self.with_session(scope, receive, send))
        scope["user"] = AnonymousUser()
        scope["session"] = None
        return cast("Awaitable[None]", self.application(scope, receive, send))  # a tail call (edge.passes_on)

    async def _with_bearer(
        self, scope: dict[str, Any], token: bytes, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        return await self.application(await _bearer(scope, token), receive, send)


async def _bearer(scope: dict[str, Any], raw: bytes) -> dict[str, Any]:
    """The scope of a handshake with a Bearer token: its user, or the reason it is refused."""
    user = None
    try:
        user = await db.call(user_for_token, raw.decode("latin-1").strip())
    except Exception as exc:
        if backends.down(exc):  # the database cannot be reached: the client tries again later
            log.warning("a handshake's token could not be checked: %s: %s", type(exc).__name__, exc)
            metrics.backend_error(exc)
            scope["parley.auth_refused"] = (ErrorCode.UNAVAILABLE, "the server cannot check the token right now")
        else:  # a bug: close 1011
            log.error("a handshake's token could not be checked", exc_info=exc)
            scope["parley.auth_refused"] = (ErrorCode.INTERNAL, "the server failed (a bug, logged)")
    else:
        if user is None:
            scope["parley.auth_refused"] = (ErrorCode.UNAUTHENTICATED, "unknown, revoked or expired token")
    scope["user"] = user or AnonymousUser()
    scope["session"] = None
    return scope


@passes_on
class ServerSend:
    """Puts the ASGI server's own ``send`` in the scope as ``parley.server_send``.

    The middlewares below wrap ``send``; only the server's own reaches its transport, which
    ``chat.fanout.outbox`` writes message frames to directly (one frame built per message, not one per
    recipient and a coroutine each).
    """

    def __init__(self, application: Any) -> None:
        self.application = application

    def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]:
        # The outermost middleware: the scope is the server's own, for this connection alone, so a
        # key is added in place rather than by copying it (a copy per connection stays in memory).
        scope["parley.server_send"] = send
        return cast("Awaitable[None]", self.application(scope, receive, send))  # a tail call (edge.passes_on)


@passes_on
class Doors:
    """A WebSocket (or the SSE door's stand-in for one) to its consumer by path (``chat.routing``),
    for less per connection than Channels' ``URLRouter``: the path's parts go into the scope in
    place (``url_route``, as Channels names it) instead of into a copy of the scope, and the
    consumer's coroutine is returned (a tail call, ``edge.passes_on``), where the router's and
    ``as_asgi``'s coroutine frames stayed with every connection."""

    def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]:
        path: str = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        consumer, kwargs = chat.routing.route(path)
        scope["url_route"] = {"args": (), "kwargs": kwargs}
        application: Any = consumer()  # Channels' stubs type a consumer's __call__ for its own scope type
        return cast("Awaitable[None]", application(scope, receive, send))


@passes_on
class EventsRouter:
    """HTTP: a GET of a room's events (``/api/v1/.../events``) goes to the SSE door
    (``chat.sse``), everything else to Django."""

    def __init__(self, events: Any, http: Any) -> None:
        self.events = events
        self.http = http

    def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]:
        if sse.is_events_request(scope):
            return cast("Awaitable[None]", self.events(scope, receive, send))  # a tail call (edge.passes_on)
        return cast("Awaitable[None]", self.http(scope, receive, send))


@passes_on
class Protocols:
    """Each scope to the application of its type, as Channels' ``ProtocolTypeRouter`` did, but as a
    tail call (``edge.passes_on``): an idle WebSocket keeps no frame of this router."""

    def __init__(self, **applications: Any) -> None:
        self.applications = applications

    def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> Awaitable[None]:
        application = self.applications.get(scope["type"])
        if application is None:
            raise ValueError(f"no application for scope type {scope['type']!r}")
        return cast("Awaitable[None]", application(scope, receive, send))


class Lifespan:
    """The ASGI lifespan protocol (``make run`` turns it on: parley/serve.py): at startup, each
    server process starts its outgoing webhooks' deliverer (``hooks.deliverer``) on its loop; at
    shutdown it stops it, then the database thread (``chat.db.close``). Every other scope goes to the application.
    The outermost application, so its ``__call__`` is a coroutine function: servers tell an ASGI 3
    application from an ASGI 2 one by that (uvicorn's ``--interface auto``)."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
        if scope["type"] != "lifespan":
            return await self.application(scope, receive, send)
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                if settings.PARLEY_WEBHOOK_DELIVERY:
                    deliverer.ensure_started()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await deliverer.stop()
                db.close(wait=False)  # what is queued is stored, then its connection closes
                await send({"type": "lifespan.shutdown.complete"})
                return


# Cheapest refusals first: per-address limits, then the Origin, then the session and the room.
# The SSE door runs the same stack as a WebSocket handshake (without ServerSend: its frames go
# through the door's adapter, never straight to a socket).
doors = AddressLimits(OriginCheck(SessionAuth(Doors())))

application = Lifespan(
    Protocols(
        # No body larger than Parley reads (413 before it is spooled: parley/edge.py BodyLimit).
        http=EventsRouter(sse.SseDoor(doors, status=STATUS), BodyLimit(ASGIStaticFilesHandler(django_asgi_app))),
        websocket=ServerSend(doors),
    )
)
