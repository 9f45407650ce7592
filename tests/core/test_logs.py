"""PARLEY_LOG_FORMAT=json: one JSON object per line, each naming its connection or request."""

from __future__ import annotations

import asyncio
import json
import logging
import sys

from core.logs import ContextFilter, JsonFormatter, context_id, set_connection
from tests.api.client import request
from tests.wsclient import connect, room_url


def json_lines(text: str) -> list[dict]:
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines
    return [json.loads(line) for line in lines]  # every line: one JSON object


async def test_json_logs_carry_connection_and_request_ids(farm):
    server = farm.start(PARLEY_LOG_FORMAT="json")
    # A request Django logs (a 404, at WARNING), answered with its id.
    answer = request(server.http, "GET", "/no-such-page")
    assert answer.status == 404
    request_id = answer.headers["x-request-id"]
    # A bad frame on the seed door is logged at INFO on parley.consumers, in the connection's task.
    ws = await connect(room_url(server.ws, "/chat/{}", "logs"))
    await ws.send("not json")
    await ws.send(json.dumps({"sender": "kim", "message": ""}))

    async def logged() -> list[dict]:
        while True:
            entries = json_lines(server.log())
            if sum(e["logger"] == "parley.consumers" for e in entries) >= 2 and any(
                e["logger"] == "django.request" for e in entries
            ):
                return entries
            await asyncio.sleep(0.1)

    entries = await asyncio.wait_for(logged(), 15)
    await ws.close()
    assert all({"time", "level", "logger", "message"} <= e.keys() for e in entries)
    not_found = next(e for e in entries if e["logger"] == "django.request")
    assert not_found["request_id"] == request_id and not_found["level"] == "WARNING"
    bad = [e for e in entries if e["logger"] == "parley.consumers"]
    assert bad[0]["connection_id"] == bad[1]["connection_id"]  # one connection, one id
    assert bad[0]["connection_id"].count(":") == 3  # host:pid:random:n, unique across processes
    assert "request_id" not in bad[0]


def test_plain_logs_stay_plain(farm):
    server = farm.start()
    request(server.http, "GET", "/no-such-page")
    assert not server.log().lstrip().startswith("{")


def test_json_formatter_one_line_with_traceback_and_id():
    logger = logging.getLogger("parley.test-logs")
    record = None
    try:
        raise ValueError("boom\nsecond line")
    except ValueError:
        record = logger.makeRecord("parley.test-logs", logging.ERROR, __file__, 1, "failed: %s", ("x",), sys.exc_info())
    token = context_id.set(None)
    try:
        set_connection("host:1:abc:7")
        assert ContextFilter().filter(record)
    finally:
        context_id.reset(token)
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == "failed: x" and entry["connection_id"] == "host:1:abc:7"
    assert entry["level"] == "ERROR" and entry["time"].endswith("Z")
    assert "ValueError: boom" in entry["exc_info"]
