"""The SSE door against a live server (both passes): the same frames as the native WebSocket door,
ids to resume by (``Last-Event-ID``, ``?after=``), the keepalive comment, who may open it, and the
typing and read routes beside it."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx

from tests.sse.sseclient import Event, events_url, open_events
from tests.wsclient import connect, recv, recv_until, room_url, send

ROOM_EVENTS = ("message", "edit", "delete", "reaction")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def api(server, method: str, path: str, token: str, body: object = None) -> httpx.Response:
    async with httpx.AsyncClient(base_url=server.http, trust_env=False, timeout=10) as client:
        return await client.request(method, "/api/v1" + path, headers=bearer(token), json=body)


def quoted(name: str) -> str:
    from urllib.parse import quote

    return quote(name, safe="")


async def post(server, room: str, token: str, text: str, **extra: object) -> dict:
    response = await api(server, "POST", f"/rooms/{quoted(room)}/messages", token, {"message": text, **extra})
    assert response.status_code == 201, response.text
    return response.json()


async def room_events(stream, until_id: int, within: float = 10) -> list[Event]:
    """Events of the room (message, edit, delete, reaction) up to id ``until_id``."""
    got: list[Event] = []

    async def loop() -> None:
        while not got or got[-1].data["id"] < until_id:
            event = await stream.next(within)
            if event.type in ROOM_EVENTS:
                got.append(event)

    await asyncio.wait_for(loop(), within)
    return got


# --- The stream ----------------------------------------------------------------------------------


async def test_a_guest_gets_hello_history_presence_then_live_events_with_their_ids(live, room, make_user):
    _, alice = make_user("alice")
    first = await post(live, room, alice["token"], "before")
    stream = await open_events(events_url(live.http, room), params={"name": "kim"})
    try:
        assert stream.status == 200
        assert stream.headers["content-type"].startswith("text/event-stream")
        assert stream.headers["cache-control"] == "no-cache"
        assert stream.headers["x-accel-buffering"] == "no"
        hello = await stream.next()
        assert hello.type == "hello" and hello.id is None
        assert hello.data["you"] == {"name": "kim", "guest": True} and hello.data["last_id"] == first["id"]
        history = await stream.next()
        assert history.type == "history" and history.id == first["id"]  # the state as of that event
        assert [m["message"] for m in history.data["messages"]] == ["before"]
        presence = await stream.next()
        assert presence.type == "presence" and "kim" in presence.data["users"] and presence.id is None
        sent = await post(live, room, alice["token"], "**live**")
        event = await stream.until("message")
        assert event.id == sent["id"] and event.data == sent  # the frame every WebSocket member gets
    finally:
        await stream.close()


async def test_the_same_frames_as_the_websocket_for_the_same_traffic(live, room, make_user):
    _, alice = make_user("alice")
    await post(live, room, alice["token"], "old")
    ws = await connect(room_url(live.ws, "/ws/rooms/{}/", room), additional_headers=bearer(alice["token"]))
    stream = await open_events(events_url(live.http, room), headers=bearer(alice["token"]))
    try:
        ws_frames = [await recv(ws), await recv(ws)]
        sse_frames = [(await stream.next()).data, (await stream.next()).data]
        assert ws_frames == sse_frames  # hello and history: the same user, the same room, one moment
        m = await post(live, room, alice["token"], "hi")
        path = f"/rooms/{quoted(room)}/messages/{m['id']}"
        assert (await api(live, "PATCH", path, alice["token"], {"message": "hi!"})).status_code == 200
        assert (await api(live, "POST", path + "/reactions", alice["token"], {"emoji": "👍", "op": "add"})).is_success
        assert (await api(live, "DELETE", path, alice["token"])).status_code == 204
        last = m["id"] + 3
        got_sse = [e.data for e in await room_events(stream, last)]
        got_ws: list[dict] = []
        while not got_ws or got_ws[-1]["id"] < last:
            frame = await recv(ws)
            if frame["type"] in ROOM_EVENTS:
                got_ws.append(frame)
        assert got_sse == got_ws
        assert [f["type"] for f in got_sse] == ["message", "edit", "reaction", "delete"]
    finally:
        await stream.close()
        await ws.close()


async def test_reconnect_with_last_event_id_or_after_loses_and_doubles_nothing(live, room, make_user):
    _, alice = make_user("alice")
    stream = await open_events(events_url(live.http, room), params={"name": "kim"})
    await stream.joined()
    sent = [await post(live, room, alice["token"], f"m{n}") for n in range(3)]
    seen = await room_events(stream, sent[-1]["id"])
    await stream.close()
    last_seen = stream.last_id
    assert last_seen == sent[-1]["id"]
    # Meanwhile: two messages and an edit of one seen before.
    missed = [await post(live, room, alice["token"], f"n{n}") for n in range(2)]
    path = f"/rooms/{quoted(room)}/messages/{sent[0]['id']}"
    assert (await api(live, "PATCH", path, alice["token"], {"message": "m0 edited"})).status_code == 200
    last = missed[-1]["id"] + 1
    for how in ("header", "after", "both"):
        headers = {"Last-Event-ID": str(last_seen)} if how != "after" else {}
        # A URL's ?after= is where the stream began; the header, where it stopped: the header wins.
        params = {
            "name": "kim",
            **({"after": str(last_seen)} if how == "after" else {"after": "0"} if how == "both" else {}),
        }
        again = await open_events(events_url(live.http, room), headers=headers, params=params)
        try:
            hello, history = await again.joined()
            assert hello.data["last_id"] == last
            resumed = [e for h in history for e in h.data["messages"]]
            assert [e["id"] for e in resumed] == list(range(last_seen + 1, last + 1)), how
            kinds = [e["type"] for e in resumed]
            assert kinds[:3] == ["message", "message", "edit"] and set(kinds[3:]) <= {"message"}
            assert history[-1].id == last  # a later reconnect resumes after the edit
            more = await post(live, room, alice["token"], f"after-{how}")
            live_event = await again.until("message")
            assert live_event.data == more and live_event.id == more["id"]
            last = more["id"]
        finally:
            await again.close()
    assert [e.id for e in seen] == [m["id"] for m in sent]


async def test_a_resume_in_pages_gives_each_page_the_id_of_its_last_event(module_farm, room, make_user):
    server = module_farm.start(PARLEY_HISTORY_PAGE_MAX="2", PARLEY_RATE_PER_SEC="0")
    _, alice = make_user("alice")
    sent = [await post(server, room, alice["token"], f"p{n}") for n in range(5)]
    stream = await open_events(events_url(server.http, room), params={"after": str(sent[0]["id"])})
    try:
        _, history = await stream.joined()
        assert [[e["id"] for e in h.data["messages"]] for h in history] == [
            [sent[1]["id"], sent[2]["id"]],
            [sent[3]["id"], sent[4]["id"]],
        ]
        assert [h.id for h in history] == [sent[2]["id"], sent[4]["id"]]
    finally:
        await stream.close()


async def test_a_keepalive_comment_comes_when_nothing_else_does(live, room):
    stream = await open_events(events_url(live.http, room))
    try:
        await stream.joined()
        event = await stream.next(within=5, comments=True)
        assert event.comment == "keepalive" and event.data is None
    finally:
        await stream.close()


async def test_presence_counts_an_sse_connection(live, room, make_user):
    ws = await connect(room_url(live.ws, "/ws/rooms/{}/", room, "?name=lee"))
    while (await recv_until(ws, "presence"))["users"] != ["lee"]:
        pass
    stream = await open_events(events_url(live.http, room), params={"name": "kim"})
    await stream.joined()
    while (await recv_until(ws, "presence"))["users"] != ["kim", "lee"]:
        pass
    await send(ws, {"type": "typing"})
    assert (await stream.until("typing")).data == {"type": "typing", "sender": "lee"}
    await stream.close()  # the client goes away: the member leaves
    while (await recv_until(ws, "presence"))["users"] != ["lee"]:
        pass
    await ws.close()


async def test_the_ns_and_dm_forms(live, core, make_user):
    owner_name, owner = make_user("own")
    other_name, other = make_user("oth")
    ns = f"ns{uuid.uuid4().hex[:6]}"
    core.ok("ns_create", owner_name, name=ns)
    core.ok("room_create", owner_name, ns=ns, room="general")
    stream = await open_events(events_url(live.http, "general", ns=ns), headers=bearer(owner["token"]))
    try:
        hello, _ = await stream.joined()
        assert hello.data["namespace"] == ns and hello.data["room"] == "general"
    finally:
        await stream.close()
    dm = await open_events(events_url(live.http, dm=other_name), headers=bearer(owner["token"]))
    try:
        await dm.joined()
        r = await api(live, "POST", f"/dm/{owner_name}/messages", other["token"], {"message": "안녕"})
        assert r.status_code == 201
        event = await dm.until("message")
        assert event.data["message"] == "안녕" and event.id == r.json()["id"]
    finally:
        await dm.close()


# --- Who may open it -------------------------------------------------------------------------------


async def refused(url: str, **kw) -> tuple[int, dict, httpx.Headers]:
    stream = await open_events(url, **kw)
    try:
        assert stream.headers["content-type"] == "application/json"
        return stream.status, await stream.body(), stream.headers
    finally:
        await stream.close()


async def test_a_bad_token_is_401_in_the_api_error_shape(live, room):
    status, body, headers = await refused(events_url(live.http, room), headers=bearer("parley_nope"))
    assert status == 401 and body["error"]["code"] == "unauthenticated"
    assert headers["www-authenticate"].startswith("Bearer")


async def test_a_private_room_is_404_to_an_outsider_and_open_to_a_member(live, core, make_user):
    owner_name, owner = make_user("own")
    outsider_name, outsider = make_user("out")
    ns = f"ns{uuid.uuid4().hex[:6]}"
    core.ok("ns_create", owner_name, name=ns)
    core.ok("room_create", owner_name, ns=ns, room="secret", private=True)
    url = events_url(live.http, "secret", ns=ns)
    missing = await refused(events_url(live.http, "nothing", ns=ns), headers=bearer(outsider["token"]))
    hidden = await refused(url, headers=bearer(outsider["token"]))
    assert hidden[0] == 404 and hidden[1] == missing[1] == {"error": {"code": "not_found", "detail": "not found"}}
    # The API says the same about the room's messages.
    r = await api(live, "GET", f"/ns/{ns}/rooms/secret/messages", outsider["token"])
    assert r.status_code == 404
    assert (await refused(url))[0] == 404  # a guest too
    # The owner, by session cookie this time.
    stream = await open_events(url, headers={"Cookie": f"sessionid={owner['session']}"})
    try:
        assert stream.status == 200
        hello, _ = await stream.joined()
        assert hello.data["you"] == {"name": owner_name, "guest": False}
    finally:
        await stream.close()
    del outsider_name


async def test_bad_input_is_400(live, room):
    status, body, _ = await refused(events_url(live.http, "bad room"))
    assert status == 400 and body["error"]["code"] == "invalid_room"
    status, body, _ = await refused(events_url(live.http, room), params={"after": "x"})
    assert status == 400 and body["error"]["code"] == "invalid_frame"
    status, body, _ = await refused(events_url(live.http, room), headers={"Last-Event-ID": "-1"})
    assert status == 400 and body["error"]["code"] == "invalid_frame"


async def test_a_foreign_origin_is_403(live, room):
    status, body, _ = await refused(events_url(live.http, room), headers={"Origin": "http://evil.example"})
    assert status == 403 and body["error"]["code"] == "forbidden"


async def test_the_address_connection_limit_counts_sse_streams(module_farm, room):
    server = module_farm.start(PARLEY_ADDRESS_MAX_CONNECTIONS="2")
    ws = await connect(room_url(server.ws, "/ws/rooms/{}/", room))
    stream = await open_events(events_url(server.http, room))
    try:
        assert stream.status == 200
        status, body, headers = await refused(events_url(server.http, room))
        assert status == 429 and body["error"]["code"] == "rate_limited" and int(headers["retry-after"]) >= 1
    finally:
        await stream.close()
        await ws.close()
    await asyncio.sleep(0.3)  # the server sees the stream go
    again = await open_events(events_url(server.http, room))
    assert again.status == 200
    await again.close()


# --- Typing and read ---------------------------------------------------------------------------------


async def test_typing_route_reaches_the_room_once_a_second(live, room, make_user):
    alice_name, alice = make_user("alice")
    stream = await open_events(events_url(live.http, room), params={"name": "kim"})
    try:
        await stream.joined()
        for _ in range(3):
            r = await api(live, "POST", f"/rooms/{quoted(room)}/typing", alice["token"])
            assert r.status_code == 204
        marker = await post(live, room, alice["token"], "done")
        kinds = []
        while (event := await stream.next()).type != "message":
            kinds.append(event.data)
        assert event.data == marker
        assert kinds == [{"type": "typing", "sender": alice_name}]  # the two others were dropped
    finally:
        await stream.close()


async def test_typing_and_read_routes_refuse_guests_outsiders_and_csrf_less_sessions(live, room, make_user, core):
    _, alice = make_user("alice")
    async with httpx.AsyncClient(base_url=live.http, trust_env=False) as anonymous:
        r = await anonymous.post(f"/api/v1/rooms/{quoted(room)}/typing")
        assert r.status_code == 401 and r.json()["error"]["code"] == "unauthenticated"
    async with httpx.AsyncClient(base_url=live.http, trust_env=False, cookies={"sessionid": alice["session"]}) as s:
        r = await s.post(f"/api/v1/rooms/{quoted(room)}/typing")
        assert r.status_code == 403  # a session needs the CSRF header
    owner_name, _ = make_user("own")
    ns = f"ns{uuid.uuid4().hex[:6]}"
    core.ok("ns_create", owner_name, name=ns)
    core.ok("room_create", owner_name, ns=ns, room="secret", private=True)
    r = await api(live, "POST", f"/ns/{ns}/rooms/secret/typing", alice["token"])
    assert r.status_code == 404
    r = await api(live, "POST", f"/ns/{ns}/rooms/secret/read", alice["token"], {"up_to": 1})
    assert r.status_code == 404


async def test_read_routes_move_the_cursor_and_tell_the_users_streams(live, room, make_user):
    alice_name, alice = make_user("alice")
    bob_name, bob = make_user("bob")
    m = await post(live, room, bob["token"], "read me")
    stream = await open_events(events_url(live.http, room), headers=bearer(alice["token"]))
    try:
        hello, _ = await stream.joined()
        assert hello.data["read_up_to"] == 0
        r = await api(live, "POST", f"/rooms/{quoted(room)}/read", alice["token"], {"up_to": m["id"]})
        assert r.json() == {"up_to": m["id"]}
        event = await stream.until("read")
        assert event.data == {"type": "read", "room": room, "up_to": m["id"]} and event.id is None
    finally:
        await stream.close()
    # The DM form of both routes.
    r = await api(live, "POST", f"/dm/{bob_name}/messages", alice["token"], {"message": "hi"})
    dm_id = r.json()["id"]
    r = await api(live, "POST", f"/dm/{alice_name}/read", bob["token"], {"up_to": dm_id})
    assert r.status_code == 200 and r.json() == {"up_to": dm_id}
    dm = await open_events(events_url(live.http, dm=bob_name), headers=bearer(alice["token"]))
    try:
        await dm.joined()
        assert (await api(live, "POST", f"/dm/{alice_name}/typing", bob["token"])).status_code == 204
        assert (await dm.until("typing")).data == {"type": "typing", "sender": bob_name}
    finally:
        await dm.close()
    r = await api(live, "POST", "/dm/nobody-here/typing", alice["token"])
    assert r.status_code == 404
    assert json.loads(r.text)["error"]["code"] == "not_found"


async def test_an_open_stream_is_counted_in_parley_connections_by_its_door(module_farm, room):
    from tests.core.test_metrics import TOKEN, until, value

    server = module_farm.start(PARLEY_METRICS_TOKEN=TOKEN)
    stream = await open_events(events_url(server.http, room))
    await stream.joined()
    await until(server.http, lambda s: value(s, "parley_connections", door="sse") == 1, "the stream counted")
    await stream.close()
    await until(server.http, lambda s: value(s, "parley_connections", door="sse") == 0, "the stream gone")


async def test_a_reader_that_falls_behind_is_dropped_like_a_websocket(module_farm, room, make_user):
    """PARLEY_SEND_QUEUE_MAX holds for a stream: a reader that stops reading is ended (it leaves
    the room's presence) while the others go on."""
    import socket

    server = module_farm.start(PARLEY_SEND_QUEUE_MAX="3", PARLEY_RATE_PER_SEC="0", PARLEY_SLOW_CLIENT_GRACE="1")
    _, alice = make_user("alice")
    watcher = await connect(room_url(server.ws, "/ws/rooms/{}/", room, "?name=watcher"), max_queue=None)
    slow = socket.socket()
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window: the server's buffers fill soon
    slow.connect(("127.0.0.1", server.port))
    path = events_url("", room) + "?name=slow"
    slow.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode())
    try:
        while "slow" not in (await recv_until(watcher, "presence"))["users"]:
            pass
        # Never read again; send until the server gives up on it (each frame ~10 KB).
        text = "가" * 3000
        for n in range(300):
            await post(server, room, alice["token"], f"{n} {text}")
            if n % 20 == 19:
                try:
                    frame = await recv_until(watcher, "presence", within=0.5)
                except TimeoutError:
                    continue
                if "slow" not in frame["users"]:
                    break
        else:
            raise AssertionError("the slow reader was never dropped")
    finally:
        slow.close()
        await watcher.close()
