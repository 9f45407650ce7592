"""The XSS corpus (``payloads.txt``): one payload a line, ``#|`` comments, ``{{LF}}``-style escapes."""

from __future__ import annotations

import functools
import re
from pathlib import Path

PAYLOADS = Path(__file__).resolve().parent / "payloads.txt"
_NAMED = {"LF": "\n", "CR": "\r", "TAB": "\t", "FF": "\f", "VT": "\v"}
_ESCAPE = re.compile(r"\{\{(LF|CR|TAB|FF|VT|U\+[0-9A-Fa-f]{4,6})\}\}")


def _decode(line: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        return _NAMED[name] if name in _NAMED else chr(int(name[2:], 16))

    return _ESCAPE.sub(one, line)


@functools.cache
def payloads() -> tuple[str, ...]:
    """Every payload of the corpus, in file order."""
    lines = PAYLOADS.read_text(encoding="utf-8").splitlines()
    found = tuple(_decode(line) for line in lines if line.strip() and not line.startswith("#|"))
    assert "\0" not in "".join(found), "a message may not hold a NUL: use &#0; in the corpus"
    return found


_CALL = re.compile(r"\b(?:alert|confirm|prompt|msgbox)\s*(?=[(`])")


def armed(payload: str) -> str:
    """The payload with its alert(...) (confirm, prompt, msgbox) made ``__xss.push(...)``: a
    payload that runs leaves a trace in the page even where a dialog would be missed."""
    return _CALL.sub("__xss.push", payload)
