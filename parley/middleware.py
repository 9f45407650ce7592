"""HTTP middleware: what a reverse proxy says about the client is believed from trusted proxies only.

Django's ``SECURE_PROXY_SSL_HEADER`` believes ``X-Forwarded-Proto`` from whoever sends it, so a
client talking plain HTTP straight to Parley could claim to be on HTTPS and skip the redirect. This
middleware runs first: from a peer listed in ``PARLEY_TRUSTED_PROXIES`` it takes the client's
address from ``X-Forwarded-For`` (``core.clientaddr``) into ``REMOTE_ADDR`` and keeps
``X-Forwarded-Proto``; from anyone else it drops ``X-Forwarded-Proto``. ``X-Forwarded-For`` is
dropped in both cases: from here on ``REMOTE_ADDR`` is the client, and nothing later can read the
header again with other rules (django-ipware's, say).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from core.clientaddr import client_address, is_trusted_proxy


def believe_trusted_proxy(request: HttpRequest) -> None:
    """Called before every request is handled: settles REMOTE_ADDR and the forwarded headers."""
    meta = request.META
    peer = meta.get("REMOTE_ADDR")
    forwarded_for = meta.pop("HTTP_X_FORWARDED_FOR", None)
    if is_trusted_proxy(peer):
        meta["REMOTE_ADDR"] = client_address(peer, forwarded_for)
    else:
        meta.pop("HTTP_X_FORWARDED_PROTO", None)


# What Django hands a middleware: the rest of the chain, a plain function or a coroutine function.
GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


@sync_and_async_middleware
def trusted_proxy_middleware(get_response: GetResponse) -> GetResponse:
    """Sync and async, so that it adds no thread hop in front of Django's async handler."""
    if iscoroutinefunction(get_response):
        get_async = cast("Callable[[HttpRequest], Awaitable[HttpResponseBase]]", get_response)

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            believe_trusted_proxy(request)
            return await get_async(request)

        return async_middleware

    get_sync = cast("Callable[[HttpRequest], HttpResponseBase]", get_response)

    def middleware(request: HttpRequest) -> HttpResponseBase:
        believe_trusted_proxy(request)
        return get_sync(request)

    return middleware
