"""End to end, one real server (uvicorn, as ``make run``) and real WebSocket clients: the pages, the
three doors, every error and limit of the native door."""

from __future__ import annotations

import asyncio
import json
import time
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest
import websockets.exceptions

from tests.wsclient import (
    close_code,
    connect,
    ids,
    join,
    messages,
    next_messages,
    read_history,
    recv,
    recv_until,
    room_url,
    send,
)

# --- HTTP -----------------------------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def http_get(url: str) -> tuple[int, str, str]:
    """(status, Location header, body) without following redirects."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, response.headers.get("Location", ""), response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read().decode(errors="replace")


async def test_pages_and_legacy_redirects(live, room):
    ws, _, _ = await join(live.ws, room, "?name=kim")
    await send(ws, {"message": "hi"})
    await next_messages(ws, 1)
    status, _, body = await asyncio.to_thread(http_get, live.http + "/")
    assert status == 200 and room in body
    quoted = urllib.parse.quote(room)
    status, _, _ = await asyncio.to_thread(http_get, f"{live.http}/rooms/{quoted}/")
    assert status == 200
    status, location, _ = await asyncio.to_thread(http_get, live.http + "/chat/")
    assert status in (301, 302, 308) and urllib.parse.urlsplit(location).path == "/"
    for legacy in (f"/chat/{quoted}/", f"/chat/{quoted}"):
        status, location, _ = await asyncio.to_thread(http_get, live.http + legacy)
        assert status in (301, 302, 308)
        assert urllib.parse.unquote(urllib.parse.urlsplit(location).path) == f"/rooms/{room}/"
    await ws.close()


# --- The three doors ------------------------------------------------------------------------------


async def test_three_doors_see_each_others_messages(live, room):
    app, hello, history = await join(live.ws, room, "?name=app")
    assert hello["room"] == room and hello["last_id"] == 0 and history == []
    seed = await connect(room_url(live.ws, "/chat/{}", room))
    seed_slash = await connect(room_url(live.ws, "/chat/{}/", room))
    tutorial = await connect(room_url(live.ws, "/ws/chat/{}/", room))
    tutorial_no_slash = await connect(room_url(live.ws, "/ws/chat/{}", room))
    everyone = [app, seed, seed_slash, tutorial, tutorial_no_slash]
    sends = [
        (seed, {"sender": "kim", "message": "from the seed"}),
        (tutorial, {"message": "from the tutorial"}),
        (app, {"message": "from the app"}),
        (seed_slash, {"sender": "lee", "message": "from the seed, slash"}),
        (tutorial_no_slash, {"message": "from the tutorial, no slash"}),
    ]
    for n, (ws, frame) in enumerate(sends, start=1):
        await send(ws, frame)
        for other in everyone:
            (got,) = await (next_messages(other, 1) if other is app else messages(other, 1))
            assert (got["id"], got["message"]) == (n, frame["message"])
            assert {"sender", "message"} <= got.keys()
            if "sender" in frame:
                assert got["sender"] == frame["sender"]
    # The seed and tutorial doors get chat messages only: a typing hint and a presence change later,
    # the next frame they receive is the next message.
    await send(app, {"type": "typing"})
    extra, _, _ = await join(live.ws, room, "?name=extra")
    while "extra" not in (await recv_until(app, "presence"))["users"]:
        pass  # the presence change has been sent to the room
    await send(app, {"message": "marker"})
    for ws in (seed, seed_slash, tutorial, tutorial_no_slash):
        frame = await recv(ws)
        assert frame["type"] == "message" and frame["message"] == "marker"
    for ws in [*everyone, extra]:
        await ws.close()


async def test_korean_room_names_everywhere(live):
    name = "자유게시판"
    # Raw, percent-encoded and NFD-normalised forms all reach one room.
    nfd = unicodedata.normalize("NFD", name)
    a, hello, _ = await join(live.ws, name)
    assert hello["room"] == name
    b = await connect(f"{live.ws}/ws/chat/{urllib.parse.quote(nfd)}/")
    last = hello["last_id"]
    await send(b, {"message": "안녕하세요"})
    (frame,) = await next_messages(a, 1)
    assert (frame["id"], frame["room"], frame["message"]) == (last + 1, name, "안녕하세요")
    await a.close()
    await b.close()


@pytest.mark.parametrize("door", ["/ws/rooms/{}/", "/chat/{}", "/ws/chat/{}/"])
async def test_invalid_room_closes_with_4400(live, door):
    for name in ("a b", "x" * 65, "🙂", "..", "a:b"):
        ws = await connect(room_url(live.ws, door, name))
        frame = await recv(ws)
        assert frame["type"] == "error" and frame["code"] == "invalid_room"
        assert await close_code(ws) == 4400


async def test_foreign_origin_is_refused(live, room):
    for door in ("/ws/rooms/{}/", "/chat/{}", "/ws/chat/{}/"):
        with pytest.raises(websockets.exceptions.InvalidStatus) as info:
            await connect(room_url(live.ws, door, room), origin="http://evil.example")
        assert info.value.response.status_code == 403
    # The server's own origin is fine, and so is a client that sends none.
    ws = await connect(room_url(live.ws, "/ws/rooms/{}/", room), origin=f"http://127.0.0.1:{live.port}")
    assert (await recv(ws))["type"] == "hello"
    await ws.close()


# --- Native door: frames and errors ---------------------------------------------------------------


async def test_message_frame_fields(live, room):
    kim, _, _ = await join(live.ws, room, "?name=kim")
    lee, _, _ = await join(live.ws, room, "?name=lee")
    await send(kim, {"type": "message", "message": "hi", "client_id": "c1"})
    for ws in (kim, lee):
        (frame,) = await next_messages(ws, 1)
        assert frame["type"] == "message" and frame["id"] == 1 and frame["room"] == room
        assert (frame["sender"], frame["message"], frame["client_id"]) == ("kim", "hi", "c1")
        assert frame["ts"].endswith("Z")
    await kim.close()
    await lee.close()


BAD = [
    ("not json", "invalid_json"),
    ("[1]", "invalid_frame"),
    ('{"type": "nope"}', "unknown_type"),
    ('{"type": "websocket.disconnect"}', "unknown_type"),
    ('{"message": "   "}', "empty_message"),
    ('{"message": ""}', "empty_message"),
    (json.dumps({"message": "x" * 4001}), "too_large"),
    ('{"message": 1}', "invalid_frame"),
    ('{"message": "hi", "client_id": []}', "invalid_frame"),
    ('{"type": "history", "before": "x"}', "invalid_frame"),
]


async def test_every_error_keeps_the_connection_usable_and_stores_nothing(live, room):
    ws, hello, _ = await join(live.ws, room)
    for text, code in BAD:
        await ws.send(text)
        error = await recv_until(ws, "error")
        assert error["code"] == code and error["detail"]
        await send(ws, {"type": "ping"})
        assert await recv_until(ws, "pong") == {"type": "pong"}
    await ws.send(b'{"message": "binary"}')
    assert (await recv_until(ws, "error"))["code"] == "invalid_frame"
    await send(ws, {"message": "the first message"})
    (frame,) = await next_messages(ws, 1)
    assert frame["id"] == hello["last_id"] + 1 == 1
    await ws.close()


async def test_seed_and_tutorial_ignore_bad_input_without_closing(live, room):
    for door in ("/chat/{}", "/ws/chat/{}/"):
        ws = await connect(room_url(live.ws, door, room))
        for text in ("not json", "[]", '{"message": ""}', json.dumps({"message": "x" * 4001}), '{"message": 2}'):
            await ws.send(text)
        await ws.send(b"binary")
        await send(ws, {"sender": "kim", "message": f"ok via {door}"})
        frame = await recv(ws)  # the first frame back is the valid message: nothing was answered before it
        assert frame["type"] == "message" and frame["message"] == f"ok via {door}"
        await ws.close()
    reader, _, history = await join(live.ws, room)
    assert [m["message"] for m in history] == ["ok via /chat/{}", "ok via /ws/chat/{}/"]
    await reader.close()


async def test_a_frame_over_64_kib_closes_with_1009(live, room):
    ws, _, _ = await join(live.ws, room)
    await ws.send(json.dumps({"message": "x" * (64 * 1024)}))
    assert await close_code(ws) == 1009
    ws, _, history = await join(live.ws, room)
    assert history == []
    await send(ws, {"message": "x" * 4000})  # the largest message fits in a frame
    assert len((await next_messages(ws, 1))[0]["message"]) == 4000
    await ws.close()


async def test_ping_typing_presence(live, room):
    kim, _, _ = await join(live.ws, room, "?name=kim")
    await send(kim, {"type": "ping"})
    assert await recv(kim) == {"type": "pong"}
    lee, _, _ = await join(live.ws, room, "?name=lee")
    assert await recv_until(kim, "presence") == {"type": "presence", "users": ["kim", "lee"], "bots": []}
    await send(lee, {"type": "typing"})
    assert await recv_until(kim, "typing") == {"type": "typing", "sender": "lee"}
    await send(lee, {"message": "marker"})
    seen = []
    while (frame := await recv(lee))["type"] != "message":
        seen.append(frame["type"])
    assert "typing" not in seen
    await lee.close()
    assert await recv_until(kim, "presence") == {"type": "presence", "users": ["kim"], "bots": []}
    await kim.close()


async def test_history_before_and_resume_pages(unlimited, room):
    ws, _, _ = await join(unlimited.ws, room)
    for n in range(230):
        await send(ws, {"message": f"m{n}"})
    assert ids(await next_messages(ws, 230, within=30)) == list(range(1, 231))
    await send(ws, {"type": "history", "before": 101, "limit": 100})
    page = await recv_until(ws, "history")
    assert ids(page["messages"]) == list(range(1, 101)) and page["has_more"] is False
    await send(ws, {"type": "history", "before": 200, "limit": 10})
    page = await recv_until(ws, "history")
    assert ids(page["messages"]) == list(range(190, 200)) and page["has_more"] is True
    await ws.close()

    fresh, hello, history = await join(unlimited.ws, room)
    assert hello["last_id"] == 230 and ids(history) == list(range(181, 231))
    resumed = await connect(room_url(unlimited.ws, "/ws/rooms/{}/", room, "?after=7"))
    assert (await recv(resumed))["type"] == "hello"
    sizes, has_more, got = [], [], []
    while True:
        frame = await recv(resumed)
        assert frame["type"] == "history"
        sizes.append(len(frame["messages"]))
        has_more.append(frame["has_more"])
        got.extend(frame["messages"])
        if not frame["has_more"]:
            break
    assert sizes == [100, 100, 23] and has_more == [True, True, False]
    assert ids(got) == list(range(8, 231))
    await fresh.close()
    await resumed.close()


async def test_same_client_id_is_stored_once(live, room):
    kim, _, _ = await join(live.ws, room, "?name=kim")
    lee, _, _ = await join(live.ws, room, "?name=lee")
    await send(kim, {"message": "once", "client_id": "x-1"})
    (first,) = await next_messages(kim, 1)
    await send(kim, {"message": "once", "client_id": "x-1"})
    assert await next_messages(kim, 1) == [first]
    await send(kim, {"message": "twice", "client_id": "x-2"})
    assert ids(await next_messages(kim, 1)) == [2]
    assert ids(await next_messages(lee, 2)) == [1, 2]  # lee never saw the retry
    await kim.close()
    await lee.close()


async def test_rate_limit_answers_every_refused_message(live, room):
    ws, _, _ = await join(live.ws, room)
    count = 45
    for n in range(count):
        await send(ws, {"message": f"m{n}", "client_id": f"c{n}"})
    stored, refused = [], []
    while len(stored) + len(refused) < count:
        frame = await recv(ws)
        if frame["type"] == "message":
            stored.append(frame["client_id"])
        elif frame["type"] == "error":
            assert frame["code"] == "rate_limited"
            refused.append(frame["client_id"])
    assert sorted(stored + refused) == sorted(f"c{n}" for n in range(count))  # nothing dropped silently
    assert 30 <= len(stored) < count and refused
    # The connection stays usable: after a short wait the bucket has tokens again.
    await asyncio.sleep(0.25)
    await send(ws, {"message": "later", "client_id": "later"})
    frame = await recv_until(ws, "message")
    assert frame["client_id"] == "later" and frame["id"] == len(stored) + 1
    await ws.close()


@pytest.mark.parametrize("door", ["/chat/{}", "/ws/chat/{}/", "/ws/rooms/{}/"])
async def test_after_the_handshake_every_message_arrives(live, door):
    """The seed and tutorial doors have no history: a client that has completed its handshake
    must already be subscribed, or a message sent right then is lost to it."""
    for attempt in range(15):
        room = f"handshake-{attempt}-{uuid.uuid4().hex[:6]}"
        sender, _, _ = await join(live.ws, room)
        ws = await connect(room_url(live.ws, door, room))
        await send(sender, {"message": "right after the handshake"})
        if door.startswith("/ws/rooms"):  # the native door: in its history, or live after it
            _, history, _ = await read_history(ws)
            frame = history[0] if history else await recv_until(ws, "message", within=5)
        else:
            frame = await recv_until(ws, "message", within=5)
        assert (frame["id"], frame["message"]) == (1, "right after the handshake"), attempt
        await ws.close()
        await sender.close()


async def test_a_refused_handshake_leaves_nothing_behind(farm, room):
    """Refusing a foreign Origin must not start anything that outlives the connection: the server
    still stops promptly on SIGTERM (with channels_redis, Channels' own denier did not)."""
    server = farm.start()
    for _ in range(3):
        with pytest.raises(websockets.exceptions.InvalidStatus):
            await connect(room_url(server.ws, "/ws/rooms/{}/", room), origin="http://evil.example")
    ws, _, _ = await join(server.ws, room)  # and the server still serves
    await ws.close()
    started = time.monotonic()
    await asyncio.to_thread(server.stop)
    # uvicorn re-raises SIGTERM after a graceful shutdown (-15); -9 is the harness's kill after 10 s.
    assert server.process.returncode in (0, -15) and time.monotonic() - started < 5, server.log()


async def test_the_frame_and_message_limits_follow_the_settings(module_farm, room):
    server = module_farm.start(PARLEY_MAX_FRAME_BYTES="2048", PARLEY_MAX_MESSAGE_CHARS="100")
    ws, hello, _ = await join(server.ws, room)
    assert hello["limits"]["max_frame_bytes"] == 2048 and hello["limits"]["max_message_chars"] == 100
    await send(ws, {"message": "x" * 100})
    assert len((await next_messages(ws, 1))[0]["message"]) == 100
    await send(ws, {"message": "x" * 101})
    assert (await recv_until(ws, "error"))["code"] == "too_large"
    await ws.send(json.dumps({"message": "x" * 2100}))
    assert await close_code(ws) == 1009
