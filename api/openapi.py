"""The API's OpenAPI schema, made to say what the server enforces, and its JSON bodies' parser.

django-ninja builds the schema from the types (``api.schemas``, the routes' parameters). What the
types cannot say is added here, once, the first time the schema is asked for:

- ``x-pattern`` (a string type of ``api.schemas``) becomes the pattern ``api.patterns`` builds
  from the server's own rule (room names, usernames, messages, emoji);
- every other string a client sends (a parameter, a body's field) gets ``core.inputs``' rule as a
  pattern: no NUL and no lone surrogate, and in a name no control character either;
- times (``ts``, ``created``, ``expires``, ...) are ``format: date-time``.

``ObjectParser``: a JSON body must be an object (``null``, ``[]`` or ``5`` is 400 invalid_frame),
as a WebSocket frame must.
"""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import NinjaAPI
from ninja.operation import Operation
from ninja.parser import Parser

from chat.protocol import ErrorCode, ProtocolError

from . import patterns

# The fields that hold a time (ISO 8601 in UTC: ``protocol.format_ts``).
TIMESTAMPS = frozenset({"ts", "created", "expires", "last_used", "last_activity", "until"})


class ObjectParser(Parser):
    """django-ninja's JSON body parser, refusing anything but an object (ninja reports a parse
    failure as a 400, which ``api.errors`` answers with the ProtocolError it carries)."""

    def parse_body(self, request: HttpRequest) -> dict[str, Any]:
        data = json.loads(request.body)
        if not isinstance(data, dict):
            raise ProtocolError(ErrorCode.INVALID_FRAME, "the body must be a JSON object")
        return data


class Api(NinjaAPI):
    """NinjaAPI whose schema is finished (``finish``) once and kept, and whose operations are
    named by their view functions (``post_message``, ``ns_ban``: what a generated client calls)."""

    _finished: dict[str, Any] | None = None

    def get_openapi_operation_id(self, operation: Operation) -> str:
        return operation.view_func.__name__

    def get_openapi_schema(self, *, path_prefix: str | None = None, path_params: Any = None) -> Any:
        if self._finished is None:
            self._finished = finish(dict(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params)))
        return self._finished


def finish(schema: dict[str, Any]) -> dict[str, Any]:
    """Patterns for what clients send, formats for times (see the module's docstring)."""
    components = schema.get("components", {}).get("schemas", {})
    sent: set[str] = set()  # the components that are request bodies
    for item in schema.get("paths", {}).values():
        for operation in item.values():
            for parameter in operation.get("parameters", ()):
                _patterns(parameter["schema"], parameter["name"])
            body = operation.get("requestBody", {}).get("content", {})
            form = body.get("multipart/form-data", {}).get("schema", {})
            if form.get("type") == "object":
                # A form's other fields are unused, but their names are checked as everything that
                # enters is (core.inputs): no NUL.
                form["propertyNames"] = {"pattern": patterns.text("")}
            for media in body.values():
                ref = media.get("schema", {}).get("$ref", "")
                if ref.startswith("#/components/schemas/"):
                    sent.add(ref.rsplit("/", 1)[1])
    for name, component in components.items():
        for field, prop in component.get("properties", {}).items():
            if name in sent:
                _patterns(prop, field)
            if field in TIMESTAMPS:
                _time(prop)
    return schema


def _patterns(schema: dict[str, Any], field: str) -> None:
    """Give a string a pattern: its ``x-pattern``'s, else ``core.inputs``' rule for ``field``."""
    for option in schema.get("anyOf", ()):
        _patterns(option, field)
    named = schema.pop("x-pattern", None)
    if named is not None:
        schema["pattern"] = getattr(patterns, named)()
    elif schema.get("type") == "string" and not {"pattern", "enum", "const", "format"} & schema.keys():
        schema["pattern"] = patterns.text(field)


def _time(schema: dict[str, Any]) -> None:
    for option in schema.get("anyOf", ()):
        _time(option)
    if schema.get("type") == "string":
        schema["format"] = "date-time"
