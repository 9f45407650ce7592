"""chat 0006: messages stored before Markdown get their html, and their events' frames the fields
message and edit frames gained (html, attachments, last), through Django's migration executor."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from chat import protocol
from markup import render
from tests.xss.safety import assert_safe

pytestmark = [pytest.mark.embedded_only, pytest.mark.django_db(transaction=True)]

BEFORE = [("chat", "0005_markdown_uploads_notifications")]
AFTER = [("chat", "0006_render_existing_messages")]
WHEN = dt.datetime(2026, 11, 25, 6, 45, tzinfo=dt.UTC)


def migrate(targets: list[tuple[str, str]]):
    """Migrate the test database to ``targets``; the models as they are there."""
    executor = MigrationExecutor(connection)
    executor.migrate(targets)
    return MigrationExecutor(connection).loader.project_state(targets).apps


def old_frame(seq: int, text: str, mentions: list[str]) -> str:
    """A message frame as Parley stored it before Markdown (no html, no attachments)."""
    return protocol.encode(
        {
            "type": "message",
            "id": seq,
            "room": "공지",
            "sender": "kim",
            "message": text,
            "ts": protocol.format_ts(WHEN),
            "client_id": None,
            "reply_to": None,
            "mentions": mentions,
        }
    )


def test_0006_renders_stored_messages_and_their_frames():
    latest = MigrationExecutor(connection).loader.graph.leaf_nodes()
    try:
        apps = migrate(BEFORE)
        Namespace, Room = apps.get_model("chat", "Namespace"), apps.get_model("chat", "Room")
        Message, Event = apps.get_model("chat", "Message"), apps.get_model("chat", "Event")
        public, _ = Namespace.objects.get_or_create(name="public")
        room = Room.objects.create(namespace=public, name="공지", address="공지", last_id=7)
        texts = {
            1: ("@lee **회의** 10시 `pip`", ["lee"]),
            2: ("그냥 한 줄", []),
            3: ("```python\nx = 1\n```", []),
            4: ("[x](javascript:alert(1)) <script>alert(1)</script>", []),
        }
        for seq, (text, mentions) in texts.items():
            Message.objects.create(room=room, seq=seq, sender="kim", body=text, mentions=mentions, created_at=WHEN)
            Event.objects.create(room=room, seq=seq, kind="message", frame=old_frame(seq, text, mentions))
        Message.objects.create(room=room, seq=5, sender="kim", body="", created_at=WHEN, deleted=True)
        Event.objects.create(room=room, seq=5, kind="message", frame=old_frame(5, "지워질 글", []))
        edit = {"type": "edit", "id": 6, "room": "공지", "target": 2, "message": "*고침*", "sender": "kim", "ts": "x"}
        Event.objects.create(room=room, seq=6, kind="edit", frame=protocol.encode(edit))
        delete = {"type": "delete", "id": 7, "room": "공지", "target": 5, "by": "kim", "ts": "x"}
        Event.objects.create(room=room, seq=7, kind="delete", frame=protocol.encode(delete))
        before = dict(Event.objects.filter(room=room).values_list("seq", "frame"))

        apps = migrate(AFTER)
        Message, Event = apps.get_model("chat", "Message"), apps.get_model("chat", "Event")
        for seq, (text, mentions) in texts.items():
            assert Message.objects.get(room_id=room.pk, seq=seq).html == render(text, mentions=mentions)
        assert Message.objects.get(room_id=room.pk, seq=5).html == ""  # deleted: nothing to show
        after = dict(Event.objects.filter(room_id=room.pk).values_list("seq", "frame"))
        for seq in (1, 2, 3, 4, 5, 6):
            frame = orjson.loads(after[seq])
            assert list(frame)[-2:] == ["html", "attachments"]  # last: protocol.plain cuts them off
            assert frame["html"] == render(frame["message"], mentions=frame.get("mentions", ()))
            assert frame["attachments"] == []
            # The seed and tutorial doors' frame is exactly what it was.
            assert protocol.plain(after[seq]) == before[seq]
        assert_safe(orjson.loads(after[4])["html"])
        assert "<a" not in orjson.loads(after[4])["html"]
        assert after[7] == before[7]  # a delete's frame is left as it was

        # Run again (a second deploy, a frame that has html already): nothing changes.
        migrate(BEFORE)
        apps = migrate(AFTER)
        Event = apps.get_model("chat", "Event")
        assert dict(Event.objects.filter(room_id=room.pk).values_list("seq", "frame")) == after
    finally:
        migrate(latest)
