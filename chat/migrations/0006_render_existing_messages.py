"""Messages stored before Markdown get their ``html`` (``markup.render``, as a new message would),
and their events' frames the fields message and edit frames have gained (``html``, ``attachments``),
so that a resume from before this release sends what a live frame has."""

import orjson
from django.db import migrations

import markup

BATCH = 2000


def forwards(apps, schema_editor):
    Message = apps.get_model("chat", "Message")
    Event = apps.get_model("chat", "Event")
    changed = []
    for m in Message.objects.filter(deleted=False).only("pk", "body", "mentions").iterator(chunk_size=BATCH):
        m.html = markup.render(m.body, mentions=m.mentions)
        changed.append(m)
        if len(changed) >= BATCH:
            Message.objects.bulk_update(changed, ["html"])
            changed = []
    Message.objects.bulk_update(changed, ["html"])
    changed = []
    for e in Event.objects.filter(kind__in=["message", "edit"]).only("pk", "frame").iterator(chunk_size=BATCH):
        frame = orjson.loads(e.frame)
        if "html" in frame:
            continue
        frame["html"] = markup.render(frame.get("message", ""), mentions=frame.get("mentions", ()))
        frame["attachments"] = []
        e.frame = orjson.dumps(frame).decode()
        changed.append(e)
        if len(changed) >= BATCH:
            Event.objects.bulk_update(changed, ["frame"])
            changed = []
    Event.objects.bulk_update(changed, ["frame"])


class Migration(migrations.Migration):
    dependencies = [("chat", "0005_markdown_uploads_notifications")]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
