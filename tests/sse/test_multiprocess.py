"""The SSE door on two server processes (PostgreSQL + Redis): for any traffic (sends, edits,
deletes, reactions through the API of either process), a client on the SSE door of one process
gets the same frames in the same order as a client on the WebSocket door of the other, also when
it drops and resumes with ``Last-Event-ID`` on the other process; and with ``WORKERS=2``.

They start their own servers on PostgreSQL + Redis, so they run once (in the embedded pass); the
``WORKERS=2`` one needs the scaled pass's configuration and runs there.
"""

from __future__ import annotations

import asyncio
import uuid
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.servers import ServerFarm
from tests.sse.sseclient import events_url, open_events
from tests.wsclient import connect, recv, room_url

ROOM_EVENTS = ("message", "edit", "delete", "reaction")
EMOJI = ("👍", "🎉", "❤️")

# One change: ("send", text) | ("edit", which, text) | ("delete", which) | ("react", which, emoji, add),
# each through the API of process 0 or 1; "which" picks one of the messages sent so far.
texts = st.text(alphabet=st.sampled_from("ab 가나🙂*_\n"), min_size=1, max_size=12).filter(str.strip)
changes = st.one_of(
    st.tuples(st.just("send"), texts),
    st.tuples(st.just("edit"), st.integers(0, 20), texts),
    st.tuples(st.just("delete"), st.integers(0, 20)),
    st.tuples(st.just("react"), st.integers(0, 20), st.sampled_from(EMOJI), st.booleans()),
)
traffic = st.lists(st.tuples(changes, st.integers(0, 1)), min_size=1, max_size=14)


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    farm = ServerFarm(tmp=tmp_path_factory.mktemp("sse-two"), scaled=True, extra_env={"PARLEY_RATE_PER_SEC": "0"})
    servers = (farm.start(), farm.start())
    from tests.e2e.conftest import Core

    core = Core(farm)
    name = f"alice{uuid.uuid4().hex[:6]}"
    token = core.ok("user", None, username=name)["token"]  # type: ignore[index]
    core.close()
    yield servers, token
    farm.close()


async def apply(client: httpx.AsyncClient, base: str, room: str, token: str, change: tuple, posted: list[int]) -> None:
    """Make one change through the API of the server at ``base`` (a refusal, e.g. an edit of a
    deleted message, is part of the traffic: it makes no event)."""
    path = f"{base}/api/v1/rooms/{quote(room, safe='')}/messages"
    headers = {"Authorization": f"Bearer {token}"}
    kind = change[0]
    if kind == "send":
        r = await client.post(path, headers=headers, json={"message": change[1], "client_id": uuid.uuid4().hex})
        assert r.status_code == 201, r.text
        posted.append(r.json()["id"])
        return
    if not posted:
        return
    target = posted[change[1] % len(posted)]
    if kind == "edit":
        r = await client.patch(f"{path}/{target}", headers=headers, json={"message": change[2]})
    elif kind == "delete":
        r = await client.delete(f"{path}/{target}", headers=headers)
    else:
        body = {"emoji": change[2], "op": "add" if change[3] else "remove"}
        r = await client.post(f"{path}/{target}/reactions", headers=headers, json=body)
    assert r.status_code < 500, r.text


