"""Two processes on PostgreSQL + Redis sharing PARLEY_MEDIA_ROOT: a file uploaded to process A and
sent in a message on A reaches a WebSocket member on process B with its attachments, B's history
has it, and B serves the file (and removes it when B is asked to delete the message)."""

from __future__ import annotations

import pytest

from tests.servers import ServerFarm
from tests.uploads.kit import (
    Accounts,
    Db,
    call,
    messages_path,
    next_of,
    png,
    room_door,
    upload,
    uploads_path,
    wait_until,
    ws_join,
)
from tests.wsclient import send


@pytest.fixture(scope="module")
def two(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("two-uploads")
    farm = ServerFarm(tmp=tmp, scaled=True, extra_env={"PARLEY_MEDIA_ROOT": str(tmp / "media")})
    farm.media = tmp / "media"  # type: ignore[attr-defined]
    servers = (farm.start(), farm.start())
    yield farm, servers
    farm.close()


@pytest.mark.embedded_only
async def test_an_attachment_sent_on_one_process_is_read_on_the_other(two, room):
    farm, (a, b) = two
    people = Accounts(farm, batch=2)
    alice, bob = people.new(), people.new()
    reader, _, _ = await ws_join(b.ws, room_door(room), bob.token)
    made = upload(a.http, uploads_path(room), "diagram.png", png(900, 300), token=alice.token)
    assert made.status == 201, made.body
    made = made.json
    sender, _, _ = await ws_join(a.ws, room_door(room), alice.token)
    await send(sender, {"message": "the diagram", "attachments": [made["id"]], "client_id": "two-1"})
    mine = await next_of(sender, "message")
    theirs = await next_of(reader, "message")
    assert theirs == mine
    assert theirs["attachments"] == [made]
    assert (made["width"], made["height"]) == (900, 300)

    history = call(b.http, "GET", messages_path(room), token=bob.token).json["messages"]
    assert history[-1]["attachments"] == [made]
    fresh, _, joined = await ws_join(b.ws, room_door(room), bob.token)
    assert joined[-1]["attachments"] == [made]
    await fresh.close()

    on_a = call(a.http, "GET", made["url"], token=alice.token)
    on_b = call(b.http, "GET", made["url"], token=bob.token)
    assert on_a.status == on_b.status == 200 and on_a.body == on_b.body
    assert call(b.http, "GET", made["thumbnail_url"]).status == 200  # a guest: public

    paths = Db(farm).paths(farm.media, made["id"])
    assert call(b.http, "DELETE", f"{messages_path(room)}/{theirs['id']}", token=alice.token).status == 204
    assert (await next_of(sender, "delete"))["target"] == theirs["id"]
    wait_until(lambda: not any(p.exists() for p in paths), what="files removed by process B")
    assert call(a.http, "GET", made["url"], token=alice.token).status == 404
    await sender.close()
    await reader.close()
