"""Who is speaking: a logged-in user, or a guest with a display name.

The name shown on a message is always the server's idea of the sender: a logged-in user's
username, whatever the client claims; a guest's chosen name, which may not be a registered user's.
"""

from __future__ import annotations

import dataclasses
import secrets
from typing import Any

from django.conf import settings

from . import protocol, selectors
from .protocol import ErrorCode, ProtocolError

# Where the guest display name chosen on the room page is kept in the Django session.
GUEST_NAME_SESSION_KEY = "parley_guest_name"


@dataclasses.dataclass(frozen=True, slots=True)
class Identity:
    name: str
    guest: bool
    user_id: int | None = None


def limits() -> protocol.Limits:
    return protocol.Limits(
        max_message_chars=settings.PARLEY_MAX_MESSAGE_CHARS,
        max_name_chars=settings.PARLEY_MAX_NAME_CHARS,
        history_page_max=settings.PARLEY_HISTORY_PAGE_MAX,
    )


def identity_resolve(*, user: Any, session: Any, requested_name: str | None) -> Identity:
    """The identity of a new connection (sync: may read the session and the user table).

    A logged-in user is their username. A guest is, in order: ``requested_name`` (``?name=`` in
    the WebSocket URL), the name kept in the session, or a generated ``guest-xxxx``.
    """
    if user is not None and user.is_authenticated:
        return Identity(name=user.get_username(), guest=False, user_id=user.pk)
    if not settings.PARLEY_ALLOW_GUESTS:
        raise ProtocolError(ErrorCode.FORBIDDEN, "guests are not allowed here: log in to chat")
    name = requested_name or (session.get(GUEST_NAME_SESSION_KEY) if session is not None else None)
    if not name:
        return _unnamed_guest()
    return Identity(name=guest_name_check(name), guest=True)


def anonymous_guest(*, user: Any, session: Any, requested_name: str | None) -> Identity | None:
    """``identity_resolve`` for the one case that needs no database: a guest with no account, no
    session and no chosen name. None in every other case (then call ``identity_resolve``)."""
    if requested_name or not settings.PARLEY_ALLOW_GUESTS:
        return None
    if user is not None and user.is_authenticated:
        return None
    if session is not None and session.session_key is not None:
        return None
    return _unnamed_guest()


def _unnamed_guest() -> Identity:
    return Identity(name=f"guest-{secrets.token_hex(2)}", guest=True)


def guest_name_check(raw: Any) -> str:
    """A valid display name that no registered user has; raises invalid_name or forbidden."""
    name = protocol.check_display_name(raw, limits())
    if selectors.username_taken(name=name):
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{name!r} is a registered user's name")
    return name


def sender_claim(who: Identity, claimed: str | None) -> str:
    """The name to store on a message: a logged-in user's username whatever they claim; for a guest,
    the ``sender`` they sent, normalised (the caller checks it with ``guest_name_check``), or their
    connection's name. Raises invalid_name for a malformed claim."""
    if not who.guest or claimed is None or not claimed.strip():
        return who.name
    return protocol.check_display_name(claimed, limits())
