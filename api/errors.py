"""Every error the API answers, in one shape: ``{"error": {"code", "detail"}}`` with the status of
its code, never HTML, never a 5xx for bad input.

The codes are the WebSocket protocol's (``chat.protocol.ErrorCode``) plus ``unauthenticated``
(401), ``method_not_allowed`` (405) and ``internal`` (500, a bug). ``install`` puts a handler for
each kind of exception on the NinjaAPI, so a route raises ProtocolError or ApiError and never
builds an error response itself.
"""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING, Any

import orjson
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError

from chat.protocol import ErrorCode, ProtocolError
from core import backends, metrics
from uploads.services import UploadRefused

if TYPE_CHECKING:
    from ninja import NinjaAPI

log = logging.getLogger("parley.api")

UNAUTHENTICATED = "unauthenticated"
METHOD_NOT_ALLOWED = "method_not_allowed"
INTERNAL = "internal"
INVALID_FILE = "invalid_file"  # an upload that is not what it claims, or cannot be read (uploads.files)

# The status of every code. Each ErrorCode must be here (tests/api check it): a new code without
# a status would be a 500.
STATUS: dict[str, int] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_FRAME: 400,
    ErrorCode.UNKNOWN_TYPE: 400,
    ErrorCode.EMPTY_MESSAGE: 400,
    ErrorCode.INVALID_ROOM: 400,
    ErrorCode.INVALID_NAME: 400,
    INVALID_FILE: 400,
    UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.TOO_LATE: 403,
    ErrorCode.MUTED: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.CONFLICT: 409,
    METHOD_NOT_ALLOWED: 405,
    ErrorCode.TOO_LARGE: 413,
    ErrorCode.RATE_LIMITED: 429,
    INTERNAL: 500,
    ErrorCode.UNAVAILABLE: 503,
}

# Every status an operation may answer with an error (its OpenAPI responses list them all).
ERROR_STATUSES = (400, 401, 403, 404, 409, 413, 429, 503)


class ApiError(Exception):
    """An error of the API's own (no WebSocket equivalent), e.g. ``unauthenticated``."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def error_response(
    code: str,
    detail: str,
    *,
    status: int | None = None,
    extra: dict[str, Any] | None = None,
    retry_after: float | None = None,
) -> HttpResponse:
    """The error shape as a response; the status from ``STATUS`` unless given; ``extra`` fields
    (``until`` of ``muted``) go beside code and detail. A 429 says when to try again (Retry-After,
    whole seconds, at least 1)."""
    body = orjson.dumps({"error": {"code": str(code), "detail": detail, **(extra or {})}})
    response = HttpResponse(body, status=status or STATUS.get(code, 400), content_type="application/json")
    response["Cache-Control"] = "no-store"
    if code == UNAUTHENTICATED:
        response["WWW-Authenticate"] = 'Bearer realm="parley"'
    if response.status_code == 429:
        response["Retry-After"] = str(max(1, math.ceil(retry_after or 1)))
    return response


def install(api: NinjaAPI) -> None:
    """Replace django-ninja's default exception handlers (plain ``{"detail"}``, 422, Django's
    HTML 500) with the error shape."""

    def protocol_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ProtocolError)
        # muted: when the mute ends (null: until lifted); a timed ban tells it too.
        extra: dict[str, Any] = {"until": exc.until} if exc.code == ErrorCode.MUTED or exc.until is not None else {}
        if exc.reason is not None:
            extra["reason"] = exc.reason  # a finer reason (protocol.NAME_TAKEN)
        return error_response(exc.code, exc.detail, extra=extra, retry_after=exc.retry_after)

    def api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, (ApiError, UploadRefused))
        return error_response(exc.code, exc.detail)

    def validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ValidationError)
        return error_response(ErrorCode.INVALID_FRAME, describe(exc.errors))

    def http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, HttpError)
        if isinstance(exc, AuthenticationError):
            return error_response(UNAUTHENTICATED, "credentials needed: Authorization: Bearer <token>, or a session")
        if exc.status_code == 400:  # django-ninja's "Cannot parse request body"
            if isinstance(exc.__cause__, ProtocolError):  # api.openapi.ObjectParser: not an object
                return error_response(exc.__cause__.code, exc.__cause__.detail)
            return error_response(ErrorCode.INVALID_JSON, "the body is not valid JSON")
        if exc.status_code == 429:
            return error_response(ErrorCode.RATE_LIMITED, str(exc))
        return error_response(ErrorCode.INVALID_FRAME, str(exc), status=exc.status_code)

    def not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(ErrorCode.NOT_FOUND, "not found")

    def anything_else(request: HttpRequest, exc: Any) -> HttpResponse:
        return failure_response(request, exc)

    api.add_exception_handler(Exception, anything_else)
    api.add_exception_handler(ProtocolError, protocol_error)
    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(UploadRefused, api_error)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)


def failure_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """A request that failed: 503 ``unavailable`` when a backend is down (``core.backends``), else
    500 ``internal``, a bug, logged with its traceback."""
    if backends.down(exc):
        metrics.backend_error(exc)
        log.warning("%s %s: backend unavailable: %s: %s", request.method, request.path, type(exc).__name__, exc)
        return error_response(ErrorCode.UNAVAILABLE, "the server cannot reach its store right now; try again shortly")
    log.error("%s %s failed", request.method, request.path, exc_info=exc)
    return error_response(INTERNAL, "internal error")


# Where a value of a request comes from, as django-ninja names it first in an error's "loc".
_SOURCES = frozenset({"body", "query", "path", "header", "cookie", "form", "file"})


def describe(errors: list[dict[str, Any]]) -> str:
    """pydantic's errors as one line, each naming its field once: ``message: Input should be a
    valid string; ...`` (django-ninja's loc is the source, the parameter, then the field:
    ``("body", "body", "message")``)."""
    parts = []
    for error in errors[:5]:
        loc = [str(p) for p in error.get("loc", ())]
        source = loc.pop(0) if loc and loc[0] in _SOURCES else ""
        if source == "body" and len(loc) > 1:
            loc.pop(0)  # the body parameter's own name
        where = ".".join(loc) or source
        message = str(error.get("msg", "invalid"))
        parts.append(f"{where}: {message}" if where else message)
    return "; ".join(parts) or "invalid request"
