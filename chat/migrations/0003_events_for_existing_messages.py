"""Every message stored before events existed becomes the room's event of the same id, with the
frame it was sent with (plus the fields a message frame has gained: reply_to, mentions)."""

import datetime as dt

import orjson
from django.db import migrations


def _ts(when):
    return when.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def forwards(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    Event = apps.get_model("chat", "Event")
    batch = []
    for m in Message.objects.select_related("room").order_by("room_id", "seq").iterator(chunk_size=2000):
        frame = {
            "type": "message",
            "id": m.seq,
            "room": m.room.name,
            "sender": m.sender,
            "message": m.body,
            "ts": _ts(m.created_at),
            "client_id": m.client_id,
            "reply_to": None,
            "mentions": [],
        }
        batch.append(Event(room_id=m.room_id, seq=m.seq, kind="message", frame=orjson.dumps(frame).decode()))
        if len(batch) >= 2000:
            Event.objects.bulk_create(batch)
            batch = []
    Event.objects.bulk_create(batch)


class Migration(migrations.Migration):
    dependencies = [("chat", "0002_events")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
