"""chat.selectors: history pages, resume pages, gap fills, room list."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest
from django.contrib.auth import get_user_model

from chat import selectors, services
from chat.models import Room

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def room() -> Room:
    room = services.room_get_or_create(address="방")
    services.apply_changes([services.Post(room=room, sender="kim", body=f"m{i}") for i in range(1, 251)])
    return room


def ids(frames) -> list[int]:
    return [f["id"] for f in frames]


def test_history_before(room):
    frames, more = selectors.history_before(room_id=room.pk, room=room.name, before=2**62, limit=50)
    assert ids(frames) == list(range(201, 251)) and more
    frames, more = selectors.history_before(room_id=room.pk, room=room.name, before=201, limit=100)
    assert ids(frames) == list(range(101, 201)) and more
    frames, more = selectors.history_before(room_id=room.pk, room=room.name, before=101, limit=100)
    assert ids(frames) == list(range(1, 101)) and not more
    frames, more = selectors.history_before(room_id=room.pk, room=room.name, before=1, limit=100)
    assert frames == [] and not more


def test_a_history_page_stops_before_the_byte_budget(settings):
    """Pages of long messages hold fewer than ``limit`` rather than pass PARLEY_HISTORY_FRAME_BYTES,
    keep ``has_more`` while older messages remain, and page through every message exactly once."""
    settings.PARLEY_HISTORY_FRAME_BYTES = 10_000
    room = services.room_get_or_create(address="긴글")
    services.apply_changes([services.Post(room=room, sender="kim", body=f"{i} " + "가" * 3000) for i in range(1, 21)])
    seen: list[int] = []
    before, more = 2**62, True
    while more:
        frames, more = selectors.history_before(room_id=room.pk, room=room.name, before=before, limit=100)
        assert frames and len(orjson.dumps(frames)) <= 10_000 + len(orjson.dumps(frames[0]))
        seen = ids(frames) + seen
        before = frames[0]["id"]
    assert seen == list(range(1, 21))
    # One message bigger than the budget still comes, alone.
    settings.PARLEY_HISTORY_FRAME_BYTES = 1024
    frames, more = selectors.history_before(room_id=room.pk, room=room.name, before=2**62, limit=100)
    assert ids(frames) == [20] and more


def test_a_resume_page_stops_before_the_byte_budget(settings):
    settings.PARLEY_HISTORY_FRAME_BYTES = 10_000
    room = services.room_get_or_create(address="긴글2")
    services.apply_changes([services.Post(room=room, sender="kim", body="나" * 3000) for _ in range(10)])
    after, seen, more = 0, [], True
    while more:
        page, more = selectors.events_page(room_id=room.pk, after=after, until=10, limit=100)
        assert page and len(page) < 10
        seen += fragment_ids(page)
        after = seen[-1]
    assert seen == list(range(1, 11))


def test_history_frames_are_message_frames(room):
    frames, _ = selectors.history_before(room_id=room.pk, room=room.name, before=2, limit=1)
    (frame,) = frames
    assert frame["type"] == "message" and frame["room"] == "방" and frame["sender"] == "kim"
    assert frame["message"] == "m1" and frame["client_id"] is None
    assert dt.datetime.fromisoformat(frame["ts"]).utcoffset() == dt.timedelta(0)


def fragment_ids(fragments) -> list[int]:
    return [orjson.loads(bytes(orjson.dumps(f)))["id"] for f in fragments]


def test_events_after(room):
    assert fragment_ids(selectors.events_after(room_id=room.pk, after=0, until=250, limit=100)) == list(range(1, 101))
    assert fragment_ids(selectors.events_after(room_id=room.pk, after=240, until=245, limit=100)) == list(
        range(241, 246)
    )
    assert selectors.events_after(room_id=room.pk, after=250, until=250, limit=100) == []


def test_events_between(room):
    assert [e.seq for e in selectors.events_between(room_id=room.pk, after=3, before=7)] == [4, 5, 6]
    assert [e.seq for e in selectors.events_between(room_id=room.pk, after=248, before=2**62)] == [249, 250]
    assert selectors.events_between(room_id=room.pk, after=5, before=6) == []
    (event,) = selectors.events_between(room_id=room.pk, after=0, before=2)
    assert event.message and orjson.loads(event.text)["message"] == "m1"


def test_rooms_do_not_mix(room):
    other = services.room_get_or_create(address="other")
    services.message_send(room=other, sender="lee", body="x")
    frames, more = selectors.history_before(room_id=other.pk, room=other.name, before=2**62, limit=100)
    assert [(f["id"], f["message"]) for f in frames] == [(1, "x")] and not more
    assert selectors.room_get(name=room.name).last_id == 250
    assert selectors.room_get(name=other.name).last_id == 1


def test_room_get_and_list_newest_activity_first():
    a = services.room_get_or_create(address="a")
    b = services.room_get_or_create(address="b")
    services.room_get_or_create(address="c")
    services.message_send(room=a, sender="x", body="1")
    assert selectors.room_list()[0].name == "a"
    services.message_send(room=b, sender="x", body="1")
    assert [r.name for r in selectors.room_list()][:2] == ["b", "a"]
    assert selectors.room_get(name="b").pk == b.pk
    assert selectors.room_get(name="nope") is None


def test_username_taken_is_case_insensitive():
    get_user_model().objects.create_user(username="Kim", password="pw-123456-x")
    assert selectors.username_taken(name="kim")
    assert selectors.username_taken(name="KIM")
    assert not selectors.username_taken(name="lee")
