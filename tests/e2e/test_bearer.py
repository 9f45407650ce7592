"""``Authorization: Bearer <token>`` on the handshake of every WebSocket door: the connection speaks
as the token's user; a bad, revoked or expired token gets ``unauthenticated`` and close 4401."""

from __future__ import annotations

import asyncio
import json

import pytest

from tests.api.client import new_token, new_user, request, sign_up
from tests.wsclient import close_code, connect, join, next_messages, recv, room_url, send

DOORS = ("/chat/{}", "/ws/chat/{}/", "/ws/rooms/{}/")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_a_token_user_speaks_as_themselves_on_every_door(live, room):
    user = await asyncio.to_thread(new_user, live.http)
    observer, _, _ = await join(live.ws, room, "?name=observer")
    native, hello, _ = await join(live.ws, room, additional_headers=bearer(user.token))
    assert hello["you"] == {"name": user.name, "guest": False}
    seed = await connect(room_url(live.ws, "/chat/{}", room), additional_headers=bearer(user.token))
    tutorial = await connect(room_url(live.ws, "/ws/chat/{}/", room), additional_headers=bearer(user.token))
    await send(native, {"message": "from native", "sender": "someone-else"})
    await send(seed, {"sender": "someone-else", "message": "from seed"})  # the claimed sender is ignored
    await send(tutorial, {"message": "from tutorial"})
    got = {m["message"]: m["sender"] for m in await next_messages(observer, 3)}
    assert got == {"from native": user.name, "from seed": user.name, "from tutorial": user.name}
    for ws in (observer, native, seed, tutorial):
        await ws.close()


async def test_a_bearer_token_wins_over_a_session_cookie(live, room):
    user = await asyncio.to_thread(new_user, live.http)
    other = await asyncio.to_thread(sign_up, live.http)
    cookies = "; ".join(f"{c.name}={c.value}" for c in other.jar)
    ws, hello, _ = await join(live.ws, room, additional_headers={**bearer(user.token), "Cookie": cookies})
    assert hello["you"]["name"] == user.name
    await ws.close()


async def refused(base: str, door: str, room: str, token: str) -> None:
    """The handshake gets one error frame, unauthenticated, then close 4401: no hello, nothing else."""
    ws = await connect(room_url(base, door, room), additional_headers=bearer(token))
    frame = await recv(ws)
    assert frame["type"] == "error" and frame["code"] == "unauthenticated", frame
    assert await close_code(ws) == 4401


@pytest.mark.parametrize("door", DOORS)
async def test_an_unknown_token_is_refused_on_every_door(live, room, door):
    await refused(live.ws, door, room, "parley_not-a-token-of-ours")
    await refused(live.ws, door, room, "")


async def test_a_revoked_token_is_refused(live, room):
    user = await asyncio.to_thread(new_user, live.http)
    ws, _, _ = await join(live.ws, room, additional_headers=bearer(user.token))  # works before
    await ws.close()
    tokens = (await asyncio.to_thread(request, live.http, "GET", "/api/v1/tokens", token=user.token)).json["tokens"]
    answer = await asyncio.to_thread(
        request, live.http, "DELETE", f"/api/v1/tokens/{tokens[0]['id']}", token=user.token
    )
    assert answer.status == 204
    for door in DOORS:
        await refused(live.ws, door, room, user.token)


async def test_an_expired_token_is_refused(live, room):
    user = await asyncio.to_thread(new_user, live.http)
    answer = await asyncio.to_thread(new_token, live.http, user.name, "short", expires_in=1)
    assert answer.status == 201, answer.text
    token = answer.json["token"]
    # Wait for the API to call it expired (no timing assumption about the handshake itself).
    deadline = asyncio.get_running_loop().time() + 30
    while (await asyncio.to_thread(request, live.http, "GET", "/api/v1/me", token=token)).status != 401:
        assert asyncio.get_running_loop().time() < deadline
        await asyncio.sleep(0.2)
    for door in DOORS:
        await refused(live.ws, door, room, token)


async def test_other_authorization_schemes_are_not_parleys(live, room):
    """A proxy's Basic auth reaches Parley too: it is ignored, the visitor is a guest."""
    ws, hello, _ = await join(live.ws, room, "?name=kim", additional_headers={"Authorization": "Basic a2ltOnB3"})
    assert hello["you"] == {"name": "kim", "guest": True}
    await send(ws, {"message": "hi"})
    assert json.dumps((await next_messages(ws, 1))[0]["sender"]) == '"kim"'
    await ws.close()
