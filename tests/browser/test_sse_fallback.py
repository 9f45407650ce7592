"""The room page behind a proxy that refuses WebSocket upgrades (as some school and company proxies
do): it falls back to the SSE door by itself, says so, and sends and receives over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from playwright.sync_api import expect
from websockets.sync.client import connect

from tests.browser.conftest import Chat, room_path, unique, ws_url
from tests.servers import Server, free_port

pytestmark = pytest.mark.browser

PASSWORD = "correct horse battery staple 42"


class UpgradeRefusingProxy:
    """An HTTP proxy on a free loopback port, on a thread of its own: a request asking for
    ``Upgrade: websocket`` gets 403; any other is piped to the server (each on a connection of its
    own: ``Connection: close``, so every request is looked at). ``refuse_upgrades = False`` lets
    WebSocket through again."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = free_port()
        self.refused = 0
        self.refuse_upgrades = True
        self.writers: set[asyncio.StreamWriter] = set()
        self.handlers: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> UpgradeRefusingProxy:
        self.thread.start()
        assert self.ready.wait(10)
        return self

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.server = self.loop.run_until_complete(asyncio.start_server(self._accept, "127.0.0.1", self.port))
        self.ready.set()
        self.loop.run_forever()

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()

    async def _shutdown(self) -> None:
        """Every socket closed and every task ended: nothing left for the garbage collector."""
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for writer in list(self.writers):  # a handler cancelled before it first ran never reached its finally
            writer.transport.abort()

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called when a connection is accepted: its writer is known at once (not when its handler
        first runs), so a shutdown in between still closes it; the handler runs as a task."""
        self.writers.add(writer)
        handler = self.loop.create_task(self._serve(reader, writer))
        self.handlers.add(handler)
        handler.add_done_callback(self.handlers.discard)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._handle(reader, writer)
        except asyncio.CancelledError:
            pass  # stopped (asyncio's server would log a cancelled handler as an error)
        finally:
            self.writers.discard(writer)
            writer.transport.abort()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            writer.close()
            return
        lines = head.decode("latin-1").split("\r\n")
        headers = [line for line in lines[1:] if line]
        upgrade = any(h.lower().startswith("upgrade:") and "websocket" in h.lower() for h in headers)
        if upgrade and self.refuse_upgrades:
            self.refused += 1
            writer.write(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
            with contextlib.suppress(ConnectionError):
                await writer.drain()
            writer.close()
            return
        if upgrade:  # let through: the WebSocket's head as it came
            request = head
        else:
            kept = [h for h in headers if not h.lower().startswith(("connection:", "keep-alive:"))]
            request = "\r\n".join([lines[0], *kept, "Connection: close", "", ""]).encode("latin-1")
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        self.writers.add(up_writer)
        try:
            up_writer.write(request)
            await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        finally:
            self.writers.discard(up_writer)
            up_writer.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


@pytest.fixture
def proxy(web: Server) -> Iterator[UpgradeRefusingProxy]:
    running = UpgradeRefusingProxy(web.port).start()
    yield running
    running.stop()


def behind(chat: Chat, proxy: UpgradeRefusingProxy) -> Chat:
    chat.base = proxy.http
    return chat


def expect_http(chat: Chat, text: str = "Connected over HTTP (WebSocket blocked)") -> None:
    status = chat.page.locator("#status")
    expect(status).to_have_attribute("data-state", "live_http")
    expect(status).to_have_text(text)


def test_the_page_falls_back_to_sse_sends_and_receives(people, web, proxy):
    room = unique("sse")
    with connect(ws_url(web, room) + "?name=bob", open_timeout=10) as bob:  # a WebSocket client, straight in
        assert json.loads(bob.recv(timeout=10))["type"] == "hello"
        ada = behind(people(), proxy)
        username = unique("ada").replace("-", "_")
        ada.goto(f"/accounts/signup/?next={quote(room_path(room))}")
        ada.page.fill("#id_username", username)
        ada.page.fill("#id_password1", PASSWORD)
        ada.page.fill("#id_password2", PASSWORD)
        ada.page.click("#signup-form button[type=submit]")
        expect_http(ada)
        assert proxy.refused >= 2  # two WebSocket handshakes failed before the page fell back

        bob.send(json.dumps({"message": "from bob over WebSocket"}))
        expect(ada.page.locator("#log li.msg .body")).to_have_text(["from bob over WebSocket"])

        ada.send("from ada over HTTP")
        expect(ada.page.locator("#log li.msg .body")).to_have_text(["from bob over WebSocket", "from ada over HTTP"])
        expect(ada.page.locator("#log li.pending")).to_have_count(0)  # confirmed by its event on the stream
        frame = json.loads(bob.recv(timeout=10))
        while frame["type"] != "message" or frame["sender"] == "bob":
            frame = json.loads(bob.recv(timeout=10))
        assert frame["message"] == "from ada over HTTP" and frame["sender"] == username

        # Typing goes through POST .../typing; the WebSocket client sees it.
        ada.page.wait_for_timeout(1200)  # the page tells typing at most every 2 s, and not right after a send
        ada.page.locator("#message").press_sequentially("typing…")
        while (frame := json.loads(bob.recv(timeout=10)))["type"] != "typing":
            pass
        assert frame == {"type": "typing", "sender": username}
        # And presence counts ada's stream.
        bob.send(json.dumps({"type": "typing"}))
        expect(ada.page.locator("#typing")).to_contain_text("bob")
        assert username in ada.presence() and "bob" in ada.presence()


def test_the_status_line_is_translated(people, web, proxy):
    room = unique("sse-ko")
    kim = behind(people(locale="ko-KR"), proxy)
    kim.goto(room_path(room))
    kim.page.fill("#guest-name", "kim")
    kim.page.click("#guest-form button[type=submit]")
    expect_http(kim, "HTTP로 연결됨 (WebSocket 차단됨)")
    # A guest reads over HTTP but cannot send (the API takes no guests): the composer says so.
    expect(kim.page.locator("#message")).to_be_disabled()
    expect(kim.page.locator("#message")).to_have_attribute(
        "placeholder", "WebSocket이 차단된 동안 메시지를 보내려면 로그인하세요."
    )
    with connect(ws_url(web, room) + "?name=lee", open_timeout=10) as lee:
        lee.send(json.dumps({"message": "안녕하세요"}))
        expect(kim.page.locator("#log li.msg .body")).to_have_text(["안녕하세요"])


def test_the_page_goes_back_to_websocket_when_it_works_again(people, web, proxy):
    room = unique("sse-back")
    ana = behind(people(), proxy)
    ana.page.clock.install()  # the page's minute until it tries WebSocket again, fast-forwarded
    ana.goto(room_path(room))
    ana.page.fill("#guest-name", "ana")
    ana.page.click("#guest-form button[type=submit]")
    expect_http(ana)
    with connect(ws_url(web, room) + "?name=lee", open_timeout=10) as lee:
        lee.send(json.dumps({"message": "over http"}))
        expect(ana.page.locator("#log li.msg .body")).to_have_text(["over http"])
        proxy.refuse_upgrades = False
        refused = proxy.refused
        ana.page.clock.fast_forward(61_000)
        ana.expect_live()  # a WebSocket said hello: the page is back on it
        expect(ana.page.locator("#message")).to_be_enabled()  # a guest sends again
        assert proxy.refused == refused
        lee.send(json.dumps({"message": "over websocket"}))
        expect(ana.page.locator("#log li.msg .body")).to_have_text(["over http", "over websocket"])
