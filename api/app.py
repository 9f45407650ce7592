"""The NinjaAPI of /api/v1 and its URLs.

django-ninja (not DRF + drf-spectacular): its typed pydantic schemas give the OpenAPI 3 schema
from the code, its operations can be ``async`` and so run on the server's event loop, where
Parley's group commit and hub live (``chat.actions.do_*`` are awaited there, as the WebSocket
consumers do), and it is small. The OpenAPI schema is at /api/v1/openapi.json and rendered by
Swagger UI at /api/v1/docs from ninja's own static files (no CDN, no inline script: the site's
Content-Security-Policy holds).
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

import orjson
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.urls import URLPattern, URLResolver, re_path
from ninja.openapi.docs import Swagger
from ninja.renderers import BaseRenderer

from . import errors
from .auth import Credentials
from .openapi import Api, ObjectParser
from .routes import router

NAMESPACE = "api-v1"


class OrjsonRenderer(BaseRenderer):
    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> bytes:
        return orjson.dumps(data)


api = Api(
    title="Parley API",
    version="1",
    description="Parley's REST API v1: JSON in and out, personal tokens, the same rules and events as the "
    "WebSocket protocol. See docs/api.md.",
    urls_namespace=NAMESPACE,
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs=Swagger(),
    auth=Credentials(),
    renderer=OrjsonRenderer(),
    parser=ObjectParser(),
)
errors.install(api)
api.add_router("", router)


def _json_405(view: Any) -> Any:
    """django-ninja answers a wrong method with an empty 405; this gives it the error shape (with
    its Allow header). Only ninja's async views need it: the schema and docs views are GET only."""
    if not asyncio.iscoroutinefunction(view):
        return view

    @functools.wraps(view)
    async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = await view(request, *args, **kwargs)
        if isinstance(response, HttpResponseNotAllowed):
            allowed = response["Allow"]
            response = errors.error_response(errors.METHOD_NOT_ALLOWED, f"allowed methods: {allowed}")
            response["Allow"] = allowed
        return response

    wrapped.csrf_exempt = True  # type: ignore[attr-defined]  # as ninja's own views
    return wrapped


async def not_found(request: HttpRequest, rest: str = "") -> HttpResponse:
    """Any other path under /api/v1: 404 in the error shape (not Django's HTML page)."""
    return errors.error_response("not_found", f"no such path: {request.path}")


def urls() -> tuple[list[URLPattern | URLResolver], str, str]:
    """For ``path("api/v1/", ...)`` in parley/urls.py: ninja's routes, then a catch-all 404."""
    patterns, app_name, namespace = api.urls
    routes: list[URLPattern | URLResolver] = []
    for pattern in patterns:
        if isinstance(pattern, URLPattern):
            pattern.callback = _json_405(pattern.callback)
        routes.append(pattern)
    routes.append(re_path(r"^(?P<rest>.*)$", not_found))
    return routes, app_name, namespace
