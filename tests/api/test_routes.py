"""Every route of /api/v1 against a live server: success, each error code and status,
permissions, idempotency, a Korean room, and that what the API does reaches WebSocket members."""

from __future__ import annotations

import uuid

import pytest

from tests.api.client import PASSWORD, new_token, new_user, request, room_path
from tests.wsclient import join, next_messages, send


@pytest.fixture(scope="module")
def alice(live):
    return new_user(live.http)


@pytest.fixture(scope="module")
def bob(live):
    return new_user(live.http)


def msgs(room: str) -> str:
    return f"/api/v1/rooms/{room_path(room)}/messages"


def post(live, user, room, body, **kw):
    return request(live.http, "POST", msgs(room), body, token=user.token, **kw)


# --- Tokens ----------------------------------------------------------------------------------------


def test_token_request_list_and_revoke(live, alice):
    made = new_token(live.http, alice.name, name="ci bot", expires_in=3600)
    assert made.status == 201
    body = made.json
    assert set(body) == {"id", "name", "token", "created", "expires", "last_used"}
    assert body["name"] == "ci bot" and body["token"].startswith("parley_") and body["last_used"] is None
    assert body["created"].endswith("Z") and body["expires"] > body["created"]
    assert request(live.http, "GET", "/api/v1/me", token=body["token"]).json == {"username": alice.name, "guest": False}

    listed = request(live.http, "GET", "/api/v1/tokens", token=alice.token)
    assert listed.status == 200
    row = next(t for t in listed.json["tokens"] if t["id"] == body["id"])
    assert "token" not in row and row["last_used"] is not None

    gone = request(live.http, "DELETE", f"/api/v1/tokens/{body['id']}", token=alice.token)
    assert gone.status == 204 and gone.text == ""
    again = request(live.http, "GET", "/api/v1/me", token=body["token"])
    assert (again.status, again.code) == (401, "unauthenticated")
    assert body["id"] not in [
        t["id"] for t in request(live.http, "GET", "/api/v1/tokens", token=alice.token).json["tokens"]
    ]


def test_another_users_token_is_not_found(live, alice, bob):
    theirs = new_token(live.http, bob.name).json
    answer = request(live.http, "DELETE", f"/api/v1/tokens/{theirs['id']}", token=alice.token)
    assert (answer.status, answer.code) == (404, "not_found")
    assert request(live.http, "GET", "/api/v1/me", token=theirs["token"]).status == 200


def test_wrong_credentials_and_bad_requests(live, alice):
    wrong = request(live.http, "POST", "/api/v1/tokens", {"username": alice.name, "password": "nope", "name": "x"})
    assert (wrong.status, wrong.code) == (401, "unauthenticated")
    unknown = request(
        live.http, "POST", "/api/v1/tokens", {"username": "nobody-" + uuid.uuid4().hex, "password": "x", "name": "x"}
    )
    assert (unknown.status, unknown.code) == (401, "unauthenticated")
    bad_json = request(live.http, "POST", "/api/v1/tokens", raw=b'{"username": ')
    assert (bad_json.status, bad_json.code) == (400, "invalid_json")
    missing = request(live.http, "POST", "/api/v1/tokens", {"username": alice.name, "password": PASSWORD})
    assert (missing.status, missing.code) == (400, "invalid_frame")
    typed = request(
        live.http,
        "POST",
        "/api/v1/tokens",
        {"username": alice.name, "password": PASSWORD, "name": "x", "expires_in": "60"},
    )
    assert (typed.status, typed.code) == (400, "invalid_frame")


def test_expired_token_is_refused(live, alice):
    import time

    made = new_token(live.http, alice.name, expires_in=1).json
    deadline = time.monotonic() + 10
    while request(live.http, "GET", "/api/v1/me", token=made["token"]).status == 200:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    answer = request(live.http, "GET", "/api/v1/me", token=made["token"])
    assert (answer.status, answer.code) == (401, "unauthenticated")


@pytest.fixture(scope="module")
def throttled(module_farm):
    return module_farm.start(PARLEY_LOGIN_FAILURES_PER_USERNAME="3", PARLEY_LOGIN_FAILURES_PER_ADDRESS="0")


