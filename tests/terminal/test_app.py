"""The full-screen chat (``parley chat``) under Textual's own harness (``App.run_test`` and its pilot)
against live server processes: open, read history and older pages, send, see another client's
messages, typing and presence, reply, edit, delete, reactions, mentions; and a server killed and
restarted mid-session with nothing lost or doubled."""

from __future__ import annotations

import asyncio
import urllib.parse

import pytest
from textual.geometry import Region
from textual.widget import Widget
from textual.widgets import Input, Static

from terminal.address import Target
from terminal.app import ChatApp, MessageView
from tests.api.client import new_user, request
from tests.tcpproxy import TcpProxy
from tests.terminal.conftest import until
from tests.wsclient import join, messages, recv_until, send

pytestmark = pytest.mark.embedded_only  # starts its own server processes: run once

SIZE = (110, 40)


def path(room: str) -> str:
    return f"/api/v1/rooms/{urllib.parse.quote(room, safe='')}/messages"


def post(base: str, token: str, room: str, text: str, **extra: object) -> dict:
    answer = request(base, "POST", path(room), {"message": text, **extra}, token=token)
    assert answer.status == 201, answer.text
    return answer.json


def server_state(base: str, token: str, room: str) -> dict[int, tuple]:
    """Every message of the room as the server has it now: id -> (sender, text, edited, deleted, reactions)."""
    got: dict[int, tuple] = {}
    before = ""
    while True:
        answer = request(base, "GET", path(room) + f"?limit=100{before}", token=token).json
        for m in answer["messages"]:
            got[m["id"]] = (m["sender"], m["message"], m["edited"], m["deleted"], m["reactions"])
        if not answer["has_more"]:
            return got
        before = f"&before={answer['messages'][0]['id']}"


async def next_from(ws, name: str) -> dict:
    """The next message frame sent by ``name`` (skipping others, such as the client's own echo)."""
    while (frame := (await messages(ws, 1))[0])["sender"] != name:
        pass
    return frame


def app_state(app: ChatApp) -> dict[int, tuple]:
    return {m.id: (m.sender, m.text, m.edited, m.deleted, m.reactions) for m in app.room.ordered()}


def shown(app: ChatApp) -> list[int]:
    return [view.message_id for view in app.query(MessageView)]


def on_screen(widget: Widget) -> str:
    """What the widget shows on the screen now, line by line (its rendered cells as text)."""
    return "\n".join(strip.text.rstrip() for strip in widget.render_lines(Region(0, 0, *widget.size)))


def text_of(app: ChatApp, selector: str) -> str:
    return on_screen(app.query_one(selector, Static))


