"""HTTP middleware: what a reverse proxy says about the client is believed from trusted proxies
only; every string a request brings is checked before anything reads it; a page whose backend is
down is a 503, not a 500.

Trusted proxies.

Django's ``SECURE_PROXY_SSL_HEADER`` believes ``X-Forwarded-Proto`` from whoever sends it, so a
client talking plain HTTP straight to Parley could claim to be on HTTPS and skip the redirect. This
middleware runs first: from a peer listed in ``PARLEY_TRUSTED_PROXIES`` it takes the client's
address from ``X-Forwarded-For`` (``core.clientaddr``) into ``REMOTE_ADDR`` and keeps
``X-Forwarded-Proto``; from anyone else it drops ``X-Forwarded-Proto``. ``X-Forwarded-For`` is
dropped in both cases: from here on ``REMOTE_ADDR`` is the client, and nothing later can read the
header again with other rules (django-ipware's, say).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import cast

from asgiref.sync import iscoroutinefunction, sync_to_async
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import MultiPartParserError
from django.http.response import HttpResponseBase
from django.urls import Resolver404, resolve
from django.utils.decorators import sync_and_async_middleware
from django.utils.deprecation import MiddlewareMixin

from core import backends, inputs
from core.clientaddr import client_address, is_trusted_proxy
from parley import errors


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


# --- Every string a request brings (core.inputs) ---------------------------------------------------

# Paths answered in the API's JSON error shape rather than with a page.
JSON_PATHS = ("/api/",)
_FORM_TYPES = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def check_request(request: HttpRequest) -> None:
    """Every string of the request through ``core.inputs``: the path's parts (named by the route
    that matches, when one does), the query's parameters, a form's fields, a JSON body. Raises
    BadInput; a body too large to read is RequestDataTooBig."""
    path = request.path_info
    if inputs.suspect(path):
        try:
            kwargs = resolve(path).kwargs
        except Resolver404:
            kwargs = {"path": path}
        inputs.check_pairs(kwargs.items())
    if request.META.get("QUERY_STRING"):
        inputs.check_pairs(request.GET.lists())
    if request.method in _BODY_METHODS:
        if request.content_type in _FORM_TYPES:
            inputs.check_pairs(request.POST.lists())
        else:
            inputs.check_json_bytes(request.body)


def problem(request: HttpRequest) -> Exception | None:
    """What is wrong with the request's input (``check_request``), or None."""
    try:
        check_request(request)
    # RequestDataTooBig is a SuspiciousOperation; a multipart body without a boundary, a
    # MultiPartParserError (Django would answer its 400 page, even under /api/).
    except (inputs.BadInput, SuspiciousOperation, MultiPartParserError) as exc:
        return exc
    return None


def refusal(request: HttpRequest, exc: Exception) -> HttpResponse:
    """The answer to a request whose input is refused: the API's error shape under /api/, else a
    page (which reads the session: from async code, call it on a thread)."""
    api = request.path_info.startswith(JSON_PATHS)
    if isinstance(exc, inputs.BadInput):
        if api:
            from api.errors import error_response  # the API answers in its own shape
            from chat.protocol import field_error

            error = field_error(exc)
            return error_response(error.code, error.detail)
        return errors.bad_input(request, exc)
    if isinstance(exc, RequestDataTooBig):
        if api:
            from api.errors import error_response

            return error_response("too_large", "the request body is larger than the server accepts")
        return errors.too_large(request)
    if api:
        from api.errors import error_response

        return error_response("invalid_frame", "the request cannot be read")
    return errors.bad_request(request)


@sync_and_async_middleware
def input_check_middleware(get_response: GetResponse) -> GetResponse:
    """Before any view reads the request: no NUL, no lone surrogate, no control character in a
    name, wherever it is (``core.inputs``): 400 in the API's error shape under /api/, the 400 page
    elsewhere. Sync and async; the check adds no thread hop (a refused request's page does)."""
    if iscoroutinefunction(get_response):
        get_async = cast("Callable[[HttpRequest], Awaitable[HttpResponseBase]]", get_response)

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            # A multipart body (an upload: up to PARLEY_UPLOAD_MAX_BYTES) is parsed on a thread:
            # 10 MiB take Django's parser 10 ms of an idle core and 40 under load, which the event
            # loop, and every connection it serves, would otherwise wait.
            multipart = request.method in _BODY_METHODS and request.content_type == "multipart/form-data"
            exc = await asyncio.to_thread(problem, request) if multipart else problem(request)
            if exc is None:
                return await get_async(request)
            return await sync_to_async(refusal)(request, exc)

        return async_middleware

    get_sync = cast("Callable[[HttpRequest], HttpResponseBase]", get_response)

    def middleware(request: HttpRequest) -> HttpResponseBase:
        exc = problem(request)
        return get_sync(request) if exc is None else refusal(request, exc)

    return middleware


class BackendDownMiddleware(MiddlewareMixin):
    """A page whose database or Redis cannot be reached is the 503 page ("try again in a moment"),
    not a 500: only a bug is a 500 (``core.backends``). (The API answers its own: ``api.errors``.)"""

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if backends.down(exception):
            from core import metrics

            metrics.backend_error(exception)
            return errors.unavailable(request)
        return None
