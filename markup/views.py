"""``POST /preview/``: a composer's text as a message would show it, for the room page (a guest's
too: the API's ``POST /api/v1/preview`` takes only accounts). Session and CSRF like every form;
JSON ``{"message"}`` in, ``{"html"}`` out; the same rendering as a post (no mention marked)."""

from __future__ import annotations

import asyncio

import orjson
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_POST

from chat.namespaces import POLICY_BOUNDS
from chat.protocol import ErrorCode
from chat.ratelimit import TokenBucket
from core.clientaddr import client_address

from .markdown import render

# Previews per second per client address (a click each, not a keystroke each).
RATE, BURST = 2.0, 10
_buckets: dict[str, TokenBucket] = {}


def _error(code: str, detail: str, status: int) -> JsonResponse:
    return JsonResponse({"error": {"code": code, "detail": detail}}, status=status)


@require_POST
async def preview(request: HttpRequest) -> JsonResponse:
    """Called when the composer's Preview is opened."""
    address = client_address(request.META.get("REMOTE_ADDR"), request.META.get("HTTP_X_FORWARDED_FOR")) or ""
    bucket = _buckets.get(address)
    if bucket is None:
        if len(_buckets) > 10_000:
            _buckets.clear()
        bucket = _buckets[address] = TokenBucket(rate=RATE, burst=BURST)
    if not bucket.take():
        return _error(ErrorCode.RATE_LIMITED, "too many previews: slow down", 429)
    try:
        data = orjson.loads(request.body)
    except orjson.JSONDecodeError:
        return _error(ErrorCode.INVALID_JSON, "the body must be JSON", 400)
    text = data.get("message") if isinstance(data, dict) else None
    if not isinstance(text, str):
        return _error(ErrorCode.INVALID_FRAME, "'message' must be a string", 400)
    if len(text) > max(settings.PARLEY_MAX_MESSAGE_CHARS, POLICY_BOUNDS["max_message_chars"][1]):
        return _error(ErrorCode.TOO_LARGE, "the text is too long to preview", 413)
    return JsonResponse({"html": await asyncio.to_thread(render, text)})
