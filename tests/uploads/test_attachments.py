"""Attachments through every door: the native WebSocket door (``public`` and a namespace's), the
API's post and edit; every message object carries the upload objects (live frame, history page,
resume with ?after=, the API's messages and events, a thread); the refusals (someone else's upload,
another room's, one already used, too many, repeats); an edit that changes them."""

from __future__ import annotations

import uuid

from tests.uploads.kit import (
    call,
    messages_path,
    next_of,
    noise,
    png,
    q,
    room_door,
    up,
    ws_join,
)
from tests.wsclient import send


def post(live, who, room, body, *, ns=None, dm=None):
    return call(live.http, "POST", messages_path(room, ns=ns, dm=dm), token=who.token, json_body=body)


def edit(live, who, room, target, body):
    return call(live.http, "PATCH", f"{messages_path(room)}/{target}", token=who.token, json_body=body)


async def test_the_native_door_sends_and_delivers_attachments(live, accounts, room):
    alice = accounts.new()
    image, text = up(live, alice, room, name="a.png", data=png()), up(live, alice, room)
    sender, _, _ = await ws_join(live.ws, room_door(room), alice.token)
    reader, _, _ = await ws_join(live.ws, room_door(room), query="?name=guest-reader")  # a guest reads them too
    await send(sender, {"message": "see **these**", "attachments": [text["id"], image["id"]], "client_id": "c1"})
    for ws in (sender, reader):
        frame = await next_of(ws, "message")
        assert frame["attachments"] == [text, image]  # the upload objects, in the order given
        assert frame["message"] == "see **these**" and "<strong>these</strong>" in frame["html"]
        assert list(frame)[-3:] == ["html", "attachments", "bot"]
    # Attachments alone: the text left out, or empty.
    alone = up(live, alice, room)
    empty = up(live, alice, room)
    await send(sender, {"attachments": [alone["id"]]})
    await send(sender, {"message": "", "attachments": [empty["id"]]})
    for ws in (sender, reader):
        first, second = await next_of(ws, "message"), await next_of(ws, "message")
        assert (first["message"], first["html"], first["attachments"]) == ("", "", [alone])
        assert (second["message"], second["html"], second["attachments"]) == ("", "", [empty])
    # Without attachments an empty message is still refused; a message without files has [].
    await send(sender, {"message": ""})
    assert (await next_of(sender, "error"))["code"] == "empty_message"
    await send(sender, {"message": "plain"})
    assert (await next_of(reader, "message"))["attachments"] == []
    await sender.close()
    await reader.close()


async def test_a_namespaces_door_takes_attachments(live, accounts):
    alice = accounts.new()
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(live.http, "POST", "/api/v1/ns", token=alice.token, json_body={"name": ns}).status == 201
    made = up(live, alice, "lobby", ns=ns, name="p.png", data=png(10, 10))
    ws, _, _ = await ws_join(live.ws, room_door("lobby", ns), alice.token)
    await send(ws, {"message": "in ns", "attachments": [made["id"]]})
    assert (await next_of(ws, "message"))["attachments"] == [made]
    listed = call(live.http, "GET", messages_path("lobby", ns=ns), token=alice.token).json["messages"]
    assert listed[-1]["attachments"] == [made]
    await ws.close()


