"""The three WebSocket doors through the whole ASGI stack (origin check, session auth, routing),
driven by Channels' WebsocketCommunicator. Messages are really stored and fanned out by the hub."""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import unicodedata
import urllib.parse
import uuid

import pytest
from asgiref.sync import SyncToAsync
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.contrib.auth import get_user_model
from django.db import OperationalError
from django.test import Client

from chat import services
from chat.models import Message
from parley.asgi import application
from tests.wsclient import ids, messages, no_more_messages, read_history, recv, recv_until, send

pytestmark = pytest.mark.django_db(transaction=True)

TIMEOUT = 10


async def stored_count(room: str) -> int:
    return await database_sync_to_async(Message.objects.filter(room__name=room).count)()


async def store(room: str, count: int) -> None:
    def run() -> None:
        r = services.room_get_or_create(address=room)
        services.apply_changes([services.Post(room=r, sender="old", body=f"old {i}") for i in range(count)])

    await database_sync_to_async(run)()


async def closed_with(comm: WebsocketCommunicator) -> int:
    """Skip frames until the server closes; return the close code."""
    while True:
        output = await comm.receive_output(TIMEOUT)
        if output["type"] == "websocket.close":
            return output.get("code", 1000)


async def assert_usable(comm: WebsocketCommunicator) -> None:
    await send(comm, {"type": "ping"})
    assert await recv_until(comm, "pong") == {"type": "pong"}


# --- Joining --------------------------------------------------------------------------------------


async def test_hello_history_presence_for_a_new_room(connect, room):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?name=kim")
    hello = await recv(comm)
    assert hello["type"] == "hello" and hello["room"] == room
    assert hello["you"] == {"name": "kim", "guest": True}
    assert hello["last_id"] == 0
    assert await recv(comm) == {"type": "history", "messages": [], "has_more": False}
    assert await recv(comm) == {"type": "presence", "users": ["kim"], "bots": []}
    # The room now exists.
    from chat.models import Room

    assert await database_sync_to_async(Room.objects.filter(name=room).exists)()


@pytest.mark.parametrize(
    ("failure", "code", "close"),
    [(OperationalError("store down"), "unavailable", 1013), (RuntimeError("a bug"), "internal", 1011)],
)
async def test_a_join_whose_history_cannot_be_read_leaves_the_room(connect, room, monkeypatch, failure, code, close):
    """The store fails between joining and sending history: the handshake is refused with an
    ``unavailable`` error and close 1013 (not an HTTP 500) when the store is down, ``internal``
    and 1011 for a bug (never "try again later" for what will fail again), and the refused
    connection is not left in the room to be fed (nor counted in its presence)."""
    from chat import protocol, selectors
    from chat.fanout import broadcast

    await store(room, 3)
    stayer = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?name=kim")
    await read_history(stayer)
    await recv_until(stayer, "presence")

    def broken(**kwargs):
        raise failure

    monkeypatch.setattr(selectors, "history_before", broken)
    failing = WebsocketCommunicator(application, f"/ws/rooms/{urllib.parse.quote(room)}/?name=ghost")
    connected, _ = await failing.connect(timeout=5)
    assert connected
    error = await recv(failing)
    assert error["type"] == "error" and error["code"] == code
    assert (await failing.receive_output(5))["code"] == close
    monkeypatch.undo()
    hub, key = broadcast.get_hub(), protocol.room_key(room)
    assert [m.name for m in hub.rooms[key].members] == ["kim"]
    assert await hub.bus.presence_names(key) == ["kim"]
    await send(stayer, {"type": "message", "message": "still here"})
    assert (await recv_until(stayer, "message"))["message"] == "still here"


async def test_a_guest_without_a_name_gets_one(connect, room):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/")
    hello = await recv(comm)
    assert hello["you"]["guest"] is True and hello["you"]["name"].startswith("guest-")


async def test_history_on_join_is_the_newest_fifty_oldest_first(connect, room):
    await store(room, 60)
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/")
    hello, got, frames = await read_history(comm)
    assert hello["last_id"] == 60
    assert ids(got) == list(range(11, 61))
    assert frames[0]["has_more"] is True
    assert got[0]["message"] == "old 10" and got[0]["room"] == room


async def test_history_on_join_follows_the_setting(connect, room, settings):
    settings.PARLEY_HISTORY_ON_JOIN = 5
    await store(room, 7)
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/")
    _, got, _ = await read_history(comm)
    assert ids(got) == [3, 4, 5, 6, 7]


