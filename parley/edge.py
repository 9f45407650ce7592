"""The network edge: what a client must get past before Parley does any work for it.

- ``AddressLimits`` (ASGI, WebSocket scope): open WebSockets and handshakes per second per client
  address (``PARLEY_ADDRESS_*``); over them the handshake is refused with HTTP 429.
- ``OriginCheck`` (ASGI, WebSocket scope): a browser's ``Origin`` must be the site's own (scheme,
  host and port) or listed in ``PARLEY_ALLOWED_ORIGINS``; otherwise HTTP 403.
- ``EdgeHttpProtocol`` (uvicorn's httptools protocol, used by ``make run``): a request line or
  headers over ``PARLEY_MAX_REQUEST_LINE_BYTES`` / ``PARLEY_MAX_REQUEST_HEADER_BYTES`` get 414 / 431
  and the socket is closed; a request (or WebSocket handshake) not complete within
  ``PARLEY_HANDSHAKE_TIMEOUT`` seconds is closed.
- ``EdgeWebSocketProtocol`` (uvicorn's sans-I/O WebSocket protocol, used by ``make run``): the
  same protocol, lighter per idle connection (``docs/performance.md``, scenario C).

Counts live in the process: with ``WORKERS=N`` each process counts its own connections and
handshakes, so an address may hold up to N times the limits on one port.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import logging
import math
import re
import time
from collections.abc import Awaitable, Iterable
from typing import Any
from urllib.parse import urlsplit

import orjson
from django.conf import settings
from django.http.request import split_domain_port, validate_host
from uvicorn.protocols.http.httptools_impl import STATUS_LINE, HttpToolsProtocol
from uvicorn.protocols.utils import is_ssl
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets import http11 as ws_http11
from websockets import protocol as ws_protocol
from websockets.datastructures import Headers

from core.clientaddr import is_trusted_proxy, scope_client_address, scope_header

log = logging.getLogger("parley.edge")

# A refusal is logged at most this often (seconds), with how many there were: a storm of refused
# handshakes must not become a storm of log lines.
LOG_EVERY = 10.0
# Retry-After (seconds) of a handshake refused because the address holds too many connections:
# one closes when someone leaves, which nothing here can predict; a few seconds is a fair guess.
FULL_RETRY_AFTER = 5
# Seconds a refused request's socket stays open after the answer, its input read and dropped, so
# that closing it does not reset it under the answer (EdgeHttpProtocol._linger).
LINGER_SECONDS = 2.0


def passes_on(cls: type[Any]) -> type[Any]:
    """Mark an ASGI middleware whose ``__call__`` is a plain function that returns the next
    application's coroutine (a tail call) rather than awaiting it: it keeps no coroutine frame of
    its own for a connection's lifetime (a few hundred bytes per idle WebSocket, per middleware).
    asgiref's and Channels' checks would take such a callable for an ASGI 2 one: the mark says
    it is ASGI 3."""
    cls._asgi_single_callable = True
    return cls


# --- Refusing a handshake --------------------------------------------------------------------------


async def deny(
    scope: dict,
    receive: Any,
    send: Any,
    *,
    status: int,
    code: str,
    detail: str,
    headers: Iterable[tuple[bytes, bytes]] = (),
) -> None:
    """Refuse a WebSocket handshake with a real HTTP response (the ASGI WebSocket Denial Response
    extension) and the body ``{"error": {"code", "detail"}}``. A server without the extension gets
    ``websocket.close`` before accept (HTTP 403 in uvicorn and Daphne) or, for 429, accept and
    close 1013 ("try again later")."""
    await receive()  # websocket.connect
    if "websocket.http.response" in scope.get("extensions", ()):
        body = orjson.dumps({"error": {"code": code, "detail": detail}})
        await send(
            {
                "type": "websocket.http.response.start",
                "status": status,
                "headers": [(b"content-type", b"application/json"), *headers],
            }
        )
        await send({"type": "websocket.http.response.body", "body": body})
    elif status == 429:
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close", "code": 1013})
    else:
        await send({"type": "websocket.close"})


class _RefusalLog:
    """One log line per ``LOG_EVERY`` seconds per kind of refusal, counting the ones in between."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.count = 0
        self.last = -math.inf

    def note(self, address: str) -> None:
        self.count += 1
        now = time.monotonic()
        if now - self.last >= LOG_EVERY:
            log.warning("refused %d WebSocket handshake(s): %s (last from %s)", self.count, self.what, address)
            self.count, self.last = 0, now


