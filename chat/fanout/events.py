"""Events after their commit: the one place that turns stored changes into what the bus carries.

``services.apply_changes`` stores each event with its frame (encoded once, as every client will
get it); the group commit then hands what committed to ``publish``, which sends, in one round trip
and in id order, each new room event to every process with members in the room, and each mention
to the mentioned user's connections wherever they are.
"""

from __future__ import annotations

import asyncio

from django.urls import reverse

from .. import protocol
from ..access import DM_NAMESPACE
from ..models import Room
from ..services import Outcome
from . import broadcast, busevents


async def publish(committed: list[tuple[Room, Outcome]]) -> None:
    """Publish the new events of a committed batch (repeats and no-ops are not events)."""
    hub = broadcast.get_hub()
    room_events = [
        (protocol.room_key(room.address), busevents.encode(busevents.RoomEvent(o.seq, o.text, o.message)))
        for room, o in committed
        if o.created and o.text is not None
    ]
    if room_events:
        await hub.publish_events(room_events)
    told = [(room, o) for room, o in committed if o.created and (o.notify or o.dm_to)]
    if told:
        await asyncio.gather(*(_tell(hub, room, o) for room, o in told))


async def _tell(hub: broadcast.Hub, room: Room, outcome: Outcome) -> None:
    """A new message's ``mention`` frames (to the users it mentions) and, in a direct message, its
    ``dm`` frame (to the other member), on their user channels: every connection of theirs hears,
    whichever room it is in. ``notify`` is false for a user whose level for the room is ``none``."""
    frame = protocol.load_object(outcome.text or "{}")
    sender, text = frame["sender"], frame["message"]
    for user_id in outcome.notify:
        mention = protocol.mention_frame(
            room=room.name,
            seq=outcome.seq,
            sender=sender,
            message=text,
            url=f"{page_url(room, sender)}#m{outcome.seq}",
            notify=user_id not in outcome.quiet,
        )
        await hub.publish_to_user(user_id, busevents.UserEvent(text=protocol.encode(mention)))
    for user_id in outcome.dm_to:
        direct = protocol.direct_frame(
            seq=outcome.seq,
            sender=sender,
            message=text,
            url=f"{reverse('dm', args=[sender])}#m{outcome.seq}",
            notify=user_id not in outcome.quiet,
        )
        await hub.publish_to_user(user_id, busevents.UserEvent(text=protocol.encode(direct)))


def page_url(room: Room, sender: str) -> str:
    """The page of ``room`` (a direct message's, as its other member sees it: with ``sender``)."""
    namespace, slash, name = room.address.rpartition("/")
    if not slash:
        return reverse("room", args=[room.name])
    if namespace == DM_NAMESPACE:
        return reverse("dm", args=[sender])
    return reverse("ns_room", args=[namespace, name])


async def publish_read(*, user_id: int, room: Room, up_to: int, origin: str) -> None:
    """Tell a user's other connections to ``room`` that their read cursor moved."""
    text = protocol.encode(protocol.read_frame(room.name, up_to))
    event = busevents.UserEvent(text=text, room=protocol.room_key(room.address), origin=origin)
    await broadcast.get_hub().publish_to_user(user_id, event)


async def publish_control(events: list[busevents.ControlEvent]) -> None:
    """Send namespace changes (kicks, bans, removals, policy changes) to every process, after the
    commit that made them (``moderation``)."""
    if events:
        await broadcast.get_hub().publish_control(events)