async def test_resume_after_pages_of_at_most_a_hundred(native, connect, room):
    await store(room, 250)
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?after=20")
    hello, got, frames = await read_history(comm, paged=True)
    assert hello["last_id"] == 250
    assert [len(f["messages"]) for f in frames] == [100, 100, 30]
    assert [f["has_more"] for f in frames] == [True, True, False]
    assert ids(got) == list(range(21, 251))
    # Exactly the messages with id > after, also at the edges.
    for after, expected in ((0, list(range(1, 251))), (249, [250]), (250, []), (100, list(range(101, 251)))):
        comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?after={after}")
        _, got, frames = await read_history(comm, paged=True)
        assert ids(got) == expected
        assert all(len(f["messages"]) <= 100 for f in frames)
        assert frames[-1]["has_more"] is False and all(f["has_more"] for f in frames[:-1])


async def test_after_the_largest_id_is_an_empty_resume(connect, room):
    await store(room, 2)
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?after=9223372036854775807")
    hello, got, frames = await read_history(comm, paged=True)
    assert hello["last_id"] == 2 and got == [] and len(frames) == 1
    # Exactly the messages with id > after: a new message (id 3) is not one of them.
    await send(comm, {"message": "live"})
    await no_more_messages(comm)
    assert await stored_count(room) == 3


@pytest.mark.parametrize("after", ["abc", "-1", "1.5", "²", "\u0661", "9223372036854775808", "99999999999999999999999"])
async def test_a_bad_after_is_refused(connect, room, after):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?after={urllib.parse.quote(after)}")
    error = await recv(comm)
    assert error["type"] == "error" and error["code"] == "invalid_frame"
    assert await closed_with(comm) == 4400


async def test_korean_room_names_percent_encoded_and_nfd_are_one_room(native, room):
    name = f"자유게시판-{uuid.uuid4().hex[:4]}"
    nfc = await native(name)
    nfd = await connect_nfd(native, name)
    await send(nfd, {"message": "안녕"})
    for comm in (nfc, nfd):
        (frame,) = await messages(comm, 1)
        assert frame["room"] == name and frame["message"] == "안녕" and frame["id"] == 1
    assert await stored_count(name) == 1


async def connect_nfd(native, name: str) -> WebsocketCommunicator:
    decomposed = unicodedata.normalize("NFD", name)
    assert decomposed != name
    return await native(decomposed)


@pytest.mark.parametrize("door", ["/ws/rooms/{}/", "/chat/{}", "/chat/{}/", "/ws/chat/{}/", "/ws/chat/{}"])
@pytest.mark.parametrize("name", ["a b", "x" * 65, "😀", "...", "a:b", "%00"])
async def test_invalid_room_names_get_invalid_room_and_4400(connect, door, name):
    comm = await connect(door.format(urllib.parse.quote(name)))
    error = await recv(comm)
    assert error["type"] == "error" and error["code"] == "invalid_room" and error["detail"]
    assert await closed_with(comm) == 4400


@pytest.mark.parametrize(
    "path",
    ["/", "/ws/nothing/here/", "/ws/rooms/a/b/", "/ws/rooms/", "/ws/rooms//", "/chat/a/b", "/x/ws/rooms/a/", "/ws/dm/"],
)
async def test_other_paths_are_refused(connect, path):
    """A door's path is matched whole (``chat.routing``): a prefix or a suffix more is no door."""
    await connect(path, expect=False)


async def test_a_namespaced_door_takes_its_parts_from_the_path(connect, room):
    for path in (f"/ws/ns/public/{urllib.parse.quote(room)}", f"/ws/ns/public/{urllib.parse.quote(room)}/"):
        comm = await connect(path)
        hello = await recv(comm)
        assert hello["type"] == "hello" and hello["room"] == room


# --- Origin ---------------------------------------------------------------------------------------


async def test_a_foreign_origin_is_refused(connect, room):
    for door in (f"/ws/rooms/{room}/", f"/chat/{room}", f"/ws/chat/{room}/"):
        await connect(urllib.parse.quote(door), headers=[(b"origin", b"http://evil.example")], expect=False)
        await connect(urllib.parse.quote(door), headers=[(b"origin", b"http://127.0.0.1.evil.example")], expect=False)
        await connect(urllib.parse.quote(door), headers=[(b"origin", b"null")], expect=False)  # sandboxed frames
    assert await stored_count(room) == 0


async def test_own_origin_and_no_origin_are_accepted(native, room):
    await native(room, headers=[(b"origin", b"http://127.0.0.1:8000"), (b"host", b"127.0.0.1:8000")])
    await native(room, headers=[(b"origin", b"http://localhost"), (b"host", b"localhost")])
    await native(room)


# --- Sending --------------------------------------------------------------------------------------


