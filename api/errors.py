"""Every error the API answers, in one shape: ``{"error": {"code", "detail"}}`` with the status of
its code, never HTML, never a 5xx for bad input.

The codes are the WebSocket protocol's (``chat.protocol.ErrorCode``) plus ``unauthenticated``
(401), ``method_not_allowed`` (405) and ``internal`` (500, a bug). ``install`` puts a handler for
each kind of exception on the NinjaAPI, so a route raises ProtocolError or ApiError and never
builds an error response itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import orjson
from django.db import DatabaseError
from django.http import Http404, HttpRequest, HttpResponse
from ninja.errors import AuthenticationError, HttpError, ValidationError
from redis.exceptions import RedisError

from chat.protocol import ErrorCode, ProtocolError

if TYPE_CHECKING:
    from ninja import NinjaAPI

log = logging.getLogger("parley.api")

UNAUTHENTICATED = "unauthenticated"
METHOD_NOT_ALLOWED = "method_not_allowed"
INTERNAL = "internal"

# The status of every code. Each ErrorCode must be here (tests/api check it): a new code without
# a status would be a 500.
STATUS: dict[str, int] = {
    ErrorCode.INVALID_JSON: 400,
    ErrorCode.INVALID_FRAME: 400,
    ErrorCode.UNKNOWN_TYPE: 400,
    ErrorCode.EMPTY_MESSAGE: 400,
    ErrorCode.INVALID_ROOM: 400,
    ErrorCode.INVALID_NAME: 400,
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
    code: str, detail: str, *, status: int | None = None, extra: dict[str, Any] | None = None
) -> HttpResponse:
    """The error shape as a response; the status from ``STATUS`` unless given; ``extra`` fields
    (``until`` of ``muted``) go beside code and detail."""
    body = orjson.dumps({"error": {"code": str(code), "detail": detail, **(extra or {})}})
    response = HttpResponse(body, status=status or STATUS.get(code, 400), content_type="application/json")
    response["Cache-Control"] = "no-store"
    if code == UNAUTHENTICATED:
        response["WWW-Authenticate"] = 'Bearer realm="parley"'
    return response


def install(api: NinjaAPI) -> None:
    """Replace django-ninja's default exception handlers (plain ``{"detail"}``, 422, Django's
    HTML 500) with the error shape."""

    def protocol_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ProtocolError)
        # muted: when the mute ends (null: until lifted); a timed ban tells it too.
        extra = {"until": exc.until} if exc.code == ErrorCode.MUTED or exc.until is not None else None
        return error_response(exc.code, exc.detail, extra=extra)

    def api_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ApiError)
        return error_response(exc.code, exc.detail)

    def validation_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, ValidationError)
        return error_response(ErrorCode.INVALID_FRAME, describe(exc.errors))

    def http_error(request: HttpRequest, exc: Any) -> HttpResponse:
        assert isinstance(exc, HttpError)
        if isinstance(exc, AuthenticationError):
            return error_response(UNAUTHENTICATED, "credentials needed: Authorization: Bearer <token>, or a session")
        if exc.status_code == 400:  # django-ninja's "Cannot parse request body"
            return error_response(ErrorCode.INVALID_JSON, "the body is not valid JSON")
        if exc.status_code == 429:
            return error_response(ErrorCode.RATE_LIMITED, str(exc))
        return error_response(ErrorCode.INVALID_FRAME, str(exc), status=exc.status_code)

    def not_found(request: HttpRequest, exc: Any) -> HttpResponse:
        return error_response(ErrorCode.NOT_FOUND, "not found")

    def anything_else(request: HttpRequest, exc: Any) -> HttpResponse:
        if isinstance(exc, (DatabaseError, RedisError, OSError)):
            log.warning("%s %s: backend unavailable: %s: %s", request.method, request.path, type(exc).__name__, exc)
            return error_response(
                ErrorCode.UNAVAILABLE, "the server cannot reach its store right now; try again shortly"
            )
        log.exception("%s %s failed", request.method, request.path)
        return error_response(INTERNAL, "internal error")

    api.add_exception_handler(Exception, anything_else)
    api.add_exception_handler(ProtocolError, protocol_error)
    api.add_exception_handler(ApiError, api_error)
    api.add_exception_handler(ValidationError, validation_error)
    api.add_exception_handler(HttpError, http_error)
    api.add_exception_handler(Http404, not_found)


def describe(errors: list[dict[str, Any]]) -> str:
    """pydantic's errors as one line: ``body.message: Input should be a valid string; ...``."""
    parts = []
    for error in errors[:5]:
        where = ".".join(str(p) for p in error.get("loc", ()))
        parts.append(f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg", "invalid")))
    return "; ".join(parts) or "invalid request"
