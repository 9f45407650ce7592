"""One connection cannot hurt the others, and nothing leaves a ghost: frame budgets, the read path,
failures injected at each step of join, send, history and leave (through the whole ASGI stack)."""

from __future__ import annotations

import asyncio
import threading
import urllib.parse

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError

from chat import actions, identity, protocol, selectors, services
from chat.fanout import broadcast
from parley.asgi import application
from tests.chat.test_consumers import TIMEOUT, assert_usable, closed_with, store
from tests.wsclient import recv, recv_until, send

pytestmark = pytest.mark.django_db(transaction=True)


def members(room: str) -> list[str]:
    state = broadcast.get_hub().rooms.get(protocol.room_key(room))
    return sorted(m.name for m in state.members) if state is not None else []


async def until_members(room: str, names: list[str]) -> None:
    """Wait (up to 2 s) until the hub's members of ``room`` are ``names``; then assert it."""
    for _ in range(100):
        if members(room) == names:
            break
        await asyncio.sleep(0.02)
    assert members(room) == names


async def presence(room: str) -> list[str]:
    return await broadcast.get_hub().bus.presence_names(protocol.room_key(room))


# --- Frame budget ---------------------------------------------------------------------------------

FLOODS = {
    "ping": {"type": "ping"},
    "typing": {"type": "typing"},
    "history": {"type": "history", "limit": 1},
    "invalid json": "{not json",
    "unknown type": {"type": "shout"},
    "bad field": {"type": "history", "before": "yesterday"},
    "binary": b"\x00\x01",
    "empty message": {"type": "message", "message": "   "},
}


@pytest.mark.parametrize("kind", FLOODS)
async def test_a_connection_flooding_any_frame_kind_is_closed_with_1008(native, room, settings, kind):
    """Within its budget a connection is answered as usual; past it, it is closed with 1008, and the
    room's other members are not."""
    settings.PARLEY_FRAME_RATE_PER_SEC = 1
    settings.PARLEY_FRAME_BURST = 20
    settings.PARLEY_RATE_PER_SEC = 0  # history requests: only the frame budget counts here
    flooder = await native(room, "?name=flooder")
    other = await native(room, "?name=other")
    frame = FLOODS[kind]
    for _ in range(60):
        if isinstance(frame, bytes):
            await flooder.send_to(bytes_data=frame)
        elif isinstance(frame, str):
            await flooder.send_to(text_data=frame)
        else:
            await send(flooder, frame)
    assert await closed_with(flooder) == 1008
    await assert_usable(other)
    await send(other, {"type": "message", "message": "still here"})
    assert (await recv_until(other, "message"))["message"] == "still here"
    await until_members(room, ["other"])


async def test_messages_within_the_rate_do_not_spend_the_frame_budget(native, room, settings):
    settings.PARLEY_FRAME_RATE_PER_SEC = 0.001
    settings.PARLEY_FRAME_BURST = 2
    settings.PARLEY_RATE_PER_SEC = 0
    comm = await native(room, "?name=kim")
    for i in range(20):
        await send(comm, {"type": "message", "message": f"m{i}"})
    got = [(await recv_until(comm, "message"))["message"] for _ in range(20)]
    assert got == [f"m{i}" for i in range(20)]
    await assert_usable(comm)


async def test_refused_messages_spend_the_frame_budget(native, room, settings):
    """A client that ignores rate_limited errors and keeps sending is closed, not answered forever."""
    settings.PARLEY_FRAME_RATE_PER_SEC = 0.001
    settings.PARLEY_FRAME_BURST = 5
    settings.PARLEY_RATE_PER_SEC = 0.001
    settings.PARLEY_RATE_BURST = 1
    comm = await native(room, "?name=kim")
    for i in range(10):
        await send(comm, {"type": "message", "message": f"m{i}", "client_id": f"c{i}"})
    frames = []
    while (output := await comm.receive_output(TIMEOUT))["type"] != "websocket.close":
        frames.append(protocol.load_object(output["text"]))
    assert output["code"] == 1008
    # The refusals come at once, in order; the one accepted message is stored (its echo may come
    # before them or not at all: the receive loop does not wait for commits, and the connection
    # was closed meanwhile).
    errors = [f for f in frames if f["type"] == "error"]
    assert [(f["code"], f["client_id"]) for f in errors] == [("rate_limited", f"c{i}") for i in range(1, 6)]
    assert [f["client_id"] for f in frames if f["type"] == "message"] in ([], ["c0"])


async def test_the_seed_door_is_closed_too_when_it_floods(connect, room, settings):
    settings.PARLEY_FRAME_RATE_PER_SEC = 1
    settings.PARLEY_FRAME_BURST = 10
    seed = await connect(f"/chat/{urllib.parse.quote(room)}")
    for _ in range(30):
        await seed.send_to(text_data="not json")
    assert await closed_with(seed) == 1008


# --- The read path --------------------------------------------------------------------------------


async def test_history_is_read_while_the_write_thread_is_busy(native, room):
    """History pages do not queue behind the database thread of joins and writes."""
    await store(room, 5)
    comm = await native(room, "?name=kim")
    release = threading.Event()
    blocker = asyncio.ensure_future(database_sync_to_async(release.wait)(10))  # holds the write thread
    try:
        await asyncio.sleep(0.05)
        await send(comm, {"type": "history", "before": 6, "limit": 5})
        page = await recv_until(comm, "history", within=5)
        assert [m["id"] for m in page["messages"]] == [1, 2, 3, 4, 5]
        assert not blocker.done()
    finally:
        release.set()
        await blocker