async def test_a_message_reaches_every_member_with_its_fields(native, room):
    kim = await native(room, "?name=kim")
    lee = await native(room, "?name=lee")
    await send(kim, {"type": "message", "message": "안녕하세요", "client_id": "c-1"})
    for comm in (kim, lee):
        (frame,) = await messages(comm, 1)
        assert {k: frame[k] for k in ("type", "id", "room", "sender", "message", "client_id")} == {
            "type": "message",
            "id": 1,
            "room": room,
            "sender": "kim",
            "message": "안녕하세요",
            "client_id": "c-1",
        }
        assert frame["ts"].endswith("Z")
    await send(lee, {"message": "no type, no client_id"})
    for comm in (kim, lee):
        (frame,) = await messages(comm, 1)
        assert (frame["id"], frame["sender"], frame["client_id"]) == (2, "lee", None)


async def test_ids_are_consecutive_with_many_senders(native, room, settings):
    settings.PARLEY_RATE_PER_SEC = 0
    members = [await native(room, f"?name=m{i}") for i in range(4)]
    per_sender = 15
    await asyncio.gather(
        *(
            send(comm, {"message": f"{i}-{n}", "client_id": f"{i}-{n}"})
            for n in range(per_sender)
            for i, comm in enumerate(members)
        )
    )
    total = per_sender * len(members)
    seen = [await messages(comm, total) for comm in members]
    for got in seen:
        assert ids(got) == list(range(1, total + 1))
        assert [f["message"] for f in got] == [f["message"] for f in seen[0]]
    assert await stored_count(room) == total


async def test_three_doors_one_room(connect, native, room):
    quoted = urllib.parse.quote(room)
    app = await native(room, "?name=app")
    seed = await connect(f"/chat/{quoted}")
    seed_slash = await connect(f"/chat/{quoted}/")
    tutorial = await connect(f"/ws/chat/{quoted}/")
    expected = ["from the seed", "from the tutorial", "from the app"]
    # One at a time, each seen by an observer before the next is sent, so the ids' order is known.
    for n, (comm, frame) in enumerate(
        [
            (seed, {"sender": "kim", "message": expected[0]}),
            (tutorial, {"message": expected[1]}),
            (app, {"message": expected[2]}),
        ]
    ):
        await send(comm, frame)
        (seen,) = await messages(seed_slash, 1)
        assert (seen["id"], seen["message"]) == (n + 1, expected[n])
    for comm in (app, seed, tutorial):
        got = await messages(comm, 3)
        assert [f["id"] for f in got] == [1, 2, 3]
        assert [f["message"] for f in got] == expected
        assert got[0]["sender"] == "kim" and got[2]["sender"] == "app"
        assert got[1]["sender"].startswith("guest-")
    # The seed and tutorial doors got chat messages only: no hello, history, presence, typing, pong.
    await send(app, {"type": "typing"})
    for comm in (seed, seed_slash, tutorial):
        assert await comm.receive_nothing(0.3)


async def test_seed_and_tutorial_doors_get_only_messages_from_the_start(connect, native, room):
    await store(room, 3)
    quoted = urllib.parse.quote(room)
    seed = await connect(f"/chat/{quoted}")
    tutorial = await connect(f"/ws/chat/{quoted}/")
    await native(room, "?name=other")  # a presence change
    assert await seed.receive_nothing(0.8)  # more than the presence interval
    assert await tutorial.receive_nothing(0.1)
    await send(seed, {"sender": "kim", "message": "hi"})
    for comm in (seed, tutorial):
        frame = await recv(comm)
        assert frame["type"] == "message" and frame["id"] == 4 and frame["message"] == "hi"


# --- Bad input on the native door ------------------------------------------------------------------

BAD_FRAMES = [
    ("not json at all", "invalid_json"),
    ("{'single': 'quotes'}", "invalid_json"),
    ("[1, 2, 3]", "invalid_frame"),
    ('"just a string"', "invalid_frame"),
    ("null", "invalid_frame"),
    ('{"type": "shout", "message": "hi"}', "unknown_type"),
    ('{"type": 3, "message": "hi"}', "invalid_frame"),
    ('{"message": ""}', "empty_message"),
    ('{"message": "   \\n\\t "}', "empty_message"),
    ('{"message": 42}', "invalid_frame"),
    ('{"message": {"text": "hi"}}', "invalid_frame"),
    ('{"message": "hi", "client_id": 7}', "invalid_frame"),
    ('{"message": "hi", "sender": ["kim"]}', "invalid_frame"),
    ('{"type": "history", "before": "ten"}', "invalid_frame"),
    ('{"type": "history", "limit": 0}', "invalid_frame"),
    ('{"type": "history", "before": 18446744073709551615}', "invalid_frame"),
    ('{"type": "history", "before": 9223372036854775808}', "invalid_frame"),
    (json.dumps({"message": "x" * 4001}), "too_large"),
    (json.dumps({"message": "가" * 4001}), "too_large"),
    ('{"message": "hi", "sender": ""}', None),  # an empty claim means "my connection's name": accepted
    # What no string may hold (core.inputs), refused with the field's code, the connection open.
    ('{"message": "a\\u0000b"}', "invalid_frame"),
    ('{"message": "x\\ud800y"}', "invalid_frame"),
    ('{"message": "hi", "client_id": "a\\udc00"}', "invalid_frame"),
    ('{"message": "hi", "sender": "k\\u0007m"}', "invalid_name"),
    ('{"type": "reaction", "target": 1, "op": "add", "emoji": "\\u0000"}', "invalid_frame"),
    ('{"message": "hi", "\\u0000": 1}', "invalid_frame"),
]


