"""``POST /hooks/<secret>``: an incoming webhook's door (docs/webhooks.md). No credentials but the
secret in the path (and so no CSRF check: there is no session to ride); unknown or revoked: 404.

The body is Parley's ``{"message": "..."}`` or Slack's incoming-webhook JSON (``text``,
``username``, ``blocks``, ``attachments``: ``hooks.slack``), as JSON or as the form field
``payload``. The message goes through ``chat.actions.do_send_message`` like every other, as the
hook's own bot; the answer is 200 ``{"id"}`` (Slack's clients accept any 2xx). Errors are the API's
shape (``api.errors``); each hook may post ``PARLEY_WEBHOOK_INCOMING_RATE_PER_SEC`` messages a
second (per process), then 429.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from api.errors import METHOD_NOT_ALLOWED, error_response, failure_response
from chat import db
from chat.protocol import ErrorCode, ProtocolError
from chat.ratelimit import KeyedBuckets
from hooks import services, slack

# Per hook, in this process.
_posts = KeyedBuckets(lambda: (settings.PARLEY_WEBHOOK_INCOMING_RATE_PER_SEC, settings.PARLEY_WEBHOOK_INCOMING_BURST))
_MARKDOWN = re.compile(r"([\\`*_{}\[\]<>()#+\-.!|~])")


def _payload(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object: the form field ``payload`` of a form, else the raw body."""
    raw: bytes | str = request.body
    if request.content_type == "application/x-www-form-urlencoded" and "payload" in request.POST:
        raw = request.POST["payload"]
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ProtocolError(ErrorCode.INVALID_JSON, "the body (or its form field `payload`) is not JSON") from None
    if not isinstance(data, dict):
        raise ProtocolError(ErrorCode.INVALID_FRAME, "the body must be a JSON object")
    return data


def message_of(data: dict[str, Any], hook_name: str) -> str:
    """The text to post: Parley's ``message``, else Slack's payload as Markdown. A Slack
    ``username`` other than the hook's name is put in bold before the text (the sender stays the
    hook's bot: a program never speaks under a name it does not own)."""
    if "message" in data:
        if not isinstance(data["message"], str):
            raise ProtocolError(ErrorCode.INVALID_FRAME, "'message' must be a string")
        return data["message"]
    try:
        text, username = slack.to_markdown(data)
    except slack.NotAMessage as exc:
        raise ProtocolError(ErrorCode.EMPTY_MESSAGE, str(exc)) from None
    if username and username.strip() != hook_name:
        escaped = _MARKDOWN.sub(r"\\\1", username.strip())
        text = f"**{escaped}**: {text}"
    return text


@csrf_exempt
async def incoming(request: HttpRequest, secret: str) -> HttpResponse:
    """The door; anything that fails is the API's 503 (a backend down) or 500, in its shape."""
    try:
        return await _incoming(request, secret)
    except Exception as exc:
        return failure_response(request, exc)


async def _incoming(request: HttpRequest, secret: str) -> HttpResponse:
    if request.method != "POST":
        response = error_response(METHOD_NOT_ALLOWED, "POST a message to this URL")
        response["Allow"] = "POST"
        return response
    found = await db.call(services.incoming_find, secret)
    if found is None:
        return error_response(ErrorCode.NOT_FOUND, "no such hook (or it was revoked)")
    hook, ns = found
    try:
        text = message_of(_payload(request), hook.name)
        if not _posts.take(hook.pk):
            wait = _posts.wait(hook.pk)
            return error_response(ErrorCode.RATE_LIMITED, "too many messages: slow down", retry_after=wait)
        outcome = await services.do_incoming_post(hook, ns, text)
    except ProtocolError as exc:
        return error_response(exc.code, exc.detail)
    return HttpResponse(orjson.dumps({"id": outcome.seq}), content_type="application/json")
