"""Actions: what a client does, done the same way whichever door it came through.

Each ``do_*`` validates, writes through ``services`` and fans out through ``broadcast``. The
WebSocket consumers call them; so does anything else that posts a message.
"""

from __future__ import annotations

import logging

from channels.db import database_sync_to_async

from . import broadcast, identity, protocol, pubsub, selectors, services
from .identity import Identity
from .models import Room

log = logging.getLogger("parley.actions")


def _store(*, room: Room, who: Identity, frame: protocol.SendMessage, approved: set[str]) -> services.Stored:
    sender = identity.sender_for(who, frame.sender, approved)
    return services.message_send(
        room=room, sender=sender, body=frame.message, user_id=who.user_id, client_id=frame.client_id
    )


async def do_send_message(
    *, room: Room, who: Identity, frame: protocol.SendMessage, approved: set[str]
) -> tuple[str, bool]:
    """Store a message, then fan it out; return its encoded frame and whether it was new.

    Broadcast happens only after the commit. A repeated ``client_id`` stores nothing and
    broadcasts nothing: the caller sends the returned frame back to the sender alone.
    Raises ProtocolError (forbidden, invalid_name) for a guest name that cannot be used.
    """
    stored = await database_sync_to_async(_store)(room=room, who=who, frame=frame, approved=approved)
    text = protocol.encode(selectors.message_to_frame(stored.message, room=room.name))
    if stored.created:
        hub = broadcast.get_hub()
        try:
            await hub.publish_message(room=room.name, seq=stored.message.seq, text=text)
        except Exception:
            # Stored but not published: members here get it now; other processes fill it in
            # from the store when the next message, or their resync, shows them the gap.
            log.exception("publish failed for %s#%d", room.name, stored.message.seq)
            hub.on_event(protocol.room_key(room.name), pubsub.message_event(stored.message.seq, text))
    return text, stored.created