@pytest.mark.parametrize(("text", "code"), BAD_FRAMES)
async def test_bad_frames_get_an_error_and_the_connection_stays_usable(native, room, text, code):
    comm = await native(room, "?name=kim")
    await comm.send_to(text_data=text)
    if code is None:
        (frame,) = await messages(comm, 1)
        assert frame["sender"] == "kim"
        return
    error = await recv_until(comm, "error")
    assert error["code"] == code and isinstance(error["detail"], str) and error["detail"]
    assert await stored_count(room) == 0
    await assert_usable(comm)
    await send(comm, {"message": "still here", "client_id": "after-error"})
    (frame,) = await messages(comm, 1)
    assert frame["id"] == 1 and frame["message"] == "still here"


@pytest.mark.parametrize(
    "frame",
    [
        {"message": "", "client_id": "c-1"},
        {"message": "x" * 5000, "client_id": "c-1"},
        {"message": "x", "attachments": "nope", "client_id": "c-1"},
        {"message": "x", "reply_to": 0, "client_id": "c-1"},
    ],
)
async def test_a_refused_message_frame_carries_its_client_id(native, room, frame):
    """The client knows which of its messages was refused (its page marks that one as not sent)."""
    comm = await native(room, "?name=kim")
    await send(comm, frame)
    error = await recv_until(comm, "error")
    assert error["client_id"] == "c-1"


async def test_every_error_in_a_row_on_one_connection(native, room):
    comm = await native(room, "?name=kim")
    for text, code in BAD_FRAMES:
        if code is None:
            continue
        await comm.send_to(text_data=text)
        assert (await recv_until(comm, "error"))["code"] == code
    await comm.send_to(bytes_data=b'{"message": "binary"}')
    assert (await recv_until(comm, "error"))["code"] == "invalid_frame"
    assert await stored_count(room) == 0
    await send(comm, {"message": "ok"})
    assert ids(await messages(comm, 1)) == [1]


async def test_a_binary_frame_is_an_error_not_a_close(native, room):
    comm = await native(room)
    await comm.send_to(bytes_data=b"\x00\x01\x02")
    error = await recv_until(comm, "error")
    assert error["code"] == "invalid_frame"
    await assert_usable(comm)


async def test_the_error_names_the_client_id_of_the_refused_message(native, room):
    comm = await native(room)
    await send(comm, {"message": " ", "client_id": "retry-me"})
    error = await recv_until(comm, "error")
    assert error["code"] == "empty_message"
    # The client_id of an invalid frame is not trusted; a rate-limited one is named (see below).


async def test_a_frame_over_the_byte_limit_closes_with_1009(native, room, settings):
    comm = await native(room)
    await comm.send_to(text_data=json.dumps({"message": "x" * (64 * 1024)}))
    assert await closed_with(comm) == 1009
    assert await stored_count(room) == 0


async def test_the_byte_limit_counts_utf8_bytes(native, room):
    comm = await native(room)
    text = json.dumps({"message": "가" * 22_000}, ensure_ascii=False)  # 22k characters, 66k bytes
    assert len(text) < 64 * 1024 < len(text.encode())
    await comm.send_to(text_data=text)
    assert await closed_with(comm) == 1009


async def test_nul_and_lone_surrogates_are_refused_naming_the_field(native, room):
    comm = await native(room)
    await comm.send_to(text_data='{"message": "x\\ud800y", "client_id": "c1"}')
    error = await recv_until(comm, "error")
    assert error["code"] == "invalid_frame" and "'message'" in error["detail"] and "surrogate" in error["detail"]
    await send(comm, {"message": "a\x00b"})
    error = await recv_until(comm, "error")
    assert error["code"] == "invalid_frame" and "NUL" in error["detail"]
    await send(comm, {"message": "tabs\tand\nnewlines\x07are text"})  # in free text, other controls are kept
    (frame,) = await messages(comm, 1)
    assert frame["message"] == "tabs\tand\nnewlines\x07are text"


