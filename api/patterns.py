"""What the server enforces on a string, as a JSON Schema ``pattern`` for the API's schema.

Each pattern is built from the rule the server applies (``chat.protocol``, ``core.inputs``, Django's
username validator), not written by hand, so that a client generated from the schema (or a fuzzer
such as schemathesis) makes exactly the strings the server takes. Built once, the first time the
schema is asked for (a walk over Unicode: about a second).

The patterns are valid in ECMA-262 (with the ``u`` flag, as JSON Schema validators use it) and in
Python's ``re``: characters are written as they are (astral ones too); only the ASCII controls,
the separators and the formats are escapes, ``\\uXXXX``.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Callable, Iterable

import regex

from chat import protocol
from core import inputs


def _ranges(keep: Callable[[str], bool], points: Iterable[int] | None = None) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    # Every code point but the surrogates, which no string may hold (core.inputs).
    for cp in points if points is not None else (cp for cp in range(0x110000) if not 0xD800 <= cp <= 0xDFFF):
        if keep(chr(cp)):
            if found and found[-1][1] == cp - 1:
                found[-1] = (found[-1][0], cp)
            else:
                found.append((cp, cp))
    return found


def _char(cp: int) -> str:
    """One character inside a class: as it is, but for what a class gives meaning to, controls,
    separators and formats (escaped as \\uXXXX)."""
    ch = chr(cp)
    if ch in "\\]^-[":
        return "\\" + ch
    if cp < 0x10000 and unicodedata.category(ch) in ("Cc", "Cf", "Zl", "Zp", "Zs", "Cs"):
        return f"\\u{cp:04X}"
    return ch


def _class(ranges: list[tuple[int, int]], *, negate: bool = False) -> str:
    body = "".join(_char(a) if a == b else f"{_char(a)}-{_char(b)}" for a, b in ranges)
    return f"[{'^' if negate else ''}{body}]"


# What no string may hold, and what no name may hold (core.inputs), as classes. (Lone surrogates
# are left out: no UTF-8 text holds one, only a JSON escape can, and a pattern cannot name them in
# every regex dialect: Rust's, which jsonschema-rs uses, has no surrogates at all.)
_NEVER = "\\u0000"
_NOT_IN_NAMES = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F"


def text(field: str) -> str:
    """Any string ``core.inputs`` takes in ``field``: no NUL or lone surrogate; in a name, no
    control character either."""
    return f"^[^{_NOT_IN_NAMES if field in inputs.NAMES else _NEVER}]*$"


@functools.cache
def room_name() -> str:
    """A room's or a namespace's name (``protocol.check_room_name``): 1 to 64 letters, digits,
    ``-``, ``_`` and ``.``, not only dots. (Letters whose NFC form holds a mark are left out: the
    server checks the NFC form.)"""
    allowed = protocol._ROOM_CATEGORIES

    def keep(ch: str) -> bool:
        if unicodedata.category(ch) not in allowed:
            return False
        return all(unicodedata.category(c) in allowed for c in unicodedata.normalize("NFC", ch))

    ranges = sorted([*_ranges(keep), *((ord(c), ord(c)) for c in "-_.")])
    return f"^(?!\\.+$){_class(ranges)}{{1,{protocol.ROOM_NAME_MAX}}}$"


@functools.cache
def username() -> str:
    """A username as Django's validator takes it: 1 to 150 of ``\\w``, ``.``, ``@``, ``+``, ``-``."""
    word = re.compile(r"\w")
    ranges = sorted([*_ranges(lambda ch: word.match(ch) is not None), *((ord(c), ord(c)) for c in ".@+-")])
    return f"^{_class(_merged(ranges))}{{1,150}}$"


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged


@functools.cache
def message() -> str:
    """A message's text (``protocol.check_message``): at least one visible character, no NUL and
    no lone surrogate anywhere."""
    invisible = _merged([(ord(c), ord(c)) for c in sorted(protocol._INVISIBLE)])
    visible = _class(invisible)[1:-1]  # the invisible characters, for the negated class below
    return f"^[^{_NEVER}]*[^{_NEVER}{visible}][^{_NEVER}]*$"


@functools.cache
def emoji() -> str:
    """One emoji (``protocol.check_emoji``): a pictograph with an optional presentation selector
    or skin tone, up to four joined by ZWJ; a flag (two regional indicators); a keycap."""
    pictographic = regex.compile(r"\p{Extended_Pictographic}")
    ep = _class(_ranges(lambda ch: pictographic.match(ch) is not None, range(0xA9, 0x1FFFE)))
    modifier = f"(?:\ufe0f|[{chr(0x1F3FB)}-{chr(0x1F3FF)}])?"
    flag = f"[{chr(0x1F1E6)}-{chr(0x1F1FF)}]{{2}}"
    keycap = "[#*0-9]\ufe0f?\u20e3"
    return f"^(?:{ep}{modifier}(?:\u200d{ep}{modifier}){{0,3}}|{flag}|{keycap})$"


@functools.cache
def search_query() -> str:
    """Queries ``search.query.parse`` surely takes: no quote and no colon (no phrase, no operator),
    and a word that starts with a letter or a digit at the start or after a space (a word to look
    for, not an exclusion). The server takes more (phrases, operators, ``-word``): this is the part
    a generated client can make without knowing the query syntax (docs/search.md)."""
    term = regex.compile(r"[\p{L}\p{N}]")
    starts = _class(_ranges(lambda ch: term.match(ch) is not None))
    return f'^[^{_NEVER}":]*(?:^| ){starts}[^{_NEVER}":]*$'


# What a display name may not hold (``protocol.check_display_name``): controls, formats, surrogates,
# private use and unassigned code points.
_NOT_IN_DISPLAY_NAMES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})


@functools.cache
def display_name() -> str:
    """A bot's or a webhook's name (``protocol.check_display_name``): no control, format, private
    or unassigned character, and at least one that is not white space. (Its length, up to
    ``PARLEY_MAX_NAME_CHARS``, is the schema's ``maxLength``.)"""
    allowed = _class(_ranges(lambda ch: unicodedata.category(ch) not in _NOT_IN_DISPLAY_NAMES))
    visible = _class(_ranges(lambda ch: unicodedata.category(ch) not in _NOT_IN_DISPLAY_NAMES and not ch.isspace()))
    return f"^{allowed}*{visible}{allowed}*$"


@functools.cache
def receiver_url() -> str:
    """An outgoing webhook's URL (``hooks.receivers.check_url``)."""
    from hooks.receivers import URL

    return URL.pattern
