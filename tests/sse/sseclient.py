"""A Server-Sent Events client for the tests (httpx streaming): what an ``EventSource`` reads.

``open_events`` sends the GET and returns an ``EventStream`` (status and headers, then ``next``:
the next event, or comment, as the server wrote it). Every read has a timeout.
"""

from __future__ import annotations

import asyncio
import json
import urllib.parse
from dataclasses import dataclass
from typing import Any

import httpx

TIMEOUT = 10.0


@dataclass
class Event:
    """One event: its ``id:`` (None: none), its ``data:`` as JSON; or a comment (``comment`` set)."""

    id: int | None
    data: dict[str, Any] | None
    comment: str | None = None

    @property
    def type(self) -> str | None:
        return None if self.data is None else self.data.get("type")


def events_url(base: str, room: str | None = None, *, ns: str | None = None, dm: str | None = None) -> str:
    """``/api/v1/rooms/<room>/events`` (or the ns or dm form), the names percent-encoded."""
    q = lambda s: urllib.parse.quote(s, safe="")  # noqa: E731
    if dm is not None:
        return f"{base}/api/v1/dm/{q(dm)}/events"
    if ns is not None:
        assert room is not None
        return f"{base}/api/v1/ns/{q(ns)}/rooms/{q(room)}/events"
    assert room is not None
    return f"{base}/api/v1/rooms/{q(room)}/events"


class EventStream:
    def __init__(self, client: httpx.AsyncClient, response: httpx.Response) -> None:
        self.client = client
        self.response = response
        self.status = response.status_code
        self.headers = response.headers
        self._lines = response.aiter_lines()
        self.last_id: int | None = None

    async def body(self) -> dict[str, Any]:
        """A refusal's JSON body."""
        data = await asyncio.wait_for(self.response.aread(), TIMEOUT)
        return json.loads(data)

    async def next(self, within: float = TIMEOUT, *, comments: bool = False) -> Event:
        """The next event (comments skipped unless ``comments``); EOFError when the stream ends."""

        async def read() -> Event:
            event_id: int | None = None
            data: list[str] = []
            while True:
                try:
                    line = await self._lines.__anext__()
                except StopAsyncIteration:
                    raise EOFError("the stream ended") from None
                if line == "":
                    if data:
                        if event_id is not None:
                            self.last_id = event_id
                        return Event(id=event_id, data=json.loads("\n".join(data)))
                    continue
                if line.startswith(":"):
                    if comments:
                        return Event(id=None, data=None, comment=line[1:].strip())
                    continue
                field, _, value = line.partition(":")
                value = value.removeprefix(" ")
                if field == "id":
                    event_id = int(value)
                elif field == "data":
                    data.append(value)

        return await asyncio.wait_for(read(), within)

    async def until(self, kind: str, within: float = TIMEOUT) -> Event:
        """Skip events until one of type ``kind``."""

        async def loop() -> Event:
            while (event := await self.next(within)).type != kind:
                pass
            return event

        return await asyncio.wait_for(loop(), within)

    async def joined(self, within: float = TIMEOUT) -> tuple[Event, list[Event]]:
        """hello, then the history frames up to the first presence frame (events between kept)."""
        hello = await self.next(within)
        assert hello.type == "hello", hello
        rest = []
        while (event := await self.next(within)).type != "presence":
            rest.append(event)
        return hello, rest

    async def close(self) -> None:
        await self.response.aclose()
        await self.client.aclose()


async def open_events(
    url: str, *, headers: dict[str, str] | None = None, params: dict[str, Any] | None = None
) -> EventStream:
    """GET an events URL and return the stream once its status and headers are in."""
    client = httpx.AsyncClient(timeout=httpx.Timeout(TIMEOUT, read=None), trust_env=False)
    request = client.build_request(
        "GET", url, headers={"Accept": "text/event-stream", **(headers or {})}, params=params
    )
    response = await asyncio.wait_for(client.send(request, stream=True), TIMEOUT)
    return EventStream(client, response)
