"""Retention: ``manage.py prune_messages`` removes what is older than a namespace's retention_days."""

from __future__ import annotations

import datetime
import io

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.utils import timezone

from chat import namespaces, services
from chat.access import Caller
from chat.models import Event, Message, Room
from tests.chat.test_consumers import login
from tests.wsclient import read_history

pytestmark = pytest.mark.django_db(transaction=True)


@database_sync_to_async
def setup_room() -> Room:
    owner = get_user_model().objects.get(username="keeper")
    ns = namespaces.ns_create(Caller(user_id=owner.pk), "shortlived", {"retention_days": 1})
    room = namespaces.room_create(Caller(user_id=owner.pk), ns, "r", private=False)
    for i in range(5):
        services.message_send(room=room, sender="keeper", body=f"m{i}", user_id=owner.pk)
    # The first three are two days old.
    Message.objects.filter(room=room, seq__lte=3).update(created_at=timezone.now() - datetime.timedelta(days=2))
    kept = Room.objects.create(name="forever")  # public: retention 0, kept forever
    services.message_send(room=kept, sender="x", body="old")
    Message.objects.filter(room=kept).update(created_at=timezone.now() - datetime.timedelta(days=900))
    return room


async def test_prune_removes_old_messages_and_a_resume_starts_after_them(connect):
    cookie = await login("keeper")
    room = await setup_room()
    out = io.StringIO()
    await database_sync_to_async(call_command)("prune_messages", stdout=out)
    assert "shortlived: 3 messages removed" in out.getvalue()
    left = await database_sync_to_async(
        lambda: sorted(Message.objects.filter(room=room).values_list("seq", flat=True))
    )()
    assert left == [4, 5]
    assert not await database_sync_to_async(Event.objects.filter(room=room, seq__lte=3).exists)()
    assert await database_sync_to_async(Message.objects.filter(room__name="forever").exists)()
    comm = await connect("/ws/ns/shortlived/r/?after=0", headers=[cookie])
    hello, events, _ = await read_history(comm, paged=True)
    assert hello["last_id"] == 5 and [e["id"] for e in events] == [4, 5]
