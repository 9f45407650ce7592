"""Files leave the storage with what used them: a deleted message (by its author or a moderator),
messages past their namespace's retention (``manage.py prune_messages``), and uploads no message
used within PARLEY_UPLOAD_UNUSED_HOURS (``manage.py prune_uploads``; used ones stay)."""

from __future__ import annotations

import uuid

from tests.uploads.kit import (
    Db,
    assert_hidden,
    attach,
    call,
    manage,
    messages_path,
    next_of,
    png,
    q,
    room_door,
    text_bytes,
    up,
    wait_until,
    ws_join,
)
from tests.wsclient import send


def picture(live, who, room=None, *, ns=None) -> dict:
    return up(live, who, room, ns=ns, name="p.png", data=png())


def gone(paths) -> bool:
    return not any(p.exists() for p in paths)


def test_deleting_a_message_removes_its_files(live, accounts, media_farm, room):
    alice = accounts.new()
    db = Db(media_farm)
    image, text = picture(live, alice, room), up(live, alice, room, name="t.txt", data=text_bytes())
    keep = picture(live, alice, room)
    message = attach(live, alice, [image["id"], text["id"]], room)
    attach(live, alice, [keep["id"]], room)
    files = db.paths(media_farm.media, image["id"]) + db.paths(media_farm.media, text["id"])
    kept = db.paths(media_farm.media, keep["id"])
    assert len(files) == 3 and all(p.is_file() for p in files)  # an image, its thumbnail, a text
    assert call(live.http, "DELETE", f"{messages_path(room)}/{message}", token=alice.token).status == 204
    wait_until(lambda: gone(files), what="the deleted message's files removed")
    shown = call(live.http, "GET", messages_path(room), token=alice.token).json["messages"]
    deleted = next(m for m in shown if m["id"] == message)
    assert (deleted["deleted"], deleted["message"], deleted["html"], deleted["attachments"]) == (True, "", "", [])
    assert not {image["id"], text["id"]} & db.upload_ids()
    assert all(p.is_file() for p in kept) and keep["id"] in db.upload_ids()
    assert call(live.http, "GET", keep["url"], token=alice.token).status == 200


async def test_a_moderators_delete_removes_the_files(live, accounts, media_farm):
    owner, member = accounts.new(), accounts.new()
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(live.http, "POST", "/api/v1/ns", token=owner.token, json_body={"name": ns}).status == 201
    body = {"username": member.name, "role": "member"}
    assert call(live.http, "POST", f"/api/v1/ns/{q(ns)}/members", token=owner.token, json_body=body).status == 201
    made = picture(live, member, "lobby", ns=ns)
    message = attach(live, member, [made["id"]], "lobby", ns=ns)
    files = Db(media_farm).paths(media_farm.media, made["id"])
    moderator, _, _ = await ws_join(live.ws, room_door("lobby", ns), owner.token)
    await send(moderator, {"type": "delete", "target": message})
    frame = await next_of(moderator, "delete")
    assert frame["target"] == message
    await moderator.close()
    wait_until(lambda: gone(files), what="files of a message a moderator deleted")
    assert call(live.http, "GET", made["url"], token=member.token).status == 404


def test_retention_removes_old_messages_files(live, accounts, media_farm):
    owner = accounts.new()
    db = Db(media_farm)
    ns = f"ns-{uuid.uuid4().hex[:8]}"
    assert call(live.http, "POST", "/api/v1/ns", token=owner.token, json_body={"name": ns}).status == 201
    patched = call(live.http, "PATCH", f"/api/v1/ns/{q(ns)}", token=owner.token, json_body={"retention_days": 1})
    assert patched.status == 200 and patched.json["retention_days"] == 1
    old, new = picture(live, owner, "old", ns=ns), picture(live, owner, "new", ns=ns)
    attach(live, owner, [old["id"]], "old", ns=ns)
    attach(live, owner, [new["id"]], "new", ns=ns)
    old_files, new_files = db.paths(media_farm.media, old["id"]), db.paths(media_farm.media, new["id"])
    db.age_messages(f"{ns}/old", hours=49)
    out = manage(media_farm, "prune_messages")
    assert f"{ns}: 1 messages removed" in out
    assert gone(old_files)  # the command waits for its removals
    assert all(p.is_file() for p in new_files)
    assert_hidden(live, old["url"], token=owner.token)
    assert_hidden(live, old["thumbnail_url"])
    assert call(live.http, "GET", new["url"], token=owner.token).status == 200


