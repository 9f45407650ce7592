"""History around a message (what a search result opens): ``around=<id>`` on GET .../messages and
on the WebSocket's history request, against a live server: half older, half newer, a side with
fewer leaving room to the other, the byte budget keeping what is nearest."""

from __future__ import annotations

import uuid

import pytest

from tests.api.client import new_user, request, room_path
from tests.wsclient import join, recv_until, send


@pytest.fixture(scope="module")
def alice(srv):
    return new_user(srv.http)


def posted(srv, user, room: str, count: int, text: str = "message") -> list[int]:
    ids = []
    for i in range(count):
        answer = request(
            srv.http, "POST", f"/api/v1/rooms/{room_path(room)}/messages", {"message": f"{text} {i}"}, token=user.token
        )
        assert answer.status == 201, answer.text
        ids.append(answer.json["id"])
    return ids


def around(srv, user, room: str, **params) -> dict:
    query = "&".join(f"{k}={v}" for k, v in params.items())
    answer = request(srv.http, "GET", f"/api/v1/rooms/{room_path(room)}/messages?{query}", token=user.token)
    assert answer.status == 200, answer.text
    return answer.json


def test_the_page_around_a_message(srv, alice):
    room = f"a-{uuid.uuid4().hex[:8]}"
    ids = posted(srv, alice, room, 30)
    page = around(srv, alice, room, around=ids[15], limit=10)
    assert [m["id"] for m in page["messages"]] == ids[11:21]  # the message and 4 older, 5 newer
    assert (page["has_more"], page["has_newer"]) == (True, True)
    # Near the end: the newer side has fewer, the older side takes the rest.
    page = around(srv, alice, room, around=ids[-2], limit=10)
    assert [m["id"] for m in page["messages"]] == ids[-10:]
    assert (page["has_more"], page["has_newer"]) == (True, False)
    # Near the start.
    page = around(srv, alice, room, around=ids[1], limit=10)
    assert [m["id"] for m in page["messages"]] == ids[:10]
    assert (page["has_more"], page["has_newer"]) == (False, True)
    # before and after are unused with around; the page goes on with before= as ever.
    assert around(srv, alice, room, around=ids[15], limit=10, before=3) == around(
        srv, alice, room, around=ids[15], limit=10
    )
    older = around(srv, alice, room, before=ids[11], limit=5)
    assert [m["id"] for m in older["messages"]] == ids[6:11] and "has_newer" not in older


def test_the_byte_budget_keeps_the_nearest(module_farm):
    small = module_farm.start(PARLEY_RATE_PER_SEC="0", PARLEY_HISTORY_FRAME_BYTES="4096")
    user = new_user(small.http)
    room = f"a-{uuid.uuid4().hex[:8]}"
    ids = posted(small, user, room, 12, text="긴 메시지 " * 60)  # about 1.5 KB each with its html
    page = around(small, user, room, around=ids[6], limit=10)
    got = [m["id"] for m in page["messages"]]
    assert ids[6] in got and 1 <= len(got) < 10
    assert got == sorted(got) and got == ids[ids.index(got[0]) : ids.index(got[-1]) + 1]
    assert abs((ids.index(got[-1]) - 6) - (6 - ids.index(got[0]))) <= 1  # nearest first, both sides
    assert page["has_more"] and page["has_newer"]


async def test_the_websocket_history_request_with_around(srv, alice):
    room = f"a-{uuid.uuid4().hex[:8]}"
    ids = posted(srv, alice, room, 20)
    ws, _, _ = await join(srv.ws, room)
    try:
        await send(ws, {"type": "history", "around": ids[10], "limit": 6})
        frame = await recv_until(ws, "history")
        assert [m["id"] for m in frame["messages"]] == ids[8:14]  # the message and 2 older, 3 newer
        assert (frame["has_more"], frame["has_newer"]) == (True, True)
        assert frame["messages"][2]["message"] == "message 10"
        await send(ws, {"type": "history", "before": ids[7], "limit": 3})
        frame = await recv_until(ws, "history")
        assert [m["id"] for m in frame["messages"]] == ids[4:7] and "has_newer" not in frame
    finally:
        await ws.close()
