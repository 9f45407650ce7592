"""Scenario H's pure logic: which room an HTTP client posts to, what a POST's answer says, and what a
WebSocket member of the room received of the room's consecutive ids.

Only H's HTTP clients post into H's rooms, so a room's message ids run consecutively from the
``last_id`` of a member's ``hello`` to the highest id any POST was answered with: a member is
missing whatever it has not received of that range (``Listener.missed``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

CREATED = "created"  # a 201: the message was stored under a new id
REPLAYED = "replayed"  # a 200: its client_id was already stored (the bench never repeats one)


def room_of(client: int, rooms: int) -> int:
    """The room HTTP client ``client`` posts to: clients are dealt round the rooms, so each room
    gets ``clients / rooms`` of them (one more for the first ``clients % rooms``)."""
    if rooms <= 0:
        raise ValueError("rooms must be > 0")
    return client % rooms


def post_body(text: str, client: int, n: int) -> bytes:
    """The JSON body of client ``client``'s ``n``-th POST: the text and a client_id of its own
    (idempotency is part of the send path, as on the WebSocket in A and B)."""
    return orjson.dumps({"message": text, "client_id": f"h{client}-{n}"})


def outcome(status: int, body: bytes) -> tuple[str, int | None]:
    """What a POST's answer says: (``CREATED`` or ``REPLAYED``, the message id) for a 201 or 200
    with a message frame; otherwise (the error code, None): the API's ``{"error": {"code"}}``, else
    ``http_<status>`` (a body that is not the API's, e.g. a proxy's page)."""
    try:
        data: Any = orjson.loads(body)
    except orjson.JSONDecodeError:
        data = None
    if status in (200, 201) and isinstance(data, dict) and isinstance(data.get("id"), int):
        return (CREATED if status == 201 else REPLAYED), data["id"]
    if isinstance(data, dict) and isinstance(data.get("error"), dict) and data["error"].get("code"):
        return str(data["error"]["code"]), None
    return f"http_{status}", None


@dataclass(slots=True, eq=False)
class Listener:
    """One WebSocket member's view of its room's message ids."""

    joined_at: int = 0  # its hello's last_id: it is owed every id after this one
    last: int = 0  # the highest id received
    received: int = 0  # ids received in order (each once)
    gaps: int = 0  # ids skipped on arrival (a later one came first)
    disorder: int = 0  # an id at or below one already received: a duplicate or out of order

    def hello(self, last_id: int) -> None:
        self.joined_at = self.last = last_id

    def on_id(self, message_id: int) -> bool:
        """Count one received message id; False (and counted) when it is not after the last one."""
        if message_id <= self.last:
            self.disorder += 1
            return False
        if message_id != self.last + 1:
            self.gaps += message_id - self.last - 1
        self.last = message_id
        self.received += 1
        return True

    def missed(self, room_last: int) -> int:
        """Ids after ``joined_at`` up to ``room_last`` (the highest the room's POSTs were answered
        with, or any member got) that this member has not received."""
        return max(0, max(room_last, self.last) - self.joined_at - self.received)