async def scenario(servers, token: str, before: list, during: list, cut: int | None) -> None:
    a, b = servers
    room = f"p-{uuid.uuid4().hex[:10]}"
    bases = (a.http, b.http)
    auth = {"Authorization": f"Bearer {token}"}
    posted: list[int] = []
    async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
        for change, which in before:
            await apply(client, bases[which], room, token, change, posted)
        sse = await open_events(events_url(a.http, room), headers=auth)
        ws = await connect(room_url(b.ws, "/ws/rooms/{}/", room), additional_headers=auth)
        try:
            ws_head = [await recv(ws), await recv(ws)]
            sse_head = [(await sse.next()).data, (await sse.next()).data]
            assert sse_head == ws_head  # hello (the same user) and the history, as of one moment
            for change, which in during:
                await apply(client, bases[which], room, token, change, posted)
            r = await client.post(
                f"{b.http}/api/v1/rooms/{quote(room, safe='')}/messages", headers=auth, json={"message": "end"}
            )
            end = r.json()["id"]
            got_ws: list[dict] = []
            while not got_ws or got_ws[-1]["id"] < end:
                frame = await recv(ws)
                if frame["type"] in ROOM_EVENTS:
                    got_ws.append(frame)
            got_sse: list[dict] = []
            while not got_sse or got_sse[-1]["id"] < end:
                event = await sse.next()
                if event.type in ROOM_EVENTS:
                    got_sse.append(event.data)
                elif event.type == "history":  # a resume: the events missed, as they went out live
                    got_sse.extend(event.data["messages"])
                if cut is not None and len(got_sse) == cut:  # drop, and resume on the other process
                    cut = None
                    last = sse.last_id
                    await sse.close()
                    await asyncio.sleep(0)
                    sse = await open_events(events_url(b.http, room), headers={**auth, "Last-Event-ID": str(last or 0)})
                    assert sse.status == 200
                    assert (await sse.next()).type == "hello"
            assert got_sse == got_ws
            assert [f["id"] for f in got_ws] == sorted({f["id"] for f in got_ws})
        finally:
            await sse.close()
            await ws.close()


@pytest.mark.embedded_only
@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    before=st.lists(st.tuples(changes, st.integers(0, 1)), max_size=5),
    during=traffic,
    cut=st.none() | st.integers(1, 6),
)
def test_sse_frames_equal_websocket_frames_across_processes(two, before, during, cut):
    servers, token = two
    asyncio.run(scenario(servers, token, before, during, cut))


@pytest.mark.scaled_only
async def test_sse_with_two_workers(tmp_path):
    farm = ServerFarm(tmp=tmp_path, scaled=True, extra_env={"PARLEY_RATE_PER_SEC": "0"})
    try:
        server = farm.start(WORKERS="2")
        room = f"w-{uuid.uuid4().hex[:10]}"
        # Streams land on either worker (the kernel spreads the connections): every one gets
        # every message, once, in order.
        streams = [await open_events(events_url(server.http, room), params={"name": f"g{n}"}) for n in range(6)]
        try:
            for stream in streams:
                assert stream.status == 200
                await stream.joined()
            async with httpx.AsyncClient(trust_env=False, timeout=10) as client:
                ws = await connect(room_url(server.ws, "/ws/rooms/{}/", room, "?name=writer"))
                for n in range(20):
                    await ws.send(f'{{"message": "m{n}"}}')
                for stream in streams:
                    got = []
                    while len(got) < 20:
                        event = await stream.next()
                        if event.type == "message":
                            got.append(event)
                    assert [e.data["message"] for e in got] == [f"m{n}" for n in range(20)]
                    assert [e.id for e in got] == list(range(1, 21))
                await ws.close()
                del client
        finally:
            for stream in streams:
                await stream.close()
    finally:
        farm.close()


@pytest.mark.embedded_only
async def test_a_kick_sends_removed_then_ends_the_stream(tmp_path):
    from tests.e2e.conftest import Core

    farm = ServerFarm(tmp=tmp_path, scaled=True)  # the kick comes from another process, over Redis
    try:
        server = farm.start()
        core = Core(farm)
        owner, member = f"own{uuid.uuid4().hex[:6]}", f"mem{uuid.uuid4().hex[:6]}"
        core.ok("user", None, username=owner)
        token = core.ok("user", None, username=member)["token"]  # type: ignore[index]
        ns = f"ns{uuid.uuid4().hex[:6]}"
        core.ok("ns_create", owner, name=ns)
        core.ok("room_create", owner, ns=ns, room="hall")
        stream = await open_events(events_url(server.http, "hall", ns=ns), headers={"Authorization": f"Bearer {token}"})
        try:
            await stream.joined()
            await asyncio.to_thread(core.ok, "kick", owner, ns=ns, room="hall", username=member)
            removed = await stream.until("removed")
            assert removed.data["reason"] == "kicked" and removed.id is None
            with pytest.raises(EOFError):  # where a WebSocket gets close 4410, the stream ends
                while True:
                    await stream.next()
        finally:
            await stream.close()
            core.close()
    finally:
        farm.close()