async def test_every_message_object_carries_its_attachments(live, accounts, room):
    """The API's answer, a live frame, a new join's history, a resume, the API's messages and
    events, and a thread (API and WebSocket)."""
    alice, bob = accounts.new(), accounts.new()
    reader, _, _ = await ws_join(live.ws, room_door(room), bob.token)
    first = up(live, alice, room, name="first.png", data=png(30, 30))
    posted = post(live, alice, room, {"message": "parent", "attachments": [first["id"]]})
    assert posted.status == 201, posted.body
    assert posted.json["attachments"] == [first]
    parent = posted.json["id"]
    reply_file = up(live, alice, room)
    reply = post(live, alice, room, {"message": "reply", "reply_to": parent, "attachments": [reply_file["id"]]})
    assert reply.status == 201 and reply.json["attachments"] == [reply_file]
    live_frames = [await next_of(reader, "message"), await next_of(reader, "message")]
    assert [f["attachments"] for f in live_frames] == [[first], [reply_file]]
    await reader.close()

    fresh, _, history = await ws_join(live.ws, room_door(room), bob.token)
    assert [m["attachments"] for m in history] == [[first], [reply_file]]
    await send(fresh, {"type": "thread", "target": parent})
    thread = await next_of(fresh, "thread")
    assert [m["attachments"] for m in thread["messages"]] == [[reply_file]]
    await fresh.close()

    resumed, _, events = await ws_join(live.ws, room_door(room), bob.token, query=f"?after={parent - 1}")
    assert [e["attachments"] for e in events] == [[first], [reply_file]]
    await resumed.close()

    page = call(live.http, "GET", messages_path(room), token=bob.token).json["messages"]
    assert [m["attachments"] for m in page] == [[first], [reply_file]]
    after = call(live.http, "GET", messages_path(room) + "?after=0", token=bob.token).json["events"]
    assert [e["attachments"] for e in after] == [[first], [reply_file]]
    thread = call(live.http, "GET", f"{messages_path(room)}/{parent}/thread", token=bob.token).json
    assert [m["attachments"] for m in thread["messages"]] == [[reply_file]]


def test_a_direct_message_carries_attachments(live, accounts):
    alice, bob = accounts.new(), accounts.new()
    made = up(live, alice, dm=bob.name, name="for-bob.png", data=png(12, 12))
    posted = post(live, alice, None, {"message": "for you", "attachments": [made["id"]]}, dm=bob.name)
    assert posted.status == 201, posted.body
    theirs = call(live.http, "GET", messages_path(dm=alice.name), token=bob.token).json["messages"]
    assert theirs[-1]["attachments"] == [made]
    assert call(live.http, "GET", made["url"], token=bob.token).status == 200