def test_failed_token_requests_are_throttled_per_username(throttled):
    user = new_user(throttled.http)
    codes = [
        request(
            throttled.http, "POST", "/api/v1/tokens", {"username": user.name, "password": "wrong", "name": "x"}
        ).status
        for _ in range(3)
    ]
    assert codes[:2] == [401, 401] and codes[2] in (401, 429)
    refused = new_token(throttled.http, user.name)  # even with the right password
    assert (refused.status, refused.code) == (429, "rate_limited")
    assert refused.headers["content-type"] == "application/json"
    # Successes do not count, and another username is not affected.
    other = new_user(throttled.http)
    for _ in range(4):
        assert new_token(throttled.http, other.name).status == 201


# --- Credentials ------------------------------------------------------------------------------------


def test_credentials(live, alice, bob, room):
    none = request(live.http, "GET", "/api/v1/me")
    assert (none.status, none.code) == (401, "unauthenticated") and "Bearer" in none.headers["www-authenticate"]
    garbage = request(live.http, "GET", "/api/v1/me", token="parley_not-a-token")
    assert (garbage.status, garbage.code) == (401, "unauthenticated")
    basic = request(live.http, "GET", "/api/v1/me", headers={"Authorization": "Basic eDp5"})
    assert (basic.status, basic.code) == (401, "unauthenticated")

    # The session: reads as it is; writes need the CSRF header.
    assert alice.browser.api("GET", "/api/v1/me", csrf=False).json["username"] == alice.name
    no_csrf = alice.browser.api("POST", msgs(room), {"message": "hi"}, csrf=False)
    assert (no_csrf.status, no_csrf.code) == (403, "forbidden")
    wrong_csrf = alice.browser.api("POST", msgs(room), {"message": "hi"}, csrf=False, headers={"X-CSRFToken": "x" * 32})
    assert (wrong_csrf.status, wrong_csrf.code) == (403, "forbidden")
    assert alice.browser.api("POST", msgs(room), {"message": "hi"}).status == 201

    # A Bearer header wins over the cookie, and a bad one is refused even with a good session.
    assert alice.browser.api("GET", "/api/v1/me", token=bob.token).json["username"] == bob.name
    bad = alice.browser.api("GET", "/api/v1/me", token="parley_nope")
    assert bad.status == 401


def test_unknown_paths_and_methods_in_the_error_shape(live, alice):
    for path in ("/api/v1/nothing", "/api/v1/me/", "/api/v1/rooms/x/y/z/w"):
        answer = request(live.http, "GET", path, token=alice.token)
        assert (answer.status, answer.code) == (404, "not_found"), path
    wrong = request(live.http, "PUT", "/api/v1/me", token=alice.token)
    assert wrong.status == 405 and wrong.code == "method_not_allowed" and wrong.headers["allow"] == "GET"


def test_openapi_and_docs(live):
    schema = request(live.http, "GET", "/api/v1/openapi.json")
    assert schema.status == 200
    paths = schema.json["paths"]
    for path in (
        "/api/v1/tokens",
        "/api/v1/tokens/{token_id}",
        "/api/v1/me",
        "/api/v1/rooms",
        "/api/v1/rooms/{room}/messages",
        "/api/v1/rooms/{room}/messages/{message_id}",
        "/api/v1/rooms/{room}/messages/{message_id}/reactions",
        "/api/v1/rooms/{room}/messages/{message_id}/thread",
        "/api/v1/rooms/{room}/read",
    ):
        assert path in paths
    docs = request(live.http, "GET", "/api/v1/docs")
    assert docs.status == 200 and "swagger-ui" in docs.text
    csp = docs.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for asset in (
        "/static/ninja/swagger-ui-bundle.js",
        "/static/ninja/swagger-ui-init.js",
        "/static/ninja/swagger-ui.css",
    ):
        assert asset in docs.text and request(live.http, "GET", asset).status == 200


# --- Rooms and messages -----------------------------------------------------------------------------