async def test_open_scroll_back_send_and_see_others(live, room):
    me, other = await asyncio.gather(asyncio.to_thread(new_user, live.http), asyncio.to_thread(new_user, live.http))
    seeded = [await asyncio.to_thread(post, live.http, other.token, room, f"옛날 메시지 {i}") for i in range(110)]
    app = ChatApp(live.http, me.token, Target(room=room), me.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state.kind == "connected", what="connected")
        # the join's history: the newest 50, in order; older ones exist
        await until(pilot, lambda: len(shown(app)) == 50)
        assert shown(app) == [m["id"] for m in seeded[60:]]
        assert app.room.older
        assert "connected" in text_of(app, "#status")
        # scroll back: Page Up until the top asks for the page before
        for _ in range(60):
            if len(shown(app)) == 100:
                break
            await pilot.press("pageup")
            await pilot.pause(0.05)
        await until(pilot, lambda: len(shown(app)) == 100, what="the older page")
        assert shown(app) == [m["id"] for m in seeded[10:]] and app.room.older
        # scrolled to the top by other means than the key (a mouse wheel, the scroll bar): the rest
        log = app.query_one("#log")
        await until(pilot, lambda: log.scroll_y > 0, what="kept in place after the page")
        log.scroll_home(animate=False)
        await until(pilot, lambda: len(shown(app)) == 110, what="the oldest page")
        assert shown(app) == [m["id"] for m in seeded] and not app.room.older

        # another client: presence, typing, a message that mentions me
        ws, _, _ = await join(live.ws, room, additional_headers={"Authorization": f"Bearer {other.token}"})
        await until(pilot, lambda: sorted(app.people) == sorted([me.name, other.name]), what="presence")
        await send(ws, {"type": "typing"})
        await until(pilot, lambda: f"{other.name} is typing" in text_of(app, "#typing"), what="typing")
        await send(ws, {"type": "message", "message": f"@{me.name} 봐 주세요 👀", "client_id": "o1"})
        await until(pilot, lambda: shown(app)[-1] > seeded[-1]["id"], what="the other's message")
        theirs = app.room.ordered()[-1]
        assert theirs.sender == other.name and theirs.mentions == [me.name]
        assert app.query_one(f"#m{theirs.id}", MessageView).has_class("mine-mention")
        await until(pilot, lambda: "typing" not in text_of(app, "#typing"), what="typing cleared by the message")

        # I send (Korean, emoji, code); the other client gets it
        composer = app.query_one("#composer", Input)
        composer.value = "안녕하세요 🎉 `pip install parley`"
        await pilot.press("enter")
        mine = await next_from(ws, me.name)
        assert mine["sender"] == me.name and mine["message"] == "안녕하세요 🎉 `pip install parley`"
        await until(pilot, lambda: mine["id"] in shown(app) and not app.stream.pending, what="my message echoed")

        # reply (Ctrl+R replies to the newest), then edit my last (Up), then a reaction from the other
        await pilot.press("ctrl+r")
        composer.value = "답장"
        await pilot.press("enter")
        reply = await next_from(ws, me.name)
        assert reply["reply_to"] == mine["id"]
        await until(pilot, lambda: reply["id"] in shown(app))
        await pilot.press("up")
        assert app.mode == ("edit", reply["id"]) and composer.value == "답장"
        composer.value = "답장 (고침)"
        await pilot.press("enter")
        edit = await recv_until(ws, "edit")
        assert edit["target"] == reply["id"] and edit["message"] == "답장 (고침)"
        await send(ws, {"type": "reaction", "target": mine["id"], "emoji": "👍", "op": "add"})
        await until(pilot, lambda: app.room.messages[mine["id"]].reactions == {"👍": [other.name]}, what="reaction")
        await until(pilot, lambda: app.room.messages[reply["id"]].edited)
        rendered = on_screen(app.query_one(f"#m{mine['id']}", MessageView))
        assert "👍 1" in rendered and other.name in rendered

        # delete my last message with /delete
        composer.value = "/delete"
        await pilot.press("enter")
        deleted = await recv_until(ws, "delete")
        assert deleted["target"] == reply["id"]
        await until(pilot, lambda: app.room.messages[reply["id"]].deleted)
        assert "(deleted)" in on_screen(app.query_one(f"#m{reply['id']}", MessageView))

        await until(pilot, lambda: app_state(app) == server_state(live.http, me.token, room), what="the server's state")
        assert app.errors == []
        await ws.close()
        # the code span, the Korean and the emoji on screen, in the widget's width
        view = app.query_one(f"#m{mine['id']}", MessageView)
        assert "안녕하세요 🎉 pip install parley" in on_screen(view)


async def test_a_server_killed_and_restarted_mid_session_loses_and_doubles_nothing(module_farm, live, room):
    """The app talks to the server through a proxy; the server is killed (SIGKILL) mid-session, and
    while it is down and after a new one starts, others post, edit and react, and the app's user
    sends a message. The app comes back with every event once, in order, and its message stored once."""
    me, other = await asyncio.gather(asyncio.to_thread(new_user, live.http), asyncio.to_thread(new_user, live.http))
    first = module_farm.start(PARLEY_RATE_PER_SEC="0")
    proxy = TcpProxy("127.0.0.1", first.port).start()
    try:
        for i in range(5):
            await asyncio.to_thread(post, first.http, other.token, room, f"before {i}")
        app = ChatApp(f"http://127.0.0.1:{proxy.port}", me.token, Target(room=room), me.name)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.state.kind == "connected" and len(shown(app)) == 5, what="joined")
            joined_at = app.room.cursor
            assert joined_at is not None
            live_one = await asyncio.to_thread(post, first.http, other.token, room, "live")
            await until(pilot, lambda: live_one["id"] in shown(app))

            first.process.kill()  # no goodbye: the socket just dies
            first.process.wait()
            await until(pilot, lambda: app.state.kind == "reconnecting", what="the drop seen")
            composer = app.query_one("#composer", Input)
            composer.value = "sent while the server was down"
            await pilot.press("enter")
            assert len(app.stream.pending) == 1
            await until(pilot, lambda: "1 unsent" in text_of(app, "#status"))

            second = await asyncio.to_thread(module_farm.start, PARLEY_RATE_PER_SEC="0")
            missed = [await asyncio.to_thread(post, second.http, other.token, room, f"missed {i}") for i in range(3)]
            target = app.room.ordered()[0].id
            edited = request(
                second.http, "PATCH", f"{path(room)}/{live_one['id']}", {"message": "live (edited)"}, token=other.token
            )
            assert edited.status == 200, edited.text
            reacted = request(
                second.http, "POST", f"{path(room)}/{target}/reactions", {"emoji": "🎉", "op": "add"}, token=other.token
            )
            assert reacted.status == 200, reacted.text
            proxy.target = ("127.0.0.1", second.port)

            await until(
                pilot,
                lambda: app.state.kind == "connected" and not app.stream.pending,
                within=30,
                what="back, and the unsent message confirmed",
            )
            after = await asyncio.to_thread(post, second.http, other.token, room, "after")
            await until(pilot, lambda: after["id"] in shown(app))

            state = await asyncio.to_thread(server_state, second.http, me.token, room)
            assert app_state(app) == state
            assert shown(app) == sorted(state)
            assert app.room.applied == list(range(joined_at + 1, after["id"] + 1))  # each event once, in order
            assert [m[1] for m in state.values()].count("sent while the server was down") == 1
            assert all(m["id"] in state for m in missed)
            assert app.room.messages[live_one["id"]].text == "live (edited)"
            assert app.room.messages[target].reactions == {"🎉": [other.name]}
    finally:
        proxy.close()


