"""Browser tests: Playwright (sync API) driving Debian's Chromium against a live Parley server process.

One server and one browser serve the whole package (each test uses its own rooms and names); each
test opens fresh browser contexts, which are separate users with their own cookies and storage.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from playwright.sync_api import Browser, BrowserContext, Dialog, Page, expect, sync_playwright
from websockets.sync.client import connect

from tests.servers import Server, ServerFarm, scaled_configuration

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
TIMEOUT_MS = 10_000
# Short enough to watch "X is typing…" disappear within a test; few enough join messages to scroll.
SERVER_ENV = {"PARLEY_TYPING_TIMEOUT": "2", "PARLEY_HISTORY_ON_JOIN": "20"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The pages are the same on every backend: the browser tests run once, in test-scaled (a
    server on PostgreSQL + Redis, as deployed), which keeps make test within its time."""
    for item in items:
        if "tests/browser/" in str(item.path):
            item.add_marker(pytest.mark.scaled_only)


@pytest.fixture(autouse=True)
def _close_hub() -> Iterator[None]:
    """Replaces tests/conftest.py's async fixture of the same name: no hub runs in this process, and an
    async fixture cannot run while Playwright's sync API holds the thread's event loop."""
    yield


@pytest.fixture(scope="package")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One Parley server process on this run's configuration (SQLite alone, or PostgreSQL + Redis),
    its uploads in a folder of this run's."""
    tmp = tmp_path_factory.mktemp("browser")
    env = {**SERVER_ENV, "PARLEY_MEDIA_ROOT": str(tmp / "media")}
    farm = ServerFarm(tmp=tmp, scaled=scaled_configuration(), extra_env=env)
    try:
        yield farm.start()
    finally:
        farm.close()


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


class Chat:
    """One person in a browser context, with the room page's moves and reads."""

    def __init__(self, context: BrowserContext, page: Page, base: str) -> None:
        self.context = context
        self.page = page
        self.base = base
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.on("dialog", self._on_dialog)
        page.on("pageerror", lambda error: self.errors.append(str(error)))

    def _on_dialog(self, dialog: Dialog) -> None:
        """Called when the page opens alert/confirm/prompt: that would be an XSS payload running."""
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def goto(self, path: str) -> None:
        self.page.goto(self.base + path)

    def join(self, room: str, name: str | None = None) -> None:
        """Open the room; as a guest, choose ``name`` first. Returns once the socket is live."""
        self.goto(room_path(room))
        if name is not None:
            self.page.fill("#guest-name", name)
            self.page.click("#guest-form button[type=submit]")
        self.expect_live()

    def expect_live(self) -> None:
        expect(self.page.locator("#status")).to_have_attribute("data-state", "live")

    def type_and_send(self, text: str) -> None:
        """Type like a person (multi-line text with Shift+Enter) and press Enter."""
        box = self.page.locator("#message")
        for i, line in enumerate(text.split("\n")):
            if i:
                box.press("Shift+Enter")
            box.press_sequentially(line)
        box.press("Enter")

    def send(self, text: str) -> None:
        """Put ``text`` in the composer at once and press Enter."""
        self.page.fill("#message", text)
        self.page.locator("#message").press("Enter")

    def messages(self) -> list[tuple[int, str, str]]:
        """(id, sender, text) of every shown message, top to bottom."""
        return [
            (int(i), s, b)
            for i, s, b in self.page.eval_on_selector_all(
                "#log li.msg",
                "els => els.map(e => [e.dataset.id, e.querySelector('.sender').textContent,"
                " e.querySelector('.body').textContent])",
            )
        ]

    def texts(self) -> list[str]:
        return [text for _, _, text in self.messages()]

    def wait_for_count(self, n: int) -> None:
        expect(self.page.locator("#log li.msg")).to_have_count(n)

    def presence(self) -> list[str]:
        return self.page.eval_on_selector_all("#presence li", "els => els.map(e => e.dataset.name)")


@pytest.fixture
def people(browser: Browser, web: Server) -> Iterator[callable]:
    """``people()`` opens a new browser context (a new person); all are closed after the test, and a
    JavaScript error on any of their pages fails it."""
    opened: list[Chat] = []

    def open_person(*, width: int = 1000, height: int = 700, locale: str = "en-US", timezone: str = "UTC") -> Chat:
        context = browser.new_context(viewport={"width": width, "height": height}, locale=locale, timezone_id=timezone)
        context.set_default_timeout(TIMEOUT_MS)
        chat = Chat(context, context.new_page(), web.http)
        opened.append(chat)
        return chat

    yield open_person
    errors = [error for chat in opened for error in chat.errors]
    for chat in opened:
        chat.context.close()
    assert not errors, errors


def room_path(room: str) -> str:
    return f"/rooms/{quote(room)}/"


def unique(prefix: str) -> str:
    """A room or person name no other test uses (the server is shared by the package)."""
    return f"{prefix}-{secrets.token_hex(3)}"


def ws_url(web: Server, room: str) -> str:
    return f"{web.ws}/ws/rooms/{quote(room)}/"


def post(web: Server, room: str, texts: list[str], *, sender: str = "bot", client_ids: list[str] | None = None) -> None:
    """Send messages from outside the browser, through the native door, and wait until all are stored."""
    url = ws_url(web, room) + "?name=" + quote(sender)
    with connect(url, open_timeout=10) as ws:
        for i, text in enumerate(texts):
            frame = {"message": text} if client_ids is None else {"message": text, "client_id": client_ids[i]}
            ws.send(json.dumps(frame))
        stored = 0
        while stored < len(texts):
            frame = json.loads(ws.recv(timeout=10))
            assert frame["type"] != "error", frame
            stored += frame["type"] == "message" and frame["sender"] == sender


expect.set_options(timeout=TIMEOUT_MS)