async def test_post_reaches_websocket_members_and_history(live, alice, room):
    ws, hello, _ = await join(live.ws, room, "?name=watcher")
    try:
        first = post(live, alice, room, {"message": "안녕 @watcher"})
        assert first.status == 201
        frame = first.json
        assert frame == {
            "type": "message",
            "id": hello["last_id"] + 1,
            "room": room,
            "sender": alice.name,
            "message": "안녕 @watcher",
            "ts": frame["ts"],
            "client_id": None,
            "reply_to": None,
            "mentions": ["watcher"],
            "html": '<p>안녕 <span class="mention">@watcher</span></p>\n',
            "attachments": [],
            "bot": False,
        }
        [live_frame] = await next_messages(ws, 1)
        assert live_frame == frame
    finally:
        await ws.close()

    page = request(live.http, "GET", msgs(room), token=alice.token)
    assert page.status == 200 and page.json["has_more"] is False
    [state] = page.json["messages"]
    assert state == {**frame, "edited": False, "deleted": False, "reactions": {}, "replies": 0}


def test_korean_room_and_room_list(live, alice, bob, room):
    assert post(live, alice, room, {"message": "하나"}).status == 201
    assert post(live, alice, room, {"message": "둘"}).status == 201
    rooms = request(live.http, "GET", "/api/v1/rooms", token=bob.token)
    assert rooms.status == 200
    mine = next(r for r in rooms.json["rooms"] if r["name"] == room)
    assert mine["last_id"] == 2 and mine["unread"] == 2 and mine["online"] == 0 and mine["last_activity"].endswith("Z")
    assert rooms.json["rooms"][0]["name"] == room  # most recently active first
    alices = next(
        r for r in request(live.http, "GET", "/api/v1/rooms", token=alice.token).json["rooms"] if r["name"] == room
    )
    assert alices["unread"] == 0  # her own messages

    read = request(live.http, "POST", f"/api/v1/rooms/{room_path(room)}/read", {"up_to": 1}, token=bob.token)
    assert (read.status, read.json) == (200, {"up_to": 1})
    back = request(live.http, "POST", f"/api/v1/rooms/{room_path(room)}/read", {"up_to": 0}, token=bob.token)
    assert back.json == {"up_to": 1}  # never back
    past = request(live.http, "POST", f"/api/v1/rooms/{room_path(room)}/read", {"up_to": 99}, token=bob.token)
    assert past.json == {"up_to": 2}  # clamped to the last id
    bobs = next(
        r for r in request(live.http, "GET", "/api/v1/rooms", token=bob.token).json["rooms"] if r["name"] == room
    )
    assert bobs["unread"] == 0


def test_pages_and_events(live, alice, bob, room):
    ids = [post(live, alice, room, {"message": f"m{n}"}).json["id"] for n in range(5)]
    assert ids == [1, 2, 3, 4, 5]
    base = msgs(room)
    edited = request(live.http, "PATCH", f"{base}/2", {"message": "m1 (fixed)"}, token=alice.token)
    assert edited.status == 200 and edited.json["edited"] is True and edited.json["message"] == "m1 (fixed)"
    assert request(live.http, "DELETE", f"{base}/3", token=alice.token).status == 204
    reacted = request(live.http, "POST", f"{base}/1/reactions", {"emoji": "👍", "op": "add"}, token=bob.token)
    assert reacted.status == 200 and reacted.json["reactions"] == {"👍": [bob.name]}

    newest = request(live.http, "GET", f"{base}?limit=2", token=bob.token).json
    assert [m["id"] for m in newest["messages"]] == [4, 5] and newest["has_more"] is True
    older = request(live.http, "GET", f"{base}?before=4&limit=10", token=bob.token).json
    assert [m["id"] for m in older["messages"]] == [1, 2, 3] and older["has_more"] is False
    assert older["messages"][2]["deleted"] is True and older["messages"][2]["message"] == ""

    events = request(live.http, "GET", f"{base}?after=4&limit=2", token=bob.token).json
    assert [e["id"] for e in events["events"]] == [5, 6] and events["has_more"] is True
    rest = request(live.http, "GET", f"{base}?after=6", token=bob.token).json
    assert [(e["id"], e["type"]) for e in rest["events"]] == [(7, "delete"), (8, "reaction")]
    assert rest["has_more"] is False
    assert rest["events"][0] == {
        "type": "delete",
        "id": 7,
        "room": room,
        "target": 3,
        "by": alice.name,
        "ts": rest["events"][0]["ts"],
    }

    # after and before together: the events between them.
    both = request(live.http, "GET", f"{base}?after=4&before=7", token=bob.token).json
    assert [e["id"] for e in both["events"]] == [5, 6] and both["has_more"] is False
    assert request(live.http, "GET", f"{base}?after=6&before=3", token=bob.token).json["events"] == []
    bad = request(live.http, "GET", f"{base}?limit=zero", token=bob.token)
    assert (bad.status, bad.code) == (400, "invalid_frame")
    missing = request(live.http, "GET", msgs("없는방-" + uuid.uuid4().hex[:6]), token=bob.token)
    assert (missing.status, missing.code) == (404, "not_found")


