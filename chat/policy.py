"""A namespace's rules, resolved once (Centrifugo's "a name selects a policy").

``Policy`` is what a connection or an API call in a namespace goes by: the namespace's overrides,
each falling back to the server's setting. It is built here and only here from ``settings``, when a
connection joins (and passed down: the consumer's buckets, the parser's limits, the edit window of
the writes, ``hello.limits``), so a policy change applies to joins after it and nothing else reads
global limits on its own.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from django.conf import settings

from . import protocol
from .models import Namespace

# The fields a PATCH may change, with their types (docs/namespaces.md).
OVERRIDES = ("max_message_chars", "rate_per_sec", "rate_burst", "edit_window", "history_on_join", "retention_days")
FIELDS = ("visibility", "allow_guests", "room_creation", "uploads", *OVERRIDES)
SWITCHES = ("allow_guests", "uploads")  # the policy's true/false fields


@dataclasses.dataclass(frozen=True, slots=True)
class Policy:
    namespace: str
    namespace_id: int
    visibility: str  # "open" | "members"
    allow_guests: bool
    room_creation: str  # "members" | "moderators"
    uploads: bool  # members may share files
    max_message_chars: int
    rate_per_sec: float
    rate_burst: int
    edit_window: float
    history_on_join: int
    retention_days: int  # 0: forever

    @property
    def open(self) -> bool:
        return self.visibility == Namespace.Visibility.OPEN

    @property
    def public(self) -> bool:
        """The default namespace: everyone who may chat counts as a member (creates rooms)."""
        return self.namespace == protocol.PUBLIC

    def limits(self) -> protocol.Limits:
        return protocol.Limits(
            max_message_chars=self.max_message_chars,
            max_name_chars=settings.PARLEY_MAX_NAME_CHARS,
            history_page_max=settings.PARLEY_HISTORY_PAGE_MAX,
        )

    def fields(self) -> dict[str, Any]:
        """The policy as the API and ``hello.limits`` show it."""
        return {name: getattr(self, name) for name in FIELDS}

    def client_limits(self) -> dict[str, Any]:
        """What a client should know up front (``hello.limits``): the policy and the server's limits."""
        return {
            **self.fields(),
            "max_frame_bytes": settings.PARLEY_MAX_FRAME_BYTES,
            "history_page_max": settings.PARLEY_HISTORY_PAGE_MAX,
            "typing_timeout": settings.PARLEY_TYPING_TIMEOUT,
        }


def resolve(ns: Namespace) -> Policy:
    """The policy of ``ns``: its overrides, else the server's settings."""

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return Policy(
        namespace=ns.name,
        namespace_id=ns.pk,
        visibility=ns.visibility,
        # PARLEY_ALLOW_GUESTS=0 turns guests off everywhere; a namespace may only narrow it.
        allow_guests=ns.allow_guests and settings.PARLEY_ALLOW_GUESTS,
        room_creation=ns.room_creation,
        # PARLEY_UPLOADS=0 turns uploads off everywhere; a namespace may only narrow it.
        uploads=ns.uploads and settings.PARLEY_UPLOADS,
        max_message_chars=pick(ns.max_message_chars, settings.PARLEY_MAX_MESSAGE_CHARS),
        rate_per_sec=pick(ns.rate_per_sec, settings.PARLEY_RATE_PER_SEC),
        rate_burst=pick(ns.rate_burst, settings.PARLEY_RATE_BURST),
        edit_window=pick(ns.edit_window, settings.PARLEY_EDIT_WINDOW),
        history_on_join=pick(ns.history_on_join, settings.PARLEY_HISTORY_ON_JOIN),
        retention_days=pick(ns.retention_days, settings.PARLEY_RETENTION_DAYS),
    )


def default() -> Policy:
    """The server's settings alone (a room outside any namespace row: never, once migrated)."""
    return resolve(Namespace(pk=0, name=protocol.PUBLIC))