@pytest.mark.parametrize(
    ("query", "code"),
    [("?name=k%00m", "invalid_name"), ("?name=k%07m", "invalid_name"), ("?after=1%00", "invalid_frame")],
)
async def test_a_handshake_parameter_with_a_nul_or_a_control_is_refused_with_4400(connect, room, query, code):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/{query}")
    error = await recv(comm)
    assert error["type"] == "error" and error["code"] == code
    assert await closed_with(comm) == 4400


@pytest.mark.parametrize("path", ["/ws/rooms/a%00b/", "/ws/ns/x%00/room/", "/ws/dm/x%00y/", "/chat/a%00b"])
async def test_a_path_with_a_nul_is_refused_with_4400_not_1013(connect, path):
    comm = await connect(path)
    error = await recv(comm)
    assert error["type"] == "error" and error["code"] in ("invalid_room", "invalid_name")
    assert await closed_with(comm) == 4400


# --- Bad input on the seed and tutorial doors: ignored and logged ------------------------------------


@pytest.mark.parametrize("door", ["/chat/{}", "/ws/chat/{}/"])
async def test_seed_and_tutorial_ignore_bad_input(connect, room, door, caplog):
    caplog.set_level(logging.INFO, logger="parley.consumers")
    comm = await connect(door.format(urllib.parse.quote(room)))
    bad = [
        "not json",
        "[]",
        '{"message": ""}',
        '{"message": 5}',
        '{"sender": "kim"}',
        json.dumps({"message": "x" * 4001}),
        '{"sender": ["x"], "message": "hi"}',
    ]
    if door.startswith("/ws/chat"):
        bad.remove('{"sender": ["x"], "message": "hi"}')  # the tutorial door never reads sender
    for text in bad:
        await comm.send_to(text_data=text)
    await comm.send_to(bytes_data=b"binary")
    assert await comm.receive_nothing(0.3)
    assert await stored_count(room) == 0
    ignored = [r for r in caplog.records if r.name == "parley.consumers" and "ignored bad frame" in r.getMessage()]
    assert len(ignored) == len(bad) + 1
    await send(comm, {"sender": "kim", "message": "fine"})
    frame = await recv(comm)
    assert frame["type"] == "message" and frame["message"] == "fine" and frame["id"] == 1


# --- Rate limit -----------------------------------------------------------------------------------


async def test_rate_limit_refuses_with_an_error_and_drops_nothing_silently(native, room, settings):
    settings.PARLEY_RATE_PER_SEC = 0.001
    settings.PARLEY_RATE_BURST = 5
    comm = await native(room)
    for n in range(12):
        await send(comm, {"message": f"m{n}", "client_id": f"c{n}"})
    stored, refused = [], []
    while len(stored) + len(refused) < 12:
        frame = await recv(comm)
        if frame["type"] == "message":
            stored.append(frame["client_id"])
        elif frame["type"] == "error":
            assert frame["code"] == "rate_limited"
            refused.append(frame["client_id"])
    assert sorted(stored + refused, key=lambda c: int(c[1:])) == [f"c{n}" for n in range(12)]
    assert len(stored) == 5 and await stored_count(room) == 5
    # History requests count too; ping still works.
    await send(comm, {"type": "history"})
    assert (await recv_until(comm, "error"))["code"] == "rate_limited"
    await assert_usable(comm)


async def test_rate_limit_is_per_connection(native, room, settings):
    settings.PARLEY_RATE_PER_SEC = 0.001
    settings.PARLEY_RATE_BURST = 2
    a = await native(room)
    b = await native(room)
    for comm in (a, b):
        for n in range(2):
            await send(comm, {"message": f"{n}"})
    assert ids(await messages(a, 4)) == [1, 2, 3, 4]
    await send(a, {"message": "one too many"})
    assert (await recv_until(a, "error"))["code"] == "rate_limited"


async def test_rate_zero_turns_the_limit_off(native, room, settings):
    settings.PARLEY_RATE_PER_SEC = 0
    settings.PARLEY_RATE_BURST = 1
    comm = await native(room)
    for n in range(60):
        await send(comm, {"message": f"{n}"})
    assert ids(await messages(comm, 60)) == list(range(1, 61))


# --- History requests -----------------------------------------------------------------------------


async def test_history_before(native, room):
    await store(room, 120)
    comm = await native(room)
    await send(comm, {"type": "history", "before": 30, "limit": 10})
    frame = await recv_until(comm, "history")
    assert ids(frame["messages"]) == list(range(20, 30)) and frame["has_more"] is True
    await send(comm, {"type": "history", "before": 5, "limit": 10})
    frame = await recv_until(comm, "history")
    assert ids(frame["messages"]) == [1, 2, 3, 4] and frame["has_more"] is False
    await send(comm, {"type": "history", "before": 1})
    assert await recv_until(comm, "history") == {"type": "history", "messages": [], "has_more": False}
    await send(comm, {"type": "history", "before": 120, "limit": 500})  # capped at 100
    frame = await recv_until(comm, "history")
    assert ids(frame["messages"]) == list(range(20, 120)) and frame["has_more"] is True
    await send(comm, {"type": "history"})  # the newest page
    frame = await recv_until(comm, "history")
    assert ids(frame["messages"]) == list(range(21, 121))


