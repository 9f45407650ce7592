"""The ASGI application: Django for HTTP (and its static files), Channels for WebSockets."""

import os
from urllib.parse import urlparse

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")

from django.core.asgi import get_asgi_application

django_asgi_app = get_asgi_application()

from channels.auth import AuthMiddlewareStack  # noqa: E402
from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402
from channels.security.websocket import OriginValidator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.contrib.auth.models import AnonymousUser  # noqa: E402
from django.contrib.staticfiles.handlers import ASGIStaticFilesHandler  # noqa: E402

import chat.routing  # noqa: E402


class HostOriginValidator(OriginValidator):
    """Channels' AllowedHostsOriginValidator, except that a handshake with no Origin header passes.

    Browsers always send Origin, so a page on a foreign site is refused as in Channels. A client
    without one (a bot, a CLI, a test) cannot be driven by a foreign page, so it is let in.
    """

    def __init__(self, application):
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = ["localhost", "127.0.0.1", "[::1]"]
        super().__init__(application, hosts)

    def valid_origin(self, parsed_origin):
        if parsed_origin is None:
            return True
        return self.validate_origin(parsed_origin)

    async def __call__(self, scope, receive, send):
        origin = None
        for name, value in scope.get("headers", []):
            if name == b"origin":
                origin = urlparse(value.decode("latin1"))
        if self.valid_origin(origin):
            return await self.application(scope, receive, send)
        # Refuse (HTTP 403) without a channel layer: Channels' WebsocketDenier listens on the
        # default layer, and with channels_redis that receive outlives the connection and keeps
        # the server from shutting down.
        return await _refuse(scope, receive, send)


_refuse = chat.routing.NotFoundConsumer.as_asgi()


class SessionAuth:
    """Channels' AuthMiddlewareStack (cookies, session, user) for a handshake that carries a session
    cookie. One without is an anonymous visitor with no session: it gets ``AnonymousUser`` and no
    session directly, without the three middlewares, whose scope copies, session store and send
    wrapper would stay with every idle connection (about 3 KiB each) for nothing.
    """

    def __init__(self, application):
        self.application = application
        self.with_session = AuthMiddlewareStack(application)
        self.cookie = settings.SESSION_COOKIE_NAME.encode("latin-1") + b"="

    async def __call__(self, scope, receive, send):
        for name, value in scope.get("headers", ()):
            if name == b"cookie" and self.cookie in value:
                return await self.with_session(scope, receive, send)
        scope["user"] = AnonymousUser()
        scope["session"] = None
        return await self.application(scope, receive, send)


class ServerSend:
    """Puts the ASGI server's own ``send`` in the scope as ``parley.server_send``.

    The middlewares below wrap ``send``; only the server's own reaches its transport, which
    ``chat.outbox`` writes message frames to directly (one frame built per message, not one per
    recipient and a coroutine each).
    """

    def __init__(self, application):
        self.application = application

    async def __call__(self, scope, receive, send):
        # The outermost middleware: the scope is the server's own, for this connection alone, so a
        # key is added in place rather than by copying it (a copy per connection stays in memory).
        scope["parley.server_send"] = send
        return await self.application(scope, receive, send)


application = ProtocolTypeRouter(
    {
        "http": ASGIStaticFilesHandler(django_asgi_app),
        "websocket": ServerSend(HostOriginValidator(SessionAuth(URLRouter(chat.routing.websocket_urlpatterns)))),
    }
)