# --- Per-address limits ----------------------------------------------------------------------------


@passes_on
class AddressLimits:
    """Open WebSockets and new handshakes per client address, for this process.

    The cost per handshake is a header scan (``X-Forwarded-For``), two dictionary lookups and a
    token bucket's arithmetic. Buckets that have refilled are forgotten when the table grows, so
    addresses that came and went do not stay in memory.
    """

    def __init__(self, application: Any) -> None:
        self.application = application
        self.max_connections = settings.PARLEY_ADDRESS_MAX_CONNECTIONS
        self.rate = settings.PARLEY_ADDRESS_HANDSHAKE_RATE
        self.burst = settings.PARLEY_ADDRESS_HANDSHAKE_BURST
        if not self.rate or not self.burst:
            self.rate = 0.0  # either at 0 turns the handshake rate limit off
        self.open: dict[str, int] = {}  # address -> open WebSockets
        self.buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)
        self._prune_at = 1024
        self._log_full = _RefusalLog(f"over PARLEY_ADDRESS_MAX_CONNECTIONS={self.max_connections}")
        self._log_rate = _RefusalLog(f"over PARLEY_ADDRESS_HANDSHAKE_RATE={self.rate:g}/s")

    def __call__(self, scope: dict, receive: Any, send: Any) -> Awaitable[None]:
        if scope["type"] != "websocket" or not (self.max_connections or self.rate):
            return self.application(scope, receive, send)  # a tail call (``passes_on``)
        return self._limited(scope, receive, send)

    async def _limited(self, scope: dict, receive: Any, send: Any) -> None:
        address = scope_client_address(scope)
        opened = self.open.get(address, 0)
        if self.max_connections and opened >= self.max_connections:
            self._log_full.note(address)
            detail = f"too many open connections from your address (at most {self.max_connections}); close some"
            retry_after = [(b"retry-after", b"%d" % FULL_RETRY_AFTER)]
            return await deny(scope, receive, send, status=429, code="rate_limited", detail=detail, headers=retry_after)
        if self.rate:
            wait = self._take(address)
            if wait:
                self._log_rate.note(address)
                detail = f"too many new connections from your address (at most {self.rate:g}/s); try again shortly"
                retry = str(max(1, math.ceil(wait))).encode()
                return await deny(
                    scope,
                    receive,
                    send,
                    status=429,
                    code="rate_limited",
                    detail=detail,
                    headers=[(b"retry-after", retry)],
                )
        self.open[address] = opened + 1
        try:
            return await self.application(scope, receive, send)
        finally:
            # Every way out of the connection comes here: a close, a dropped socket, an exception,
            # a cancelled task.
            left = self.open[address] - 1
            if left:
                self.open[address] = left
            else:
                del self.open[address]

    def _take(self, address: str) -> float:
        """Take a handshake token for ``address``: 0.0, or the seconds until one is available."""
        now = time.monotonic()
        tokens, when = self.buckets.get(address, (self.burst, now))
        tokens = min(self.burst, tokens + (now - when) * self.rate)
        if tokens < 1:
            self.buckets[address] = (tokens, now)
            return (1 - tokens) / self.rate
        self.buckets[address] = (tokens - 1, now)
        if len(self.buckets) > self._prune_at:
            self._prune(now)
        return 0.0

    def _prune(self, now: float) -> None:
        """Forget the buckets that are full again: they behave as new ones."""
        rate, burst = self.rate, self.burst
        self.buckets = {a: (t, w) for a, (t, w) in self.buckets.items() if t + (now - w) * rate < burst}
        self._prune_at = max(1024, 2 * len(self.buckets))


# --- Origin ------------------------------------------------------------------------------------------

Origin = tuple[str, str, int]
_DEFAULT_PORTS = {"http": 80, "https": 443}