# --- Dedupe ---------------------------------------------------------------------------------------


async def test_same_client_id_stores_nothing_new_and_the_sender_gets_the_frame_again(native, room):
    kim = await native(room, "?name=kim")
    lee = await native(room, "?name=lee")
    await send(kim, {"message": "once", "client_id": "k-1"})
    (first,) = await messages(kim, 1)
    assert ids(await messages(lee, 1)) == [1]
    await send(kim, {"message": "once (retried)", "client_id": "k-1"})
    (again,) = await messages(kim, 1)
    assert again == first
    # Nobody else hears the retry; the next message is id 2.
    await send(lee, {"message": "next"})
    assert ids(await messages(lee, 1)) == [2]
    assert ids(await messages(kim, 1)) == [2]
    assert await stored_count(room) == 2


async def test_a_client_id_retry_from_another_connection(native, room):
    first = await native(room, "?name=kim")
    await send(first, {"message": "hi", "client_id": "dup"})
    (frame,) = await messages(first, 1)
    await first.disconnect()
    second = await native(room, "?name=kim&after=1")
    await send(second, {"message": "hi", "client_id": "dup"})
    assert await messages(second, 1) == [frame]
    assert await stored_count(room) == 1


# --- Presence, typing, ping -----------------------------------------------------------------------


async def test_presence_on_join_and_leave(native, connect, room):
    kim = await native(room, "?name=kim")  # got presence ["kim"] right after its history
    assert await kim.receive_nothing(0.8)  # and not again: the set did not change
    lee = await native(room, "?name=lee")
    assert (await recv(kim))["users"] == ["kim", "lee"]
    assert await lee.receive_nothing(0.8)
    seed = await connect(f"/chat/{urllib.parse.quote(room)}?name=park")
    assert (await recv_until(kim, "presence"))["users"] == ["kim", "lee", "park"]
    await lee.disconnect()
    assert (await recv_until(kim, "presence"))["users"] == ["kim", "park"]
    await seed.disconnect()
    assert (await recv_until(kim, "presence"))["users"] == ["kim"]


async def test_a_leave_waits_for_no_thread(native, room):
    """A connection that leaves is out of its room however busy asgiref's thread is: the leave runs
    on the event loop. (Channels' own ``websocket_disconnect`` waited for that thread, to close
    database connections that thread never opened: a hop per connection that leaves.)"""
    kim = await native(room, "?name=kim")
    lee = await native(room, "?name=lee")
    assert (await recv(kim))["users"] == ["kim", "lee"]
    release = threading.Event()
    # asgiref's one thread for thread-sensitive calls outside a request (Channels' among them), held:
    held = asyncio.get_running_loop().run_in_executor(SyncToAsync.single_thread_executor, release.wait)
    try:
        await lee.disconnect(timeout=2)
        # It ended by itself: the communicator cancels a consumer still running after the timeout
        # (and says nothing).
        assert lee.future.done() and not lee.future.cancelled()
        assert (await recv_until(kim, "presence"))["users"] == ["kim"]
    finally:
        release.set()
        await held


async def test_a_refused_path_waits_for_no_thread(connect):
    """A path no door matches is refused, and its consumer ends, however busy asgiref's thread is
    (Channels' consumer hopped to it after the refusal and again at the leave)."""
    release = threading.Event()
    held = asyncio.get_running_loop().run_in_executor(SyncToAsync.single_thread_executor, release.wait)
    try:
        nowhere = await connect("/ws/nowhere/at/all/", expect=False)
        await nowhere.disconnect(timeout=2)
        assert nowhere.future.done() and not nowhere.future.cancelled()  # ended by itself
    finally:
        release.set()
        await held


async def test_typing_goes_to_the_others_not_the_typist(native, connect, room):
    kim = await native(room, "?name=kim")
    lee = await native(room, "?name=lee")
    tutorial = await connect(f"/ws/chat/{urllib.parse.quote(room)}/")
    await send(kim, {"type": "typing"})
    assert await recv_until(lee, "typing") == {"type": "typing", "sender": "kim"}
    await send(kim, {"message": "marker"})
    got = []
    while (frame := await recv(kim))["type"] != "message":
        got.append(frame["type"])
    assert "typing" not in got
    assert (await recv(tutorial))["message"] == "marker"


async def test_ping_pong(native, room):
    comm = await native(room)
    for _ in range(3):
        await send(comm, {"type": "ping"})
        assert await recv_until(comm, "pong") == {"type": "pong"}


