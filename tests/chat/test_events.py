"""Issue 9 through the whole ASGI stack: edits, deletes, reactions and replies as events with the
room's next id; history in current state, resume as events; read cursors; mentions; threads."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest
from channels.db import database_sync_to_async
from django.contrib.auth import get_user_model

from chat import selectors, services
from chat.models import Room
from tests.chat.test_consumers import guest_session, login
from tests.wsclient import read_history, recv, recv_until, send

pytestmark = pytest.mark.django_db(transaction=True)


def path(room: str, query: str = "") -> str:
    return f"/ws/rooms/{urllib.parse.quote(room)}/{query}"


async def joined(connect, room: str, query: str = "", headers=()):
    comm = await connect(path(room, query), headers=list(headers))
    hello, history, _ = await read_history(comm, paged="after=" in query)
    await recv_until(comm, "presence")
    return comm, hello, history


async def next_event(comm, kinds=("message", "edit", "delete", "reaction")) -> dict:
    while True:
        frame = await recv(comm)
        assert frame["type"] != "error", frame
        if frame["type"] in kinds:
            return frame


async def error(comm) -> dict:
    return await recv_until(comm, "error")


async def quiet(comm) -> list[dict]:
    """Everything that arrives before a pong: what a frame made (or did not make)."""
    await send(comm, {"type": "ping"})
    got = []
    while (frame := await recv(comm))["type"] != "pong":
        got.append(frame)
    return [f for f in got if f["type"] not in ("presence", "typing")]


async def post(comm, text: str, **extra) -> dict:
    await send(comm, {"type": "message", "message": text, **extra})
    return await next_event(comm, ("message",))


# --- Events share one sequence --------------------------------------------------------------------


async def test_edit_delete_reaction_take_the_next_ids_and_reach_everyone(connect, room):
    kim, _, _ = await joined(connect, room, headers=[await guest_session("kim")])
    lee, _, _ = await joined(connect, room, "?name=lee")
    m1 = await post(kim, "hello")
    assert m1["reply_to"] is None and m1["mentions"] == []
    await send(kim, {"type": "edit", "target": m1["id"], "message": "hello, world"})
    edit = await next_event(kim)
    assert {k: edit[k] for k in ("type", "id", "room", "target", "message", "sender")} == {
        "type": "edit",
        "id": 2,
        "room": room,
        "target": 1,
        "message": "hello, world",
        "sender": "kim",
    }
    await send(lee, {"type": "reaction", "target": 1, "emoji": "👍", "op": "add"})
    reaction = await next_event(kim)
    assert (reaction["type"], reaction["id"], reaction["emoji"], reaction["sender"], reaction["op"]) == (
        "reaction",
        3,
        "👍",
        "lee",
        "add",
    )
    await send(kim, {"type": "delete", "target": 1})
    delete = await next_event(kim)
    assert (delete["type"], delete["id"], delete["target"], delete["by"]) == ("delete", 4, 1, "kim")
    # lee saw the same four events, in the same order, with the same frames.
    seen = [await next_event(lee) for _ in range(4)]
    assert seen == [m1, edit, reaction, delete]


async def test_history_is_the_current_state_and_a_resume_the_events(connect, room):
    kim, _, _ = await joined(connect, room, headers=[await guest_session("kim")])
    m1 = await post(kim, "one")
    m2 = await post(kim, "two", reply_to=m1["id"])
    assert m2["reply_to"] == 1
    await send(kim, {"type": "edit", "target": 2, "message": "two!"})
    await send(kim, {"type": "reaction", "target": 1, "emoji": "🎉", "op": "add"})
    await send(kim, {"type": "delete", "target": 1})
    live = [m1, m2] + [await next_event(kim) for _ in range(3)]
    assert [f["id"] for f in live] == [1, 2, 3, 4, 5]

    _, hello, history = await joined(connect, room, "?name=fresh")
    assert hello["last_id"] == 5
    first, second = history
    assert (first["id"], first["message"], first["deleted"], first["reactions"], first["replies"]) == (
        1,
        "",
        True,
        {},
        1,
    )
    assert (second["id"], second["message"], second["edited"], second["reply_to"]) == (2, "two!", True, 1)

    _, _, resumed = await joined(connect, room, "?after=1&name=back")
    assert resumed == live[1:]  # exactly the events after 1, in their live shape


async def test_history_pages_count_messages_not_events(connect, room):
    kim, _, _ = await joined(connect, room, headers=[await guest_session("kim")])
    for i in range(3):
        m = await post(kim, f"m{i}")
        await send(kim, {"type": "reaction", "target": m["id"], "emoji": "👍", "op": "add"})
        await next_event(kim)
    await send(kim, {"type": "history", "limit": 2})
    page = await recv_until(kim, "history")
    assert [m["id"] for m in page["messages"]] == [3, 5] and page["has_more"]
    assert all(m["reactions"] == {"👍": ["kim"]} for m in page["messages"])


async def test_the_seed_and_tutorial_doors_get_only_messages(connect, room):
    kim, _, _ = await joined(connect, room, headers=[await guest_session("kim")])
    seed = await connect(f"/chat/{urllib.parse.quote(room)}")
    tutorial = await connect(f"/ws/chat/{urllib.parse.quote(room)}/")
    m1 = await post(kim, "one")
    await send(kim, {"type": "edit", "target": 1, "message": "uno"})
    await send(kim, {"type": "reaction", "target": 1, "emoji": "👍", "op": "add"})
    await send(kim, {"type": "delete", "target": 1})
    for _ in range(3):
        await next_event(kim)
    m5 = await post(kim, "five")
    # Text only: the native frame without its html and attachments (the doors are as they were).
    bare = [{k: v for k, v in m.items() if k not in ("html", "attachments", "bot")} for m in (m1, m5)]
    assert m1["html"] == "<p>one</p>\n" and m1["attachments"] == []
    for door in (seed, tutorial):
        assert [await recv(door), await recv(door)] == bare


# --- Who may change what --------------------------------------------------------------------------


async def test_only_the_author_edits_and_deletes_and_refusals_take_no_id(connect, room):
    kim, _, _ = await joined(connect, room, headers=[await guest_session("kim")])
    other, _, _ = await joined(connect, room, headers=[await guest_session("lee")])
    sessionless, _, _ = await joined(connect, room, "?name=kim")  # same name, no session
    await post(kim, "mine")
    for comm in (other, sessionless):
        await send(comm, {"type": "edit", "target": 1, "message": "theirs"})
        assert (await error(comm))["code"] == "forbidden"
        await send(comm, {"type": "delete", "target": 1})
        assert (await error(comm))["code"] == "forbidden"
    # A guest without a session cannot edit even what it sent.
    mine = await post(sessionless, "sessionless")
    await send(sessionless, {"type": "edit", "target": mine["id"], "message": "changed"})
    assert (await error(sessionless))["code"] == "forbidden"
    assert await next_event(kim) == mine  # nothing between 1 and 2: the refusals took no id
    assert mine["id"] == 2


async def test_a_logged_in_author_edits_from_another_connection_and_staff_delete_anything(connect, room):
    cookie = await login("author")
    first, _, _ = await joined(connect, room, headers=[cookie])
    second, _, _ = await joined(connect, room, headers=[cookie])
    await post(first, "typo")
    await send(second, {"type": "edit", "target": 1, "message": "fixed"})
    assert (await next_event(second, ("edit",)))["message"] == "fixed"

    mod, _, _ = await joined(connect, room, headers=[await login("mod", staff=True)])
    await send(mod, {"type": "delete", "target": 1})
    delete = await next_event(mod, ("delete",))
    assert delete["by"] == "mod" and delete["target"] == 1
    await send(mod, {"type": "edit", "target": 1, "message": "no"})
    assert (await error(mod))["code"] == "not_found"  # deleted: nothing more to do with it


async def test_not_found_and_too_late(connect, room, settings):
    session = await guest_session("kim")
    kim, _, _ = await joined(connect, room, headers=[session])
    for frame in (
        {"type": "edit", "target": 99, "message": "x"},
        {"type": "delete", "target": 99},
        {"type": "reaction", "target": 99, "emoji": "👍", "op": "add"},
        {"type": "message", "message": "reply", "reply_to": 99},
        {"type": "thread", "target": 99},
    ):
        await send(kim, frame)
        assert (await error(kim))["code"] == "not_found"
    await post(kim, "old news")
    await send(kim, {"type": "delete", "target": 1})
    await next_event(kim)
    await send(kim, {"type": "delete", "target": 1})
    assert (await error(kim))["code"] == "not_found"  # already deleted
    await send(kim, {"type": "message", "message": "reply", "reply_to": 1})
    assert (await error(kim))["code"] == "not_found"  # a deleted message takes no replies
    await post(kim, "fresh")
    # The edit window is the namespace's policy, resolved when a connection joins.
    settings.PARLEY_EDIT_WINDOW = 0.05
    kim, _, _ = await joined(connect, room, headers=[session])
    await asyncio.sleep(0.1)
    await send(kim, {"type": "edit", "target": 3, "message": "later"})
    assert (await error(kim))["code"] == "too_late"
    settings.PARLEY_EDIT_WINDOW = 0  # no limit
    kim, _, _ = await joined(connect, room, headers=[session])
    await send(kim, {"type": "edit", "target": 3, "message": "later"})
    assert (await next_event(kim))["type"] == "edit"
    await send(kim, {"type": "edit", "target": 3, "message": "   "})
    assert (await error(kim))["code"] == "empty_message"


# --- Reactions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("emoji", ["👍🏽", "🇰🇷", "1️⃣", "👨‍👩‍👧", "❤️"])
async def test_one_emoji_of_any_shape_is_a_reaction(connect, room, emoji):
    kim, _, _ = await joined(connect, room, "?name=kim")
    await post(kim, "x")
    await send(kim, {"type": "reaction", "target": 1, "emoji": emoji, "op": "add"})
    assert (await next_event(kim))["emoji"] == emoji


@pytest.mark.parametrize("emoji", ["a", "👍👍", "", "👍 ", 7, None, "👍\x00"])
async def test_anything_but_one_emoji_is_an_invalid_frame(connect, room, emoji):
    kim, _, _ = await joined(connect, room, "?name=kim")
    await post(kim, "x")
    await send(kim, {"type": "reaction", "target": 1, "emoji": emoji, "op": "add"})
    assert (await error(kim))["code"] == "invalid_frame"
    await send(kim, {"type": "reaction", "target": 1, "emoji": "👍", "op": "toggle"})
    assert (await error(kim))["code"] == "invalid_frame"


async def test_a_repeated_reaction_changes_nothing_and_sends_nothing(connect, room):
    kim, _, _ = await joined(connect, room, "?name=kim")
    lee, _, _ = await joined(connect, room, "?name=lee")
    await post(kim, "x")
    await send(kim, {"type": "reaction", "target": 1, "emoji": "👍", "op": "add"})
    await send(lee, {"type": "reaction", "target": 1, "emoji": "👍", "op": "add"})
    assert [(await next_event(kim))["sender"] for _ in range(2)] == ["kim", "lee"]
    await send(kim, {"type": "reaction", "target": 1, "emoji": "👍", "op": "add"})  # again
    await send(kim, {"type": "reaction", "target": 1, "emoji": "🎉", "op": "remove"})  # never added
    assert await quiet(kim) == []
    await send(kim, {"type": "reaction", "target": 1, "emoji": "👍", "op": "remove"})
    removal = await next_event(kim)
    assert (removal["id"], removal["op"]) == (4, "remove")  # no id was used by the no-ops
    _, _, history = await joined(connect, room, "?name=fresh")
    assert history[0]["reactions"] == {"👍": ["lee"]}


# --- Replies and threads --------------------------------------------------------------------------


async def test_replies_are_counted_and_a_thread_lists_them(connect, room):
    kim, _, _ = await joined(connect, room, "?name=kim")
    await post(kim, "question")
    await post(kim, "answer 1", reply_to=1)
    await post(kim, "unrelated")
    await post(kim, "answer 2", reply_to=1)
    await send(kim, {"type": "thread", "target": 1})
    thread = await recv_until(kim, "thread")
    assert thread["target"] == 1 and [m["message"] for m in thread["messages"]] == ["answer 1", "answer 2"]
    assert all(m["reply_to"] == 1 and "reactions" in m for m in thread["messages"])
    _, _, history = await joined(connect, room, "?name=fresh")
    assert [m["replies"] for m in history] == [2, 0, 0, 0]


# --- Read cursors and unread ----------------------------------------------------------------------


async def test_a_read_cursor_moves_forward_and_reaches_the_users_other_connections(connect, room):
    cookie = await login("reader")
    here, hello, _ = await joined(connect, room, headers=[cookie])
    assert hello["read_up_to"] == 0
    there, _, _ = await joined(connect, room, headers=[cookie])
    elsewhere, _, _ = await joined(connect, room + "-2", headers=[cookie])
    lee, _, _ = await joined(connect, room, "?name=lee")
    for i in range(3):
        await post(lee, f"m{i}")
    await send(here, {"type": "read", "up_to": 2})
    assert await recv_until(there, "read") == {"type": "read", "room": room, "up_to": 2}
    await send(here, {"type": "read", "up_to": 1})  # never back
    await send(here, {"type": "read", "up_to": 99})  # never past the last id
    assert await recv_until(there, "read") == {"type": "read", "room": room, "up_to": 3}
    assert [f for f in await quiet(here) if f["type"] == "read"] == []  # not to the one that read
    assert [f for f in await quiet(elsewhere) if f["type"] == "read"] == []  # nor to other rooms
    _, hello, _ = await joined(connect, room, headers=[cookie])
    assert hello["read_up_to"] == 3
    _, guest_hello, _ = await joined(connect, room, "?name=guest")
    assert guest_hello["read_up_to"] is None
    guest = await connect(path(room, "?name=guest2"))
    await read_history(guest)
    await send(guest, {"type": "read", "up_to": 1})
    assert (await error(guest))["code"] == "forbidden"


async def test_unread_counts_others_messages_not_deleted_after_the_cursor(room):
    @database_sync_to_async
    def run():
        user = get_user_model().objects.create_user("u", password="a-Long-pass-123")
        r = services.room_get_or_create(address=room)
        services.apply_changes(
            [
                services.Post(room=r, sender="u", body="mine", user_id=user.pk),
                services.Post(room=r, sender="x", body="a"),
                services.Post(room=r, sender="x", body="b"),
                services.Post(room=r, sender="x", body="c"),
                services.Delete(room=r, target=3, by="staff", moderator=True),
            ]
        )
        before = selectors.unread_count(user_id=user.pk, room_id=r.pk)
        services.read_cursor_move(user_id=user.pk, room_id=r.pk, up_to=2)
        after = selectors.unread_count(user_id=user.pk, room_id=r.pk)
        return before, after, Room.objects.get(pk=r.pk).last_id

    assert await run() == (2, 1, 5)


# --- Mentions -------------------------------------------------------------------------------------


async def test_mentions_of_present_and_registered_names_and_the_mention_frame(connect, room):
    cookie = await login("Minjun")
    minjun_elsewhere, _, _ = await joined(connect, room + "-other", headers=[cookie])
    lee, _, _ = await joined(connect, room, "?name=lee")
    kim, _, _ = await joined(connect, room, "?name=kim")
    m = await post(kim, "hi @lee and @minjun, not @nobody. @kim!")
    assert m["mentions"] == ["lee", "minjun", "kim"]
    mention = await recv_until(minjun_elsewhere, "mention")
    url = f"/rooms/{urllib.parse.quote(room)}/#m{m['id']}"
    assert mention == {
        "type": "mention",
        "room": room,
        "id": m["id"],
        "sender": "kim",
        "message": m["message"],
        "url": url,
        "notify": True,
    }
    plain = await post(kim, "email me at a@b.example")
    assert plain["mentions"] == []
    assert [f for f in await quiet(lee) if f["type"] == "mention"] == []  # guests get no mention frames