def test_idempotency(live, alice, bob, room):
    first = post(live, alice, room, {"message": "once", "client_id": "c-1"})
    assert first.status == 201 and first.json["client_id"] == "c-1"
    request(live.http, "POST", f"{msgs(room)}/1/reactions", {"emoji": "🎉", "op": "add"}, token=bob.token)
    again = post(live, alice, room, {"message": "once (retry)", "client_id": "c-1"})
    assert again.status == 200
    assert again.json == {
        **first.json,
        "edited": False,
        "deleted": False,
        "reactions": {"🎉": [bob.name]},
        "replies": 0,
    }

    keyed = post(live, alice, room, {"message": "keyed"}, headers={"Idempotency-Key": "k-1"})
    assert keyed.status == 201 and keyed.json["client_id"] == "k-1"
    assert post(live, alice, room, {"message": "keyed"}, headers={"Idempotency-Key": "k-1"}).status == 200
    same = post(live, alice, room, {"message": "keyed", "client_id": "k-1"}, headers={"Idempotency-Key": "k-1"})
    assert same.status == 200
    # Both given and different: the header is the message's client_id.
    differ = post(live, alice, room, {"message": "x", "client_id": "k-2"}, headers={"Idempotency-Key": "k-3"})
    assert differ.status == 201 and differ.json["client_id"] == "k-3"
    page = request(live.http, "GET", msgs(room), token=alice.token).json["messages"]
    assert [m["client_id"] for m in page] == ["c-1", "k-1", "k-3"]


async def test_client_id_sent_over_the_websocket_is_the_same_message(live, alice, room):
    ws, _, _ = await join(live.ws, room, "?name=sender")
    try:
        await send(ws, {"message": "from ws", "client_id": "ws-1"})
        [frame] = await next_messages(ws, 1)
    finally:
        await ws.close()
    answer = post(live, alice, room, {"message": "from http", "client_id": "ws-1"})
    assert answer.status == 200 and answer.json["id"] == frame["id"] and answer.json["message"] == "from ws"


