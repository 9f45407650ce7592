"""Who is speaking: a logged-in user, or a guest with a display name.

The name shown on a message is always the server's idea of the sender: a logged-in user's
username, whatever the client claims; a guest's chosen name, which may not be a registered user's.
"""

from __future__ import annotations

import collections
import dataclasses
import secrets
import threading
import time
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
    # A guest's Django session (what lets them edit and delete their own messages); None for a
    # guest without one, who cannot.
    session_key: str | None = None
    staff: bool = False  # may moderate every room (delete any message)
    bot: bool = False  # a bot account (bots/): its messages carry ``"bot": true``


def is_bot(user: Any) -> bool:
    """Whether ``user`` is a bot account: it has a ``bots.Bot`` row (the reverse one-to-one
    ``user.bot``, read here by name so that chat does not import the bots app, which builds on it;
    one indexed query, or none when the row came with the user: ``accounts.tokens``)."""
    return user is not None and getattr(user, "pk", None) is not None and hasattr(user, "bot")


def name_limits() -> protocol.Limits:
    """The limits of a display name (a server setting; message limits are a namespace's policy)."""
    return protocol.Limits(max_name_chars=settings.PARLEY_MAX_NAME_CHARS)


def identity_resolve(*, user: Any, session: Any, requested_name: str | None, address: str | None = None) -> Identity:
    """The identity of a new connection (sync: may read the session and the user table).

    A logged-in user is their username. A guest is, in order: ``requested_name`` (``?name=`` in
    the WebSocket URL), the name kept in the session, or a generated ``guest-xxxx``. ``address``
    is the client's (``core.clientaddr``): it limits how many taken names it may try.
    """
    if user is not None and user.is_authenticated:
        return Identity(name=user.get_username(), guest=False, user_id=user.pk, staff=user.is_staff, bot=is_bot(user))
    if not settings.PARLEY_ALLOW_GUESTS:
        raise ProtocolError(ErrorCode.FORBIDDEN, "guests are not allowed here: log in to chat")
    session_key = session.session_key if session is not None else None
    name = requested_name or (session.get(GUEST_NAME_SESSION_KEY) if session is not None else None)
    if not name:
        return _unnamed_guest(session_key)
    return Identity(name=guest_name_check(name, address=address), guest=True, session_key=session_key)


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


def _unnamed_guest(session_key: str | None = None) -> Identity:
    return Identity(name=f"guest-{secrets.token_hex(2)}", guest=True, session_key=session_key)


def guest_name_check(raw: Any, *, address: str | None = None) -> str:
    """A valid display name that does not look like a registered user's; raises invalid_name or
    forbidden. With the client's ``address``, an address that has had its fill of forbidden
    answers (``PARLEY_NAME_CHECKS_PER_MINUTE``) gets rate_limited instead, so names cannot be
    tested by the thousand to learn which are registered."""
    name = protocol.check_display_name(raw, name_limits())
    if address == "unknown":  # no peer named (a unix socket): one pool for everyone, so no limit
        address = None
    if address is not None and name_probes.exhausted(address):
        raise ProtocolError(
            ErrorCode.RATE_LIMITED, "too many registered names tried from your address: wait a minute and try again"
        )
    if selectors.username_taken(name=name):
        if address is not None:
            name_probes.charge(address)
        raise ProtocolError(ErrorCode.FORBIDDEN, f"{name!r} is a registered user's name", reason=protocol.NAME_TAKEN)
    return name


class NameProbes:
    """Per client address, a token bucket of "that name is registered" answers: up to
    ``per_minute`` at once, refilled at ``per_minute`` a minute; 0 turns the limit off.

    In-process: each server process counts on its own (a probe spread over N processes gets N
    times the budget, which still rules out thousands). The table is bounded: the least recently
    charged addresses are forgotten first. The page form and the WebSocket door run in different
    threads, hence the lock.
    """

    MAX_ADDRESSES = 10_000

    def __init__(self, clock: Any = time.monotonic) -> None:
        self.clock = clock
        self.lock = threading.Lock()
        self.buckets: collections.OrderedDict[str, tuple[float, float]] = collections.OrderedDict()

    def _tokens(self, address: str, per_minute: int, now: float) -> float:
        tokens, stamp = self.buckets.get(address, (float(per_minute), now))
        return min(float(per_minute), tokens + (now - stamp) * per_minute / 60.0)

    def exhausted(self, address: str) -> bool:
        """Whether ``address`` has no forbidden answer left for now."""
        per_minute = settings.PARLEY_NAME_CHECKS_PER_MINUTE
        if per_minute <= 0 or address not in self.buckets:
            return False
        with self.lock:
            return self._tokens(address, per_minute, self.clock()) < 1

    def charge(self, address: str) -> None:
        """Called when ``address`` is told a name is registered."""
        per_minute = settings.PARLEY_NAME_CHECKS_PER_MINUTE
        if per_minute <= 0:
            return
        with self.lock:
            now = self.clock()
            self.buckets[address] = (max(0.0, self._tokens(address, per_minute, now) - 1), now)
            self.buckets.move_to_end(address)
            while len(self.buckets) > self.MAX_ADDRESSES:
                self.buckets.popitem(last=False)

    def clear(self) -> None:
        with self.lock:
            self.buckets.clear()


name_probes = NameProbes()


def sender_claim(who: Identity, claimed: str | None) -> str:
    """The name to store on a message: a logged-in user's username whatever they claim; for a guest,
    the ``sender`` they sent, normalised, or their connection's name. Raises invalid_name for a
    malformed claim; whether a guest's name is registered is checked when the message is stored
    (``services.message_send_many``)."""
    if not who.guest or claimed is None or not claimed.strip():
        return who.name
    return protocol.check_display_name(claimed, name_limits())