async def test_messages_refused_for_the_rate_limit_are_sent_again_once_in_order(module_farm, live, room):
    """Typed faster than the server's message rate: the refused ones wait and go again (same
    client_id), each stored once, in the order written; the user sees no error for them."""
    strict = await asyncio.to_thread(module_farm.start, PARLEY_RATE_PER_SEC="4", PARLEY_RATE_BURST="2")
    me = await asyncio.to_thread(new_user, strict.http)
    app = ChatApp(strict.http, me.token, Target(room=room), me.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state.kind == "connected", what="connected")
        composer = app.query_one("#composer", Input)
        for i in range(6):
            composer.value = f"빠르게 {i}"
            await pilot.press("enter")
        await until(pilot, lambda: len(shown(app)) == 6 and not app.stream.pending, what="all six stored")
        assert any(e["code"] == "rate_limited" for e in app.errors)  # the server did refuse some
        state = await asyncio.to_thread(server_state, strict.http, me.token, room)
        assert [m[1] for m in state.values()] == [f"빠르게 {i}" for i in range(6)]
        assert app_state(app) == state


async def test_a_hidden_room_and_a_revoked_token_stop_with_the_reason(live, room):
    """4403 and 4401 say "do not come back": the status line says why, and no reconnect loop runs."""
    me, owner = await asyncio.gather(asyncio.to_thread(new_user, live.http), asyncio.to_thread(new_user, live.http))
    ns = f"closed{room[-8:]}"
    made = await asyncio.to_thread(
        request, live.http, "POST", "/api/v1/ns", {"name": ns, "visibility": "members"}, token=owner.token
    )
    assert made.status == 201, made.text
    app = ChatApp(live.http, me.token, Target(room="lab", namespace=ns), me.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state.kind == "closed", what="refused")
        assert "not allowed" in app.state.detail and "disconnected" in text_of(app, "#status")
        assert [e["code"] for e in app.errors] == ["forbidden"]

    tokens = await asyncio.to_thread(request, live.http, "GET", "/api/v1/tokens", token=me.token)
    revoked = await asyncio.to_thread(
        request, live.http, "DELETE", f"/api/v1/tokens/{tokens.json['tokens'][0]['id']}", token=me.token
    )
    assert revoked.status == 204
    app = ChatApp(live.http, me.token, Target(room=room), me.name)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: app.state.kind == "closed", what="refused")
        assert "parley login" in app.state.detail


async def test_a_room_behind_what_the_client_saw_is_joined_afresh(live, room):
    """A server whose room is behind the client's cursor (as a server started on a new database
    would be): the client does not wait for events it will never get; it joins afresh, shows the
    room as it is, and applies what comes next."""
    me = await asyncio.to_thread(new_user, live.http)
    for i in range(5):
        await asyncio.to_thread(post, live.http, me.token, room, f"old {i}")
    proxy = TcpProxy("127.0.0.1", live.port).start()
    try:
        app = ChatApp(f"http://127.0.0.1:{proxy.port}", me.token, Target(room=room), me.name)
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: app.state.kind == "connected" and len(shown(app)) == 5, what="joined")
            app.stream.cursor = app.room.cursor = 1_000_000  # seen in "another world"
            proxy.cut()
            proxy.restore()
            await until(pilot, lambda: app.room.cursor == 5 and app.state.kind == "connected", what="joined afresh")
            after = await asyncio.to_thread(post, live.http, me.token, room, "next")
            await until(pilot, lambda: after["id"] in shown(app), what="live again")
            assert shown(app) == [1, 2, 3, 4, 5, 6] and app.stream.cursor == 6
    finally:
        proxy.close()