async def test_refusals_on_the_websocket_door(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    mine = [up(live, alice, room) for _ in range(11)]
    theirs = up(live, bob, room)
    elsewhere = up(live, alice, room + "-other")
    ws, _, _ = await ws_join(live.ws, room_door(room), alice.token)
    cases = [
        ([theirs["id"]], "not_found"),  # someone else's upload
        ([elsewhere["id"]], "not_found"),  # another room's
        ([2**40], "not_found"),  # none at all
        ([m["id"] for m in mine], "invalid_frame"),  # 11
        ([mine[0]["id"], mine[0]["id"]], "invalid_frame"),  # the same twice
        (["1"], "invalid_frame"),
        (mine[0]["id"], "invalid_frame"),  # not a list
    ]
    for n, (ids, code) in enumerate(cases):
        await send(ws, {"message": "x", "attachments": ids, "client_id": f"bad-{n}"})
        error = await next_of(ws, "error")
        assert error["code"] == code, (ids, error)
        if code != "invalid_frame":  # a frame that cannot be read has no client_id to name
            assert error["client_id"] == f"bad-{n}"
    await send(ws, {"message": "ten", "attachments": [m["id"] for m in mine[:10]]})
    assert len((await next_of(ws, "message"))["attachments"]) == 10
    await send(ws, {"message": "again", "attachments": [mine[0]["id"]], "client_id": "used"})
    error = await next_of(ws, "error")
    assert (error["code"], error["client_id"]) == ("conflict", "used")
    await ws.close()


def test_refusals_on_the_api(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    mine = [up(live, alice, room) for _ in range(11)]
    theirs = up(live, bob, room)
    elsewhere = up(live, alice, room + "-other")
    for ids, status, code in [
        ([theirs["id"]], 404, "not_found"),
        ([elsewhere["id"]], 404, "not_found"),
        ([m["id"] for m in mine], 400, "invalid_frame"),
        ([mine[0]["id"], mine[0]["id"]], 400, "invalid_frame"),
    ]:
        answer = post(live, alice, room, {"message": "x", "attachments": ids})
        assert (answer.status, answer.code) == (status, code), (ids, answer.body)
    assert post(live, alice, room, {"attachments": []}).status == 400  # neither text nor files
    used = post(live, alice, room, {"message": "one", "attachments": [mine[0]["id"]]})
    assert used.status == 201
    again = post(live, alice, room, {"message": "two", "attachments": [mine[0]["id"]]})
    assert (again.status, again.code) == (409, "conflict")
    # Bob cannot take Alice's upload by editing his message either.
    his = post(live, bob, room, {"message": "bob's"}).json["id"]
    answer = edit(live, bob, room, his, {"message": "bob's", "attachments": [mine[1]["id"]]})
    assert (answer.status, answer.code) == (404, "not_found")


async def test_an_edit_changes_the_attachments(live, accounts, room):
    alice, bob = accounts.new(), accounts.new()
    a, b, c = (up(live, alice, room, name=f"{n}.bin", data=noise(100)) for n in "abc")
    reader, _, _ = await ws_join(live.ws, room_door(room), bob.token)
    posted = post(live, alice, room, {"message": "two files", "attachments": [a["id"], b["id"]]}).json
    await next_of(reader, "message")
    assert call(live.http, "GET", a["url"], token=bob.token).status == 200

    changed = edit(live, alice, room, posted["id"], {"message": "now b and c", "attachments": [b["id"], c["id"]]})
    assert changed.status == 200, changed.body
    assert changed.json["attachments"] == [b, c]
    frame = await next_of(reader, "edit")
    assert (frame["target"], frame["attachments"]) == (posted["id"], [b, c])
    # The dropped file is unused again: its uploader's alone.
    assert call(live.http, "GET", a["url"], token=bob.token).status == 404
    assert call(live.http, "GET", a["url"], token=alice.token).status == 200
    assert call(live.http, "GET", c["url"], token=bob.token).status == 200
    # An edit without "attachments" keeps them; the text may go when files remain.
    kept = edit(live, alice, room, posted["id"], {"message": "text only changed"})
    assert kept.json["attachments"] == [b, c]
    no_text = edit(live, alice, room, posted["id"], {"message": "", "attachments": [b["id"]]})
    assert no_text.status == 200 and no_text.json["message"] == "" and no_text.json["attachments"] == [b]
    # Neither text nor files: refused.
    empty = edit(live, alice, room, posted["id"], {"message": "", "attachments": []})
    assert (empty.status, empty.code) == (400, "empty_message")
    assert [(await next_of(reader, "edit"))["attachments"] for _ in range(2)] == [[b, c], [b]]
    # The dropped one may be attached to a new message (by the WebSocket door's edit too).
    sender, _, _ = await ws_join(live.ws, room_door(room), alice.token)
    other = post(live, alice, room, {"message": "another"}).json
    await send(sender, {"type": "edit", "target": other["id"], "message": "with a", "attachments": [a["id"]]})
    frame = await next_of(reader, "edit")
    assert frame["attachments"] == [a]
    assert call(live.http, "GET", a["url"], token=bob.token).status == 200
    await send(sender, {"type": "edit", "target": other["id"], "message": "steal b", "attachments": [b["id"]]})
    assert (await next_of(sender, "error"))["code"] == "conflict"
    await sender.close()
    await reader.close()


def test_a_room_name_in_the_path_is_percent_encoded(live, accounts):
    alice = accounts.new()
    room = f"자유게시판-{uuid.uuid4().hex[:6]}"
    made = up(live, alice, room)
    posted = call(
        live.http,
        "POST",
        f"/api/v1/rooms/{q(room)}/messages",
        token=alice.token,
        json_body={"attachments": [made["id"]]},
    )
    assert posted.status == 201 and posted.json["room"] == room