# --- Who is speaking ------------------------------------------------------------------------------


@database_sync_to_async
def login(username: str, *, staff: bool = False) -> tuple[bytes, bytes]:
    user = get_user_model().objects.create_user(username=username, password="a-Long-pass-123", is_staff=staff)
    client = Client()
    client.force_login(user)
    return b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()


async def test_a_logged_in_users_name_overrides_a_claimed_sender(native, connect, room):
    cookie = await login("Kim")
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?name=impostor", headers=[cookie])
    hello = await recv(comm)
    assert hello["you"] == {"name": "Kim", "guest": False}
    await send(comm, {"message": "hi", "sender": "someone-else"})
    (frame,) = await messages(comm, 1)
    assert frame["sender"] == "Kim"
    seed = await connect(f"/chat/{urllib.parse.quote(room)}", headers=[cookie])
    await send(seed, {"sender": "lee", "message": "seed"})
    assert (await recv(seed))["sender"] == "Kim"
    assert await database_sync_to_async(
        lambda: list(Message.objects.filter(room__name=room).values_list("sender", "user__username"))
    )() == [("Kim", "Kim"), ("Kim", "Kim")]


async def test_a_guest_using_a_registered_name_is_forbidden(native, connect, room):
    await login("kim")
    comm = await native(room, "?name=lee")
    for claimed in ("kim", "KIM", " Kim "):
        await send(comm, {"message": "hi", "sender": claimed, "client_id": f"as-{claimed}"})
        error = await recv_until(comm, "error")
        assert error["code"] == "forbidden" and error["client_id"] == f"as-{claimed}"
    assert await stored_count(room) == 0
    await send(comm, {"message": "as myself"})
    assert (await messages(comm, 1))[0]["sender"] == "lee"
    # Asking for it in the URL is refused at the door.
    refused = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?name=Kim")
    assert (await recv(refused))["code"] == "forbidden"
    assert await closed_with(refused) == 4403
    # The seed door ignores it.
    seed = await connect(f"/chat/{urllib.parse.quote(room)}")
    await send(seed, {"sender": "kim", "message": "as kim"})
    assert await seed.receive_nothing(0.3)
    assert await stored_count(room) == 1


async def test_a_guest_may_change_name_per_message(native, room):
    comm = await native(room, "?name=lee")
    await send(comm, {"message": "1", "sender": "  Park   Ji  "})
    await send(comm, {"message": "2", "sender": "x" * 33})
    # With Redis the first message comes back through the bus, possibly after the second's error.
    got = {}
    while len(got) < 2:
        frame = await recv(comm)
        got.setdefault(frame["type"], frame)
        got.pop("presence", None)
    assert got["message"]["sender"] == "Park Ji"
    assert got["error"]["code"] == "invalid_name"


async def test_guests_off_forbids_anonymous_connections(connect, room, settings):
    settings.PARLEY_ALLOW_GUESTS = False
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/")
    assert (await recv(comm))["code"] == "forbidden"
    assert await closed_with(comm) == 4403
    cookie = await login("member")
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/", headers=[cookie])
    assert (await recv(comm))["you"] == {"name": "member", "guest": False}


# --- Client data never chooses a consumer method --------------------------------------------------

METHOD_NAMES = [
    "websocket.disconnect",
    "websocket_disconnect",
    "websocket.close",
    "websocket.receive",
    "disconnect",
    "close",
    "send",
    "connect",
    "chat.message",
    "chat_message",
    "handle_history",
    "__init__",
]


@pytest.mark.parametrize("kind", METHOD_NAMES)
async def test_client_data_never_picks_a_consumer_method(native, room, kind):
    comm = await native(room)
    await send(comm, {"type": kind, "message": "hi", "code": 1000, "text": "x"})
    error = await recv_until(comm, "error")
    assert error["code"] == "unknown_type"
    await assert_usable(comm)
    await send(comm, {"message": "still open"})
    assert ids(await messages(comm, 1)) == [1]


async def test_seed_door_type_field_is_just_data(connect, room):
    comm = await connect(f"/chat/{urllib.parse.quote(room)}")
    for kind in ("websocket.disconnect", "websocket.close", "chat_message"):
        await send(comm, {"type": kind, "sender": "kim", "message": kind})
    got = [await recv(comm) for _ in range(3)]
    assert [f["message"] for f in got] == ["websocket.disconnect", "websocket.close", "chat_message"]


# --- Stored before broadcast; no channel layer ------------------------------------------------------


async def test_a_message_is_in_the_store_when_it_arrives(native, room):
    kim = await native(room, "?name=kim")
    lee = await native(room, "?name=lee")
    for n in range(1, 11):
        await send(kim, {"message": f"m{n}"})
        (frame,) = await messages(lee, 1)
        # Read the store the moment the frame arrives: the message is there already.
        stored = await database_sync_to_async(
            lambda i=frame["id"]: list(Message.objects.filter(room__name=room, seq=i).values_list("body", flat=True))
        )()
        assert stored == [frame["message"]] == [f"m{n}"]


