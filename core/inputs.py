"""Every string that enters Parley, checked in one place, whatever door it came through.

What no string may hold, anywhere:

- NUL (U+0000): PostgreSQL's ``text`` cannot store it (the driver refuses the query).
- A lone surrogate (U+D800 to U+DFFF outside a pair): not a character; JSON encoders (orjson) and
  UTF-8 refuse it. Only a JSON ``\\ud800`` escape can bring one in.

What a *name* may not hold besides: any other control character (C0, DEL, C1) but the white space
a form can hold (tab, line feed, carriage return: each name's own check then collapses or refuses
it, with that field's own message). Names are the fields
listed in ``NAMES``: usernames, display names, room and namespace names, invite codes, client ids,
emoji. Free text (a message, a reason, a password) may hold tabs, newlines and the like.

The doors call ``check_pairs`` with (field, value) pairs (path segments, query parameters, form
fields, WebSocket handshake parameters) and ``check_json`` with a parsed JSON document (API bodies,
WebSocket frames); ``check_json_bytes`` first looks at a raw body for anything that could need the
walk. A problem raises ``BadInput`` naming the field; each door turns it into its own refusal (an
HTTP 400 in the API's error shape or the 400 page, an ``error`` frame) with the field's error code
(``chat.protocol.field_error``). Nothing here knows about doors, Django or error codes.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

# Fields whose values are names: no control character at all. (A field's name is its path
# segment's, its query parameter's, its form field's or its innermost JSON key's.)
NAMES = frozenset(
    {
        "username",
        "name",
        "sender",
        "guest",
        "dm",
        "room",
        "ns",
        "ns_name",
        "code",
        "client_id",
        "emoji",
        "op",
        "type",
        "visibility",
        "room_creation",
        "role",
        "level",
        "Idempotency-Key",
    }
)

_NEVER = re.compile("[\x00\ud800-\udfff]")
_NOT_IN_NAMES = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

# What a raw JSON body holds when one of its strings might: a NUL or a control escape (\u00XX,
# \b \f \n \r \t), a surrogate escape (\uD800 to \uDFFF, paired or not), a raw NUL, DEL or C1 byte.
_SUSPECT_JSON = re.compile(rb"\\u00[0-9a-fA-F]{2}|\\u[dD][89a-fA-F]|\\[bfnrt]|[\x00\x7f]|\xc2[\x80-\x9f]")


class BadInput(ValueError):
    """A string Parley does not accept: ``field`` names where it was, ``char`` is the character
    refused there (``kind`` says what it is: nul, surrogate or control), ``what`` what held it when
    not the field's value (a key, a field's name), and ``detail`` says it all in English."""

    def __init__(self, field: str, char: str, what: str | None = None) -> None:
        self.field = field
        self.char = char
        self.what = what
        self.kind = "nul" if char == "\x00" else "surrogate" if "\ud800" <= char <= "\udfff" else "control"
        self.detail = f"{what or repr(field)} holds {_describe(char)}"
        super().__init__(self.detail)


def _describe(ch: str) -> str:
    if ch == "\x00":
        return "a NUL character (U+0000)"
    if "\ud800" <= ch <= "\udfff":
        return f"a lone surrogate (U+{ord(ch):04X})"
    return f"a control character (U+{ord(ch):04X})"


def check(field: str, value: str, *, what: str | None = None) -> None:
    """Raise BadInput if ``value`` (of ``field``) holds what no string, or no name, may hold;
    ``what`` says what the value is when it is not the field's value (a key, a field's name)."""
    found = (_NOT_IN_NAMES if field in NAMES and what is None else _NEVER).search(value)
    if found is not None:
        raise BadInput(field, found.group(), what)


def suspect(text: str) -> bool:
    """Whether ``text`` holds anything ``check`` might refuse in some field (a cheap first look)."""
    return _NOT_IN_NAMES.search(text) is not None


def check_pairs(pairs: Iterable[tuple[str, Any]]) -> None:
    """Check (field, value) pairs: the field's name as given, and each string value (a list of
    values, as a query parameter repeated, is checked value by value)."""
    for field, value in pairs:
        check(field, field, what="a field's name")
        if isinstance(value, str):
            check(field, value)
        elif isinstance(value, list | tuple):
            for item in value:
                if isinstance(item, str):
                    check(field, item)


def check_json(data: Any, field: str = "body") -> None:
    """Walk a parsed JSON document: every key and every string, a string under the rules of its
    innermost key (``NAMES``); ``field`` names the document (a body, a frame). Iterative: however
    deep the document, no recursion."""
    stack: list[tuple[Any, str]] = [(data, field)]
    while stack:
        value, where = stack.pop()
        if isinstance(value, str):
            check(where, value)
        elif isinstance(value, dict):
            for key, item in value.items():
                if isinstance(key, str):
                    check(where, key, what=f"a key in {where!r}")
                stack.append((item, key if isinstance(key, str) else where))
        elif isinstance(value, list):
            stack.extend((item, where) for item in value)


def check_json_bytes(raw: bytes) -> None:
    """Check a raw JSON body: parsed and walked only if it holds something that could be refused
    (most bodies hold no escape at all). A body that is not JSON is left to its reader."""
    if not _SUSPECT_JSON.search(raw):
        return
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError):  # not JSON, or nested too deep: its reader refuses it
        return
    check_json(data)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")


def parse_lenient(text: str) -> Any:
    """Parse JSON that a strict parser (orjson) refused, to find out why: Python's own parser takes
    lone surrogates, so ``check_json`` can then name the field that holds one. ValueError if it is
    not JSON at all (or holds no surrogate escape, the one thing orjson refuses and JSON allows, or
    is nested too deep to parse)."""
    if _SURROGATE_ESCAPE.search(text) is None:
        raise ValueError("not JSON")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deep") from None
