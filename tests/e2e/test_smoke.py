import json

from websockets.asyncio.client import connect


async def test_three_doors_share_a_room(server):
    room = "자유게시판"
    async with (
        connect(f"{server.ws}/ws/rooms/{room}/") as native,
        connect(f"{server.ws}/chat/{room}") as seed,
        connect(f"{server.ws}/ws/chat/{room}/") as tutorial,
    ):
        hello = json.loads(await native.recv())
        assert hello["type"] == "hello" and hello["room"] == room
        assert json.loads(await native.recv())["type"] == "history"
        await seed.send(json.dumps({"sender": "kim", "message": "안녕"}))
        for ws in (seed, tutorial):
            frame = json.loads(await ws.recv())
            assert (frame["sender"], frame["message"], frame["id"]) == ("kim", "안녕", 1)
        while (frame := json.loads(await native.recv()))["type"] != "message":
            pass
        assert frame["message"] == "안녕"