def test_prune_uploads_removes_unused_ones_and_keeps_used_ones(live, accounts, media_farm, room):
    """With PARLEY_UPLOAD_UNUSED_HOURS=2: an upload unused for 3 hours goes (row, file, thumbnail);
    one used, one unused for an hour and a new one stay."""
    alice = accounts.new()
    db = Db(media_farm)
    unused, used, recent, fresh = (picture(live, alice, room) for _ in range(4))
    attach(live, alice, [used["id"]], room)
    paths = {u["id"]: db.paths(media_farm.media, u["id"]) for u in (unused, used, recent, fresh)}
    db.age_uploads([unused["id"], used["id"]], hours=3)
    db.age_uploads([recent["id"]], hours=1)
    out = manage(media_farm, "prune_uploads", PARLEY_UPLOAD_UNUSED_HOURS="2")
    assert "unused uploads removed" in out
    assert gone(paths[unused["id"]]) and unused["id"] not in db.upload_ids()  # the command waits for removals
    assert_hidden(live, unused["url"], token=alice.token)
    for kept in (used, recent, fresh):
        assert all(p.is_file() for p in paths[kept["id"]])
        assert call(live.http, "GET", kept["url"], token=alice.token).status == 200


async def test_an_upload_an_edit_dropped_is_pruned_as_unused(live, accounts, media_farm, room):
    alice, bob = accounts.new(), accounts.new()
    db = Db(media_farm)
    a, b = picture(live, alice, room), picture(live, alice, room)
    message = attach(live, alice, [a["id"], b["id"]], room)
    db.age_uploads([a["id"], b["id"]], hours=25)
    dropped = call(
        live.http, "PATCH", f"{messages_path(room)}/{message}", token=alice.token, json_body={"attachments": [b["id"]]}
    )
    assert dropped.status == 200, dropped.body
    assert call(live.http, "GET", a["url"], token=bob.token).status == 404
    assert call(live.http, "GET", a["url"], token=alice.token).status == 200
    # Unused for less than PARLEY_UPLOAD_UNUSED_HOURS (since the edit): kept.
    manage(media_farm, "prune_uploads")
    assert a["id"] in db.upload_ids()
    db.age_uploads([a["id"]], hours=25)
    manage(media_farm, "prune_uploads")
    assert a["id"] not in db.upload_ids() and b["id"] in db.upload_ids()
    assert call(live.http, "GET", b["url"], token=bob.token).status == 200


_SUPERUSER = """
from django.contrib.auth import get_user_model
get_user_model().objects.create_superuser({name!r}, password={password!r})
"""


def test_the_admins_deletes_of_a_room_and_a_user_remove_their_files(live, accounts, media_farm, room):
    """Rows deleted by cascade, not by Parley's own paths, take their files too."""
    from tests.api.client import PASSWORD, Browser

    alice, bob = accounts.new(), accounts.new()
    db = Db(media_farm)
    in_room = picture(live, alice, room)
    attach(live, alice, [in_room["id"]], room)
    unused_in_room = picture(live, alice, room)
    bobs = [picture(live, bob, room + "-b"), picture(live, bob, room + "-b")]
    attach(live, bob, [bobs[0]["id"]], room + "-b")
    room_files = db.paths(media_farm.media, in_room["id"]) + db.paths(media_farm.media, unused_in_room["id"])
    bob_files = [p for made in bobs for p in db.paths(media_farm.media, made["id"])]

    admin = f"admin{uuid.uuid4().hex[:8]}"
    manage(media_farm, "shell", "-c", _SUPERUSER.format(name=admin, password=PASSWORD))
    browser = Browser(live.http)
    assert browser.post_form("/admin/login/", {"username": admin, "password": PASSWORD}).status == 302
    (room_id,) = db.run("SELECT id FROM chat_room WHERE address = %s", (room,))[0]
    (bob_id,) = db.run("SELECT id FROM auth_user WHERE username = %s", (bob.name,))[0]
    for path in (f"/admin/chat/room/{room_id}/delete/", f"/admin/auth/user/{bob_id}/delete/"):
        assert browser.post_form(path, {"post": "yes"}).status == 302, path
    wait_until(lambda: gone(room_files) and gone(bob_files), what="files of the deleted room and user removed")
    assert not {in_room["id"], unused_in_room["id"], *(b["id"] for b in bobs)} & db.upload_ids()