async def test_fan_out_does_not_use_the_channel_layer(settings):
    """channels_redis drops group messages at capacity 100: the doors must not depend on it."""
    from chat import consumers

    for door in (consumers.SeedConsumer, consumers.TutorialConsumer, consumers.NativeConsumer):
        assert door.channel_layer_alias not in settings.CHANNEL_LAYERS


async def test_more_than_a_hundred_messages_to_a_member_that_reads_late(native, room, settings):
    settings.PARLEY_RATE_PER_SEC = 0
    reader = await native(room)
    sender = await native(room)
    for n in range(250):
        await send(sender, {"message": f"{n}"})
    assert ids(await messages(sender, 250)) == list(range(1, 251))
    assert ids(await messages(reader, 250)) == list(range(1, 251))  # read only now: nothing was dropped


async def test_people_online_counts_for_the_room_list(native, room):
    from chat import protocol
    from chat.fanout import pubsub

    key = protocol.room_key(room)
    await native(room, "?name=kim")
    await native(room, "?name=kim")  # two tabs, one person
    lee = await native(room, "?name=lee")
    assert await database_sync_to_async(pubsub.online_counts)(keys=[key]) == {key: 2}
    await lee.disconnect()
    assert await database_sync_to_async(pubsub.online_counts)(keys=[key]) == {key: 1}


async def test_many_first_joiners_of_a_new_room_at_once(connect, room, settings):
    settings.PARLEY_RATE_PER_SEC = 0
    path = f"/ws/rooms/{urllib.parse.quote(room)}/"
    comms = await asyncio.gather(*(connect(f"{path}?name=u{i}") for i in range(10)))
    for comm in comms:
        _, history, _ = await read_history(comm)
        assert history == []
    from chat.models import Room

    assert await database_sync_to_async(Room.objects.filter(name=room).count)() == 1
    await asyncio.gather(*(send(comm, {"message": f"from {i}"}) for i, comm in enumerate(comms)))
    streams = [await messages(comm, 10) for comm in comms]
    for stream in streams:
        assert ids(stream) == list(range(1, 11))
        assert stream == streams[0]


async def test_message_limit_follows_the_setting(native, room, settings):
    settings.PARLEY_MAX_MESSAGE_CHARS = 10
    comm = await native(room)
    await send(comm, {"message": "가" * 11})
    assert (await recv_until(comm, "error"))["code"] == "too_large"
    await send(comm, {"message": "가" * 10})
    assert (await messages(comm, 1))[0]["message"] == "가" * 10


async def test_resume_after_an_id_this_process_has_not_delivered_yet(native, connect, room):
    """A client saw message N through another process and resumes here with ?after=N while this
    process's hub has not delivered N yet: N must not reach it a second time."""
    from chat import protocol
    from chat.fanout import broadcast, busevents

    here = await native(room, "?name=here")  # this process now has the room, at id 0

    def store_elsewhere():  # stored and published by another process; its event is still on the way
        return services.message_send(room=services.room_get_or_create(address=room), sender="far", body="N").text

    text = await database_sync_to_async(store_elsewhere)()
    resumed = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?after=1&name=resumed")
    _, history, _ = await read_history(resumed, paged=True)
    assert history == []  # nothing after 1
    payload = busevents.encode(busevents.RoomEvent(1, text, message=True))
    await broadcast.get_hub().publish_events([(protocol.room_key(room), payload)])
    assert ids(await messages(here, 1)) == [1]
    await no_more_messages(resumed)  # it already had 1
    await send(here, {"message": "next"})
    assert ids(await messages(resumed, 1)) == [2]


@database_sync_to_async
def guest_session(name: str) -> tuple[bytes, bytes]:
    """A guest's session with a display name, as the room page's name form leaves it."""
    from django.contrib.sessions.backends.db import SessionStore

    from chat.identity import GUEST_NAME_SESSION_KEY

    session = SessionStore()
    session[GUEST_NAME_SESSION_KEY] = name
    session.create()
    return b"cookie", f"csrftoken=abc; sessionid={session.session_key}".encode()


async def test_a_guest_name_kept_in_the_session_is_the_guests_name(connect, room):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/", headers=[await guest_session("민준")])
    assert (await recv(comm))["you"] == {"name": "민준", "guest": True}


async def test_cookies_without_a_session_make_an_anonymous_guest(connect, room):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/", headers=[(b"cookie", b"csrftoken=abc")])
    you = (await recv(comm))["you"]
    assert you["guest"] is True and you["name"].startswith("guest-")
