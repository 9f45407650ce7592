"""What the client says for the server's error codes (docs/protocol.md, the error table), in the
user's language: the server's ``detail`` is English for programs and logs, so a person is told in
the client's own words (as the room page does with ``chat/words.py``)."""

from __future__ import annotations

from terminal.i18n import _

ERRORS = {  # code -> message id (translated when shown)
    "invalid_json": "the server could not read what was sent",
    "invalid_frame": "the server refused what was sent (a bad field)",
    "unknown_type": "the server does not know that request",
    "empty_message": "the message is empty",
    "too_large": "the message is too long",
    "rate_limited": "too fast: wait a moment",
    "invalid_room": "that is not a valid room name",
    "invalid_name": "that is not a valid name",
    "forbidden": "you may not do that here",
    "not_found": "no such message (or it was deleted)",
    "conflict": "that file is attached to another message already",
    "too_late": "too late to edit that message",
    "muted": "you are muted in this namespace",
    "unauthenticated": "the token is not valid any more: run `parley login` again",
    "unavailable": "the server cannot reach its database right now: try again in a moment",
    "internal": "the server failed (a bug on its side)",
    "invalid_file": "that file is not what it claims to be",
}


def error_text(frame: dict[str, object]) -> str:
    """The words for an ``error`` frame: ours for a known code, else the code and the server's detail."""
    code = str(frame.get("code", ""))
    if code in ERRORS:
        return _(ERRORS[code])
    return f"{code}: {frame.get('detail', '')}"
