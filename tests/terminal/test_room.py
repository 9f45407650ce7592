"""The client's room state from the door's frames: each event applied once, in order, whatever
repeats (a resume overlapping live frames, a resend) and whatever comes late (an older page)."""

from __future__ import annotations

import pytest

from terminal.address import Target, normalize_server, parse_dm, parse_room, ws_base
from terminal.room import Room

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def msg(i: int, sender: str = "kim", text: str = "", **state: object) -> dict:
    return {"type": "message", "id": i, "sender": sender, "message": text or f"m{i}", "mentions": [], **state}


def test_join_then_events_once_in_order():
    room = Room()
    room.join_history(4, {"messages": [msg(2), msg(4, reactions={"👍": ["lee"]})], "has_more": True})
    assert room.cursor == 4 and room.older and list(room.messages) == [2, 4]
    assert room.apply(msg(4)) is None  # in the history already: not again
    assert room.apply(msg(5, "lee", reply_to=2)) == 5
    assert room.apply(msg(5, "lee")) is None
    assert room.apply({"type": "edit", "id": 6, "target": 5, "message": "고침"}) == 5
    assert room.apply({"type": "reaction", "id": 7, "target": 4, "emoji": "👍", "sender": "lee", "op": "add"}) == 4
    assert room.messages[4].reactions == {"👍": ["lee"]}  # lee had it: not twice
    room.apply({"type": "reaction", "id": 8, "target": 4, "emoji": "👍", "sender": "lee", "op": "remove"})
    assert room.messages[4].reactions == {}
    room.apply({"type": "delete", "id": 9, "target": 2, "by": "kim"})
    assert room.messages[2].deleted and room.messages[2].text == ""
    assert room.messages[5].text == "고침" and room.messages[5].edited and room.messages[2].replies == 1
    assert room.applied == [5, 6, 7, 8, 9] and room.cursor == 9
    assert room.apply({"type": "edit", "id": 7, "target": 5, "message": "old"}) is None  # a repeat: ignored
    assert room.messages[5].text == "고침"
    assert room.last_of("kim").id == 4 and room.last_of("lee").id == 5 and room.last_of("park") is None


def test_an_older_page_fills_in_before():
    room = Room()
    room.join_history(10, {"messages": [msg(9), msg(10)], "has_more": True})
    room.page({"messages": [msg(7), msg(8, edited=True)], "has_more": True})
    assert list(sorted(room.messages)) == [7, 8, 9, 10] and room.older and room.cursor == 10
    room.page({"messages": [msg(1)], "has_more": False})
    assert not room.older and room.oldest == 1
    assert room.apply({"type": "edit", "id": 11, "target": 99, "message": "x"}) is None  # not held: its page brings it
    assert room.cursor == 11


def test_addresses():
    assert parse_room("lobby") == Target(room="lobby")
    assert parse_room("cs101/lab-1").ws_path == "/ws/ns/cs101/lab-1/"
    assert parse_room("자유게시판").ws_path == "/ws/rooms/%EC%9E%90%EC%9C%A0%EA%B2%8C%EC%8B%9C%ED%8C%90/"
    assert parse_room("cs101/lab-1").api_path == "/api/v1/ns/cs101/rooms/lab-1/messages"
    assert parse_dm("@kim").ws_path == "/ws/dm/kim/" and parse_dm("kim").api_path == "/api/v1/dm/kim/messages"
    for bad in ("", "/x", "a/", "a/b/c"):
        with pytest.raises(ValueError):
            parse_room(bad)
    assert normalize_server("chat.example.org/") == "https://chat.example.org"
    assert normalize_server("http://127.0.0.1:8000/") == "http://127.0.0.1:8000"
    assert ws_base("https://chat.example.org") == "wss://chat.example.org"
    with pytest.raises(ValueError):
        normalize_server("ftp://x")
