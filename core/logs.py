"""Logs an operator can follow: one JSON object per line (``PARLEY_LOG_FORMAT=json``), each line
naming the WebSocket connection or the HTTP request it belongs to.

The id lives in a contextvar: a WebSocket connection sets its own (``connection``, the outbox
origin: ``host:pid:random:n``, unique across processes) for its task; an HTTP request gets one from
``request_id_middleware`` (or its trusted proxy's ``X-Request-ID``) and hears it back in
``X-Request-ID``. ``ContextFilter`` copies it onto each record; ``JsonFormatter`` writes it as
``connection_id`` or ``request_id``. Calls on the database thread (``chat.db``) and threads
started with ``sync_to_async`` run in a copy of the caller's context, so their lines carry the id
too. Tasks that serve everyone (the group commit, the bus reader, gap fills) start in
``detached()`` contexts: whichever connection happened to start one must not lend it its id for
life.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import cast

import orjson
from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest
from django.http.response import HttpResponseBase
from django.utils.decorators import sync_and_async_middleware

from core.clientaddr import is_trusted_proxy

# ("connection" | "request", id) of the work running now; None outside any.
context_id: contextvars.ContextVar[tuple[str, str] | None] = contextvars.ContextVar("parley.log_id", default=None)

# An X-Request-ID a trusted proxy may hand on (nginx's $request_id is 32 hex digits).
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def set_connection(connection_id: str) -> None:
    """Called by a WebSocket connection's task: its log lines from here on carry ``connection_id``."""
    context_id.set(("connection", connection_id))


def detached() -> contextvars.Context:
    """A copy of the current context without a connection or request id, nor a commit time, for a
    task that outlives whatever started it (``loop.create_task(coro, context=detached())``)."""
    from core import metrics

    context = contextvars.copy_context()
    context.run(context_id.set, None)
    context.run(metrics.COMMITTED_AT.set, 0.0)
    return context


class ContextFilter(logging.Filter):
    """Puts the current connection or request id on every record (``record.context_id``)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.context_id = context_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time (UTC, milliseconds), level, logger, message, the connection
    or request id, and the traceback when there is one (newlines escaped: still one line)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(timespec="milliseconds")[:-6] + "Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        ids = getattr(record, "context_id", None)
        if ids is not None:
            entry[f"{ids[0]}_id"] = ids[1]
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        try:
            return orjson.dumps(entry, default=str).decode("utf-8")
        except TypeError:  # a lone surrogate in the message: json escapes it
            return json.dumps(entry, default=str)


def _request_id(request: HttpRequest) -> str:
    given = request.headers.get("X-Request-ID")
    if given and _REQUEST_ID.fullmatch(given) and is_trusted_proxy(request.META.get("REMOTE_ADDR")):
        return given
    return uuid.uuid4().hex


# What Django hands a middleware: the rest of the chain, a plain function or a coroutine function.
GetResponse = Callable[[HttpRequest], HttpResponseBase | Awaitable[HttpResponseBase]]


@sync_and_async_middleware
def request_id_middleware(get_response: GetResponse) -> GetResponse:
    """Gives each HTTP request an id for its log lines and answers it in ``X-Request-ID``. First in
    MIDDLEWARE, so that every later line of the request has it (REMOTE_ADDR is still the peer: a
    proxy's id is believed from PARLEY_TRUSTED_PROXIES only)."""
    if iscoroutinefunction(get_response):
        get_async = cast("Callable[[HttpRequest], Awaitable[HttpResponseBase]]", get_response)

        async def async_middleware(request: HttpRequest) -> HttpResponseBase:
            request_id = _request_id(request)
            # Not reset afterwards: Django logs a 4xx/5xx after the chain returns, in the same task,
            # and the task (its context with it) ends with the request.
            context_id.set(("request", request_id))
            response = await get_async(request)
            response["X-Request-ID"] = request_id
            return response

        return async_middleware

    get_sync = cast("Callable[[HttpRequest], HttpResponseBase]", get_response)

    def middleware(request: HttpRequest) -> HttpResponseBase:
        request_id = _request_id(request)
        token = context_id.set(("request", request_id))
        try:
            response = get_sync(request)
        finally:
            context_id.reset(token)
        response["X-Request-ID"] = request_id
        return response

    return middleware
