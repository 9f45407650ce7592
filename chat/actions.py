"""Actions: what a client does, done the same way whichever door it came through.

Each ``do_*`` validates, writes through ``services`` and fans out through ``broadcast``. The
WebSocket consumers call them; so does anything else that posts a message.
"""

from __future__ import annotations

from . import groupcommit, identity, protocol, services
from .identity import Identity
from .models import Room


async def do_send_message(*, room: Room, who: Identity, frame: protocol.SendMessage) -> tuple[str, bool]:
    """Store a message, then fan it out; return its encoded frame and whether it was new.

    Broadcast happens only after the commit (``groupcommit``). A repeated ``client_id`` stores and
    broadcasts nothing: the caller sends the returned frame back to the sender alone.
    Raises ProtocolError: invalid_name for a malformed ``sender``; forbidden for a guest whose name
    (claimed, or the connection's) looks like a registered user's. That is checked when the message
    is stored (``services.message_send_many``), on every message, so a name registered after the
    guest chose it stops working at once.
    """
    sender = identity.sender_claim(who, frame.sender)
    draft = services.Draft(room=room, sender=sender, body=frame.message, user_id=who.user_id, client_id=frame.client_id)
    return await groupcommit.get_writer().submit(draft)