@functools.lru_cache(maxsize=1024)  # a page's origin repeats with every handshake it makes
def parse_origin(value: str) -> Origin | None:
    """``"https://Chat.example.org"`` -> ``("https", "chat.example.org", 443)``; None for anything
    that is not an http(s) origin (``null``, a path, a bad port)."""
    try:
        parts = urlsplit(value.strip())
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname or parts.path not in ("", "/") or parts.query:
        return None
    return scheme, parts.hostname.lower(), port or _DEFAULT_PORTS[scheme]


def site_origin(scope: dict, allowed_hosts: tuple[str, ...]) -> Origin | None:
    """The site's own origin as this handshake reached it: its ``Host`` (which must be one of
    ``ALLOWED_HOSTS``), with https when the connection is TLS (wss), ``PARLEY_HTTPS`` is on or a
    trusted proxy says so in ``X-Forwarded-Proto``, http otherwise. None without a valid Host."""
    host = scope_header(scope, b"host")
    if not host:
        return None
    secure = scope.get("scheme") == "wss" or getattr(settings, "PARLEY_HTTPS", False)
    if not secure:
        client = scope.get("client")
        if client and is_trusted_proxy(client[0]):
            proto = scope_header(scope, b"x-forwarded-proto") or ""
            secure = proto.rsplit(",", 1)[-1].strip().lower() == "https"
    return _host_origin(host, secure, tuple(allowed_hosts))


@functools.lru_cache(maxsize=1024)  # a site is reached under few names
def _host_origin(host: str, secure: bool, allowed_hosts: tuple[str, ...]) -> Origin | None:
    domain, port = split_domain_port(host)
    if not domain or not validate_host(domain, allowed_hosts):
        return None
    scheme = "https" if secure else "http"
    try:
        number = int(port) if port else _DEFAULT_PORTS[scheme]
    except ValueError:
        return None
    return scheme, domain.strip("[]"), number


@passes_on
class OriginCheck:
    """A WebSocket handshake's ``Origin`` must be the site's own or one of ``PARLEY_ALLOWED_ORIGINS``.

    Browsers send ``Origin`` with every WebSocket handshake and the cookies of the site it goes to,
    so this is what keeps a page from another site, or from another port of the same host (another
    app on a shared machine), from chatting as a logged-in user. Scheme, host and port must all
    match. A handshake without ``Origin`` is not from a browser page and is let in (bots, command
    line clients); a refused one gets HTTP 403.
    """

    def __init__(self, application: Any) -> None:
        self.application = application
        hosts = list(settings.ALLOWED_HOSTS)
        if settings.DEBUG and not hosts:
            hosts = [".localhost", "127.0.0.1", "[::1]"]  # as Django's own host check in DEBUG
        self.hosts = tuple(hosts)
        self.extra = frozenset(allowed_origins())
        self._log = _RefusalLog("foreign Origin")

    def __call__(self, scope: dict, receive: Any, send: Any) -> Awaitable[None]:
        origin = scope_header(scope, b"origin")
        if origin is None or self.allowed(scope, origin):
            return self.application(scope, receive, send)  # a tail call (``passes_on``)
        self._log.note(scope_client_address(scope))
        detail = "this page's origin may not open a WebSocket here"
        return deny(scope, receive, send, status=403, code="forbidden", detail=detail)

    def allowed(self, scope: dict, origin: str) -> bool:
        parsed = parse_origin(origin)
        if parsed is None:
            return False
        own = site_origin(scope, self.hosts)
        return own is not None and (parsed == own or parsed in self.extra)


def allowed_origins() -> list[Origin]:
    """``PARLEY_ALLOWED_ORIGINS``, parsed; ValueError names an entry that is not an origin."""
    parsed = []
    for item in settings.PARLEY_ALLOWED_ORIGINS:
        origin = parse_origin(item)
        if origin is None:
            raise ValueError(f"{item!r} is not an origin like https://chat.example.org")
        parsed.append(origin)
    return parsed


# --- Request heads and handshake deadline (uvicorn) -------------------------------------------------


class _HeadTooLarge(Exception):
    """Raised inside a parser callback: the request is refused with ``status``."""


@functools.cache
def _head_limits() -> tuple[int, int, float]:
    return (
        settings.PARLEY_MAX_REQUEST_LINE_BYTES,
        settings.PARLEY_MAX_REQUEST_HEADER_BYTES,
        settings.PARLEY_HANDSHAKE_TIMEOUT,
    )