def test_message_errors(live, alice, bob, room):
    assert post(live, alice, room, {"message": "target"}).status == 201
    cases = [
        ({"message": ""}, 400, "empty_message"),
        ({"message": " \u200b "}, 400, "empty_message"),
        ({"message": "x" * 4001}, 413, "too_large"),
        ({"message": 5}, 400, "invalid_frame"),
        ({}, 400, "invalid_frame"),
        ({"message": "x", "client_id": ""}, 400, "invalid_frame"),
        ({"message": "x", "client_id": "a" * 65}, 400, "invalid_frame"),
        ({"message": "x", "client_id": "a\nb"}, 400, "invalid_frame"),
        ({"message": "x", "reply_to": 0}, 400, "invalid_frame"),
        ({"message": "x", "reply_to": 99}, 404, "not_found"),
        ([1, 2], 400, "invalid_frame"),
    ]
    for body, status, code in cases:
        answer = post(live, alice, room, body)
        assert (answer.status, answer.code) == (status, code), body
    raw = post(live, alice, room, None, raw=b"{nope")
    assert (raw.status, raw.code) == (400, "invalid_json")
    for bad_room in ("a b", "..", "x" * 65, "a%2Fb"):
        answer = request(
            live.http, "POST", f"/api/v1/rooms/{room_path(bad_room)}/messages", {"message": "x"}, token=alice.token
        )
        assert answer.status in (400, 404) and answer.code in ("invalid_room", "not_found"), bad_room
    assert (
        request(
            live.http, "POST", f"/api/v1/rooms/{room_path('a b')}/messages", {"message": "x"}, token=alice.token
        ).code
        == "invalid_room"
    )

    base = msgs(room)
    not_author = request(live.http, "PATCH", f"{base}/1", {"message": "mine now"}, token=bob.token)
    assert (not_author.status, not_author.code) == (403, "forbidden")
    assert request(live.http, "DELETE", f"{base}/1", token=bob.token).code == "forbidden"
    assert request(live.http, "PATCH", f"{base}/42", {"message": "x"}, token=alice.token).code == "not_found"
    assert request(live.http, "PATCH", f"{base}/1", {"message": ""}, token=alice.token).code == "empty_message"
    assert request(live.http, "DELETE", f"{base}/42", token=alice.token).status == 404
    assert request(live.http, "DELETE", f"{base}/abc", token=alice.token).code == "invalid_frame"
    emoji = request(live.http, "POST", f"{base}/1/reactions", {"emoji": "ab", "op": "add"}, token=bob.token)
    assert (emoji.status, emoji.code) == (400, "invalid_frame")
    op = request(live.http, "POST", f"{base}/1/reactions", {"emoji": "👍", "op": "toggle"}, token=bob.token)
    assert (op.status, op.code) == (400, "invalid_frame")
    read = request(live.http, "POST", f"/api/v1/rooms/{room_path(room)}/read", {"up_to": -1}, token=bob.token)
    assert (read.status, read.code) == (400, "invalid_frame")
    nowhere = request(
        live.http, "POST", f"/api/v1/rooms/nowhere-{uuid.uuid4().hex[:6]}/read", {"up_to": 1}, token=bob.token
    )
    assert (nowhere.status, nowhere.code) == (404, "not_found")


def test_repeated_reaction_and_threads(live, alice, bob, room):
    assert post(live, alice, room, {"message": "root"}).json["id"] == 1
    base = msgs(room)
    add = {"emoji": "❤️", "op": "add"}
    assert request(live.http, "POST", f"{base}/1/reactions", add, token=bob.token).json["reactions"] == {
        "❤️": [bob.name]
    }
    repeat = request(live.http, "POST", f"{base}/1/reactions", add, token=bob.token)
    assert repeat.status == 200 and repeat.json["reactions"] == {"❤️": [bob.name]}
    assert request(live.http, "GET", f"{base}?after=0", token=bob.token).json["events"][-1]["id"] == 2  # no new event

    reply = post(live, bob, room, {"message": "a reply", "reply_to": 1})
    assert reply.status == 201 and reply.json["reply_to"] == 1
    thread = request(live.http, "GET", f"{base}/1/thread", token=alice.token)
    assert thread.status == 200 and thread.json["target"] == 1
    assert [(m["id"], m["message"]) for m in thread.json["messages"]] == [(3, "a reply")]
    assert request(live.http, "GET", f"{base}/99/thread", token=alice.token).code == "not_found"


@pytest.fixture(scope="module")
def edit_window(module_farm):
    return module_farm.start(PARLEY_EDIT_WINDOW="1", PARLEY_RATE_PER_SEC="1", PARLEY_RATE_BURST="3")


def test_too_late_and_rate_limited(edit_window, room):
    import time

    user = new_user(edit_window.http)
    first = post(edit_window, user, room, {"message": "soon too late"})
    assert first.status == 201
    time.sleep(1.2)
    late = request(edit_window.http, "PATCH", f"{msgs(room)}/1", {"message": "x"}, token=user.token)
    assert (late.status, late.code) == (403, "too_late")
    statuses = [post(edit_window, user, room, {"message": f"n{n}"}).status for n in range(6)]
    assert 429 in statuses
    limited = post(edit_window, user, room, {"message": "again"})
    assert (limited.status, limited.code) == (429, "rate_limited")
    # Per user: someone else still writes.
    assert post(edit_window, new_user(edit_window.http), room, {"message": "mine"}).status == 201
