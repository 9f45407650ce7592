"""The load generator's frame handling (bench.loadgen.Recorder): T's texts and F's attachments in
what it sends, html cut off before parsing, error frames counted and the closed loop kept going."""

import asyncio

import orjson
import pytest

from bench.loadgen import Client, Recorder
from bench.stats import parse_tag

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def frame(text: str, html: str = "<p>x</p>", attachments: list | None = None) -> str:
    return orjson.dumps(
        {
            "type": "message",
            "id": 1,
            "room": "r",
            "sender": "s",
            "message": text,
            "html": html,
            "attachments": attachments or [],
        }
    ).decode()


def test_encode_sends_the_tag_then_the_composed_text_and_the_uploads():
    plain = orjson.loads(Recorder(parley=True).encode(3, 7))
    assert parse_tag(plain["message"])[:2] == (3, 7)
    assert plain["client_id"] == "b3-7" and "attachments" not in plain

    rec = Recorder(
        parley=True, compose=lambda s, n: f"**{s}/{n}**, a, b", attach=lambda s, n: [100 + n] if n < 1 else None
    )
    first = orjson.loads(rec.encode(3, 0))
    assert first["message"].endswith(" **3/0**, a, b")
    assert parse_tag(first["message"])[:2] == (3, 0)
    assert first["attachments"] == [100]
    assert "attachments" not in orjson.loads(rec.encode(3, 1))
    assert rec.unattached == 1

    tutorial = orjson.loads(Recorder(parley=False, compose=lambda s, n: "hi").encode(1, 2))
    assert set(tutorial) == {"message"}


def test_on_frame_counts_deliveries_and_attachments_whatever_the_html_holds():
    async def go():
        rec = Recorder(parley=True, attach=lambda s, n: [1])
        sender = Client(ws=None, room=0, sender_id=5, echo=asyncio.Semaphore(0))
        member = Client(ws=None, room=0, sender_id=None)
        rec.measuring = True
        text = Recorder(parley=True).encode(5, 0)
        message = orjson.loads(text)["message"]
        html = '<pre><code>"html":, "}]{</code></pre>' * 50
        rec.on_frame(member, frame(message, html=html, attachments=[{"id": 1, "name": "a.png"}]))
        rec.on_frame(sender, frame(message, html=html))
        assert rec.deliveries == 2
        assert rec.with_attachment == 1
        assert member.got == {5: 1} and sender.got == {5: 1}
        assert sender.echo.locked() is False  # its own message came back: it may send the next
        assert len(rec.latencies_ns) == 2

    asyncio.run(go())


def test_an_error_frame_is_counted_and_its_sender_sends_the_next_message():
    async def go():
        rec = Recorder(parley=True)
        sender = Client(ws=None, room=0, sender_id=5, echo=asyncio.Semaphore(0))
        rec.on_frame(sender, '{"type":"error","code":"not_found","detail":"no upload 7 of yours to this room"}')
        rec.on_frame(Client(ws=None, room=0, sender_id=None), '{"type":"error","code":"conflict","detail":"x"}')
        assert dict(rec.errors) == {"not_found": 1, "conflict": 1}
        assert not sender.echo.locked()
        assert rec.deliveries == 0

    asyncio.run(go())