def _drop(transport: Any) -> None:
    """Close a socket now: gracefully when nothing waits to be written, otherwise abort it."""
    if transport.get_write_buffer_size():
        transport.abort()
    elif not transport.is_closing():
        transport.close()


def _expire_websocket(protocol: Any) -> None:
    """Called ``PARLEY_HANDSHAKE_TIMEOUT`` after a WebSocket connection was opened: drop it if its
    handshake has not completed (the application's disconnect runs)."""
    if not protocol.handshake_complete and not protocol.disconnected:
        log.debug("closed a WebSocket handshake not completed within %gs", _head_limits()[2])
        protocol.transport.abort()


class EdgeHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with bounded request heads and a handshake deadline.

    - A request line longer than ``PARLEY_MAX_REQUEST_LINE_BYTES`` (method, URL, version and CRLF)
      gets 414, headers over ``PARLEY_MAX_REQUEST_HEADER_BYTES`` in all get 431, and the socket is
      closed. A WebSocket upgrade must also fit the websockets library's own limits (a line of 8 KiB,
      128 headers): past them websockets refuses the handshake but uvicorn never sends that answer,
      so the socket would hang.
    - A connection must deliver each request in full (or, for a WebSocket, complete its handshake)
      within ``PARLEY_HANDSHAKE_TIMEOUT`` seconds of its first byte or of connecting; otherwise it
      is closed. uvicorn's ``timeout_keep_alive`` covers the idle time between requests.
    """

    _deadline: Any = None
    _refusal: tuple[int, str] | None = None
    _in_head = True  # reading a request line and headers (including before the first byte)
    _head_bytes = 0  # bytes received while in the head: a bound on a line that never ends
    _line = 0
    _headers = 0
    _count = 0
    _longest = 0
    _lingering = False  # a refusal was sent: what the client still sends is dropped (_linger)

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._lingering:
            return  # after a refusal: read and dropped, so the close does not reset the socket
        if self._in_head:
            self._head_bytes += len(data)
        super().data_received(data)
        line_max, header_max, _ = _head_limits()
        if self._in_head and self._head_bytes > line_max + header_max and not self.transport.is_closing():
            # A line or header still unfinished past every limit: httptools holds it until it ends.
            self._refusal = (431, "Request header fields too large")
            self.send_400_response("")

    # Parser callbacks ---------------------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._line = self._headers = self._count = self._longest = 0
        self._arm()

    def on_url(self, url: bytes) -> None:
        if not self._line:  # the URL's first piece: the method is known, and the rest is fixed
            self._line = len(self.parser.get_method()) + len(b"  HTTP/1.1\r\n")
        self._line += len(url)
        if self._line > _head_limits()[0]:
            self._refuse(414, "Request line too long")
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        size = len(name) + len(value) + 4  # "name: value\r\n"
        self._headers += size
        self._count += 1
        self._longest = max(self._longest, size)
        if self._headers > _head_limits()[1]:
            self._refuse(431, "Request header fields too large")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._in_head = False
        self._head_bytes = 0
        if self.parser.should_upgrade() and self._should_upgrade():
            if self._line > ws_http11.MAX_LINE_LENGTH:
                self._refuse(414, "Request line too long")
            if self._longest > ws_http11.MAX_LINE_LENGTH or self._count > ws_http11.MAX_NUM_HEADERS:
                self._refuse(431, "Request header fields too large")
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._in_head = True
        self._disarm()
        super().on_message_complete()

    # Refusals and the deadline ------------------------------------------------------------------

    def _refuse(self, status: int, reason: str) -> None:
        """Called from a parser callback: stop parsing; uvicorn then calls ``send_400_response``."""
        self._refusal = (status, reason)
        raise _HeadTooLarge(reason)

    def send_400_response(self, msg: str) -> None:
        """Called by uvicorn when the parser fails: our own refusal (414, 431) if it was one."""
        refusal, self._refusal = self._refusal, None
        if refusal is None:
            return super().send_400_response(msg)
        status, reason = refusal
        if self.cycle is not None and not self.cycle.response_complete:
            _drop(self.transport)  # a response is on its way: no room for another one
            return
        body = reason.encode("ascii")
        head = [STATUS_LINE[status]]
        for name, value in self.server_state.default_headers:
            head += [name, b": ", value, b"\r\n"]
        head += [
            b"content-type: text/plain; charset=utf-8\r\n",
            b"content-length: %d\r\nconnection: close\r\n\r\n" % len(body),
        ]
        self.transport.write(b"".join(head) + body)
        self._linger()

    def _linger(self) -> None:
        """Close after a refusal without losing it: closing a socket whose client is still sending
        (a 40 KB header that never ends) resets it, and the reset can reach the client before the
        answer does. So: the answer, then our end of the stream (FIN), then read and drop what
        still comes for up to LINGER_SECONDS, then close (RFC 9112, 9.6, "tear-down")."""
        transport = self.transport
        if not transport.can_write_eof():
            transport.close()
            return
        self._lingering = True
        transport.write_eof()
        asyncio.get_running_loop().call_later(LINGER_SECONDS, transport.close)

    def handle_websocket_upgrade(self) -> None:
        """The WebSocket protocol takes the connection over; the deadline goes with it. Parley's
        own (``EdgeWebSocketProtocol``) is handed the request as parsed here and the socket's
        addresses as read here (``take_over``); uvicorn writes the request out again for the
        websockets library to parse a second time, and reads the addresses again (~7 % of a
        join's py-spy samples; ~4 % less CPU per join in C, docs/performance.md)."""
        when = self._deadline.when() if self._deadline is not None else None
        self._disarm()
        if not self._hand_over():
            super().handle_websocket_upgrade()
        if when is not None:
            self.loop.call_at(when, _expire_websocket, self.transport.get_protocol())

    def _hand_over(self) -> bool:
        """Give the connection to an ``EdgeWebSocketProtocol`` with the request parsed here; False
        when the WebSocket protocol is another, or the request one to leave to uvicorn."""
        kind = self.ws_protocol_class
        if not (isinstance(kind, type) and issubclass(kind, EdgeWebSocketProtocol)):
            return False
        request = self._parsed_request()
        if request is None:
            return False
        self.connections.discard(self)
        protocol = kind(config=self.config, server_state=self.server_state, app_state=self.app_state)
        protocol.take_over(self.transport, server=self.server, client=self.client, request=request)
        self.transport.set_protocol(protocol)
        return True

    def _parsed_request(self) -> ws_http11.Request | None:
        """The upgrade request as the websockets library would parse it from uvicorn's copy, or
        None for one its parser refuses (a path not in ASCII, a body): that one goes uvicorn's own
        way to that parser, as before."""
        try:
            path = self.url.decode("ascii")
        except UnicodeDecodeError:
            return None
        headers = Headers()
        for name, value in self.scope["headers"]:
            if name == b"transfer-encoding" or (name == b"content-length" and value != b"0"):
                return None
            headers.set_insecure(name.decode("ascii"), value.decode("latin-1"))  # httptools checked them
        return ws_http11.Request(path, headers, self.scope["method"])

    def _arm(self) -> None:
        timeout = _head_limits()[2]
        if timeout and self._deadline is None:
            self._deadline = self.loop.call_later(timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        """Called ``PARLEY_HANDSHAKE_TIMEOUT`` after a request began (or the socket opened) and it
        is still not in: close the socket."""
        self._deadline = None
        if self.transport.get_protocol() is self and not self.transport.is_closing():
            log.debug("closed a connection whose request was not in within %gs", _head_limits()[2])
            _drop(self.transport)


# --- Idle WebSocket connections ------------------------------------------------------------------


class _Inbox:
    """uvicorn's queue of ASGI events for the application (``websocket.connect``, each frame,
    ``websocket.disconnect``), without ``asyncio.Queue``'s three deques and its ``Event`` (about
    3 KiB per connection, kept for its lifetime): a deque only while events wait, and a future only
    while the application waits. One reader at a time: the application's receive loop."""

    __slots__ = ("_items", "_waiter")

    def __init__(self) -> None:
        self._items: collections.deque[Any] | None = None
        self._waiter: asyncio.Future[None] | None = None

    def put_nowait(self, item: Any) -> None:
        if self._items is None:
            self._items = collections.deque()
        self._items.append(item)
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(None)

    def empty(self) -> bool:
        return not self._items

    async def get(self) -> Any:
        while not self._items:
            if self._waiter is not None:
                raise RuntimeError("another coroutine is already waiting for this connection's events")
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            finally:
                self._waiter = None
        item = self._items.popleft()
        if not self._items:
            self._items = None  # an idle connection keeps no deque
        return item


class _Writable:
    """uvicorn's "the socket takes more" flag (an ``asyncio.Event``, whose deque of waiters costs
    760 bytes per connection): a list of waiters only while someone waits for the socket."""

    __slots__ = ("_set", "_waiters")

    def __init__(self) -> None:
        self._set = True
        self._waiters: list[asyncio.Future[None]] | None = None

    def is_set(self) -> bool:
        return self._set

    def set(self) -> None:
        self._set = True
        waiters, self._waiters = self._waiters, None
        for waiter in waiters or ():
            if not waiter.done():
                waiter.set_result(None)

    def clear(self) -> None:
        self._set = False

    async def wait(self) -> None:
        if self._set:
            return
        waiter = asyncio.get_running_loop().create_future()
        if self._waiters is None:
            self._waiters = []
        self._waiters.append(waiter)
        try:
            await waiter
        finally:
            if self._waiters is not None and waiter in self._waiters:
                self._waiters.remove(waiter)


class _Cork:
    """A connection's transport while its join is under way: the writes of one turn of the event
    loop (the 101, then the native door's hello, history and first presence frames) are kept and
    go to the socket in one write at the end of the turn (``flush``), not one system call and one
    trip through the kernel's TCP stack each. Order is kept: anything else asked of the transport
    (close, abort, its socket) flushes first, and once flushed the protocol has its own transport
    back."""

    __slots__ = ("_parts", "_protocol", "_transport")

    def __init__(self, protocol: EdgeWebSocketProtocol) -> None:
        self._protocol = protocol
        self._transport = protocol.transport
        self._parts: list[bytes] = []
        protocol.transport = self  # type: ignore[assignment]  # the part of a transport uvicorn uses
        protocol.loop.call_soon(self.flush)

    def write(self, data: bytes) -> None:
        self._parts.append(data)

    def is_closing(self) -> bool:
        return self._transport.is_closing()

    def flush(self) -> None:
        protocol, transport = self._protocol, self._transport
        current: Any = protocol.transport
        if current is self:
            protocol.transport = transport
        parts, self._parts = self._parts, []
        if parts and not transport.is_closing():
            transport.write(b"".join(parts))

    def __getattr__(self, name: str) -> Any:
        self.flush()
        return getattr(self._transport, name)


class EdgeWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's sans-I/O WebSocket protocol, keeping less for an idle connection.

    - Its event queue and its writable flag are ``_Inbox`` and ``_Writable``: nothing allocated
      while nothing waits.
    - Once the handshake is answered, the request's headers are emptied and the request and
      response let go of: websockets' handshake parser keeps the request in its suspended frame
      for the connection's lifetime, and uvicorn keeps both (about 3 KiB per connection).
    - So is the list of headers in the scope: Parley's doors read a handshake's headers (origin,
      cookie, token, client address) before they accept it and never after (``chat.consumers``),
      and every copy of the scope shares that one list.
    - The accept corks the transport until the end of that turn of the event loop (``_Cork``): a
      join's first frames go out with the 101 in one write.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queue = _Inbox()  # type: ignore[assignment]  # the part of asyncio.Queue that uvicorn uses
        self.writable = _Writable()  # type: ignore[assignment]  # the part of asyncio.Event that uvicorn uses

    def take_over(
        self,
        transport: Any,
        *,
        server: tuple[str, int | None] | None,
        client: tuple[str, int] | None,
        request: ws_http11.Request,
    ) -> None:
        """Called by ``EdgeHttpProtocol`` with an upgrade request it has parsed, in place of
        ``connection_made`` and ``data_received`` of that request's bytes: the connection's
        addresses as it read them, the request handled as if the websockets library had parsed
        it, whose parser then reads frames from the first byte it is given."""
        self.connections.add(self)
        self.transport = transport
        self.server, self.client = server, client
        self.scheme = "wss" if is_ssl(transport) else "ws"
        conn = self.conn
        conn.parser = ws_protocol.Protocol.parse(conn)  # the frame parser: the handshake's is not needed
        next(conn.parser)
        self.handle_connect(request)

    async def send(self, message: Any) -> None:
        accepting = not self.handshake_complete and message["type"] == "websocket.accept"
        if accepting and not self.transport.is_closing():
            _Cork(self)
        await super().send(message)
        if accepting and self.handshake_complete:
            self.request.headers.clear()
            self.request = self.response = None  # type: ignore[assignment]  # unread after the handshake
            headers = self.scope.get("headers")
            if isinstance(headers, list):
                headers.clear()


# --- Request bodies ---------------------------------------------------------------------------------

# The routes that take a file (a multipart body up to PARLEY_UPLOAD_MAX_BYTES, plus its envelope).
UPLOAD_PATH = re.compile(r"^/api/v1/(?:rooms/[^/]+|ns/[^/]+/rooms/[^/]+|dm/[^/]+)/uploads$")
MULTIPART_ENVELOPE = 64 * 1024  # a multipart body's headers and boundaries around the file


class BodyLimit:
    """No request body larger than Parley reads: an upload's ``PARLEY_UPLOAD_MAX_BYTES`` (and its
    multipart envelope), any other ``PARLEY_MAX_BODY_BYTES``. A ``Content-Length`` over the limit
    is answered 413 before a byte of the body is read; a body that grows past it (chunked, or a
    length that lied) is read no further: 413 (Django's own ASGI handler would spool a body of any
    size to disk before a view could refuse it).

    An upload sent without a ``Content-Length`` (``Transfer-Encoding: chunked``) is read here, up to
    the limit, and handed on with its length: Django's multipart parser reads nothing of a body
    whose length it is not told (the file would be "missing")."""

    def __init__(self, application: Any) -> None:
        self.application = application

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return await self.application(scope, receive, send)
        upload = UPLOAD_PATH.match(scope.get("path", "")) is not None
        limit = settings.PARLEY_UPLOAD_MAX_BYTES + MULTIPART_ENVELOPE if upload else settings.PARLEY_MAX_BODY_BYTES
        length = scope_header(scope, b"content-length")
        if length is not None and (not length.isdigit() or int(length) > limit):
            return await _too_large(send, upload)
        if upload and length is None and scope.get("method") == "POST":
            whole = await _read_whole(receive, limit)
            if whole is None:
                return await _too_large(send, upload)
            scope = {**scope, "headers": [*scope["headers"], (b"content-length", b"%d" % len(whole))]}
            receive = _replay(whole, receive)
        state = {"read": 0, "over": False, "started": False}

        async def counted() -> Any:
            message = await receive()
            if message["type"] == "http.request":
                state["read"] += len(message.get("body", b""))
                if state["read"] > limit:
                    state["over"] = True
                    return {"type": "http.disconnect"}  # Django stops reading: RequestAborted
            return message

        async def watched(message: Any) -> None:
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        await self.application(scope, counted, watched)
        if state["over"] and not state["started"]:
            await _too_large(send, upload)


async def _read_whole(receive: Any, limit: int) -> bytes | None:
    """The whole body, or None once it passes ``limit`` (read no further) or the client leaves."""
    parts: list[bytes] = []
    read = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        part = message.get("body", b"")
        read += len(part)
        if read > limit:
            return None
        parts.append(part)
        if not message.get("more_body", False):
            return b"".join(parts)


def _replay(body: bytes, receive: Any) -> Any:
    """A ``receive`` that gives ``body`` in one message, then what the client's connection says."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> Any:
        return pending.pop() if pending else await receive()

    return replayed


async def _too_large(send: Any, upload: bool) -> None:
    limit = settings.PARLEY_UPLOAD_MAX_BYTES if upload else settings.PARLEY_MAX_BODY_BYTES
    what = "the file" if upload else "the request body"
    body = orjson.dumps({"error": {"code": "too_large", "detail": f"{what} is larger than {limit} bytes"}})
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