# --- No ghosts ------------------------------------------------------------------------------------


def broken(*args, **kwargs):
    raise OperationalError("injected failure: the store is down")


async def buggy_async(*args, **kwargs):
    raise RuntimeError("injected failure: a bug")


@pytest.mark.parametrize(
    ("target", "name"),
    [
        (identity, "identity_resolve"),
        (services, "room_get_or_create"),
        (selectors, "history_before"),
    ],
)
async def test_a_failure_at_each_step_of_a_join_is_refused_with_1013_and_leaves_no_ghost(
    native, room, monkeypatch, target, name
):
    await store(room, 3)  # so that joining reads a history page
    stayer = await native(room, "?name=kim")
    if target is services:
        room = room + "-new"  # a room new to the process: the store is read on join
    monkeypatch.setattr(target, name, broken)
    failing = WebsocketCommunicator(application, f"/ws/rooms/{urllib.parse.quote(room)}/?name=ghost")
    connected, _ = await failing.connect(timeout=TIMEOUT)
    assert connected
    assert (await recv(failing))["code"] == "unavailable"
    assert await closed_with(failing) == 1013
    monkeypatch.undo()
    assert "ghost" not in members(room)
    assert "ghost" not in await presence(room)
    await assert_usable(stayer)
    # The store works again: the same client joins, without a restart.
    again = await native(room, "?name=ghost")
    await assert_usable(again)


async def test_a_bug_while_sending_closes_with_1011_and_leaves_no_ghost(native, room, monkeypatch):
    kim = await native(room, "?name=kim")
    ghost = await native(room, "?name=ghost")
    monkeypatch.setattr(actions, "do_send_message", buggy_async)
    await send(ghost, {"type": "message", "message": "boom"})
    # A bug while storing is 'internal' (not 'unavailable': resending would fail again), not a close.
    error = await recv_until(ghost, "error")
    assert error["code"] == "internal"
    await assert_usable(ghost)
    monkeypatch.setattr("chat.consumers.RoomConsumer.handle", lambda self, frame: buggy_async())
    await send(ghost, {"type": "ping"})
    assert await closed_with(ghost) == 1011
    monkeypatch.undo()
    await until_members(room, ["kim"])
    await asyncio.sleep(broadcast.PRESENCE_INTERVAL + 0.1)
    assert await presence(room) == ["kim"]
    await assert_usable(kim)


async def test_a_history_request_the_store_cannot_answer_gets_unavailable(native, room, monkeypatch):
    comm = await native(room, "?name=kim")
    monkeypatch.setattr(selectors, "history_before", broken)
    await send(comm, {"type": "history"})
    assert (await recv_until(comm, "error"))["code"] == "unavailable"
    monkeypatch.undo()
    await send(comm, {"type": "history"})
    assert (await recv_until(comm, "history"))["type"] == "history"


async def test_a_leave_whose_presence_update_fails_leaves_no_member(native, room, monkeypatch):
    kim = await native(room, "?name=kim")
    ghost = await native(room, "?name=ghost")
    bus = broadcast.get_hub().bus
    original = bus.presence_set

    async def failing_on_leave(key, name, present):
        if not present:
            raise RuntimeError("injected failure")
        return await original(key, name, present)

    monkeypatch.setattr(bus, "presence_set", failing_on_leave)
    await ghost.disconnect()
    await until_members(room, ["kim"])
    await assert_usable(kim)


async def test_nul_in_a_client_id_is_an_invalid_frame_and_the_connection_stays(native, room):
    comm = await native(room, "?name=kim")
    for bad in ["a\x00b", "tab\there", "\x7f", "\u0085"]:
        await send(comm, {"type": "message", "message": "hi", "client_id": bad})
        error = await recv_until(comm, "error")
        assert error["code"] == "invalid_frame"
    await send(comm, {"type": "message", "message": "hi", "client_id": "ok-1"})
    assert (await recv_until(comm, "message"))["client_id"] == "ok-1"


@pytest.mark.parametrize("after", ["9" * 5000, "1" * 20, "99999999999999999999", "-1", "\uff11"])
async def test_a_bad_after_is_invalid_frame_and_4400(connect, room, after):
    comm = await connect(f"/ws/rooms/{urllib.parse.quote(room)}/?after={after}")
    assert (await recv(comm))["code"] == "invalid_frame"
    assert await closed_with(comm) == 4400


async def test_a_client_that_goes_away_while_its_pages_are_read_leaves_at_once(native, room, monkeypatch):
    """History pages may wait behind other connections' reads; leaving does not wait for them."""
    release = threading.Event()
    original = selectors.history_before

    def slow(**kwargs):
        release.wait(10)
        return original(**kwargs)

    kim = await native(room, "?name=kim")
    reader = await native(room, "?name=reader")
    monkeypatch.setattr(selectors, "history_before", slow)
    try:
        for _ in range(3):
            await send(reader, {"type": "history"})
        await assert_usable(reader)  # its other frames are answered meanwhile
        await reader.disconnect()
        await until_members(room, ["kim"])
        assert not release.is_set()
    finally:
        release.set()
    await assert_usable(kim)
