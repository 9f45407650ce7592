"""Actions: what a client does, done the same way whichever door it came through.

Each ``do_*`` validates, writes through ``services`` and fans out through ``broadcast``. The
WebSocket consumers call them; so does anything else that posts a message.
"""

from __future__ import annotations

from channels.db import database_sync_to_async

from . import groupcommit, identity, protocol, services
from .identity import Identity
from .models import Room


async def do_send_message(
    *, room: Room, who: Identity, frame: protocol.SendMessage, approved: set[str]
) -> tuple[str, bool]:
    """Store a message, then fan it out; return its encoded frame and whether it was new.

    ``approved`` caches, per connection, the guest names already checked against registered users.
    Broadcast happens only after the commit (``groupcommit``). A repeated ``client_id`` stores and
    broadcasts nothing: the caller sends the returned frame back to the sender alone.
    Raises ProtocolError (forbidden, invalid_name) for a guest name that cannot be used.
    """
    sender = identity.sender_claim(who, frame.sender)
    if sender != who.name and sender not in approved:
        await database_sync_to_async(identity.guest_name_check)(sender)
        approved.add(sender)
    draft = services.Draft(room=room, sender=sender, body=frame.message, user_id=who.user_id, client_id=frame.client_id)
    return await groupcommit.get_writer().submit(draft)
