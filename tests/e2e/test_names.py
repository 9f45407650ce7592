"""Nobody passes for somebody else, against a real server (uvicorn, as make run): a guest whose
name is registered meanwhile is refused on the next send, look-alikes are refused at the door,
name probes from one address run out, failed logins are throttled."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request

import pytest

from tests.wsclient import close_code, join, next_messages, recv, recv_until, room_url, send
from tests.wsclient import connect as ws_connect

PASSWORD = "correct horse battery staple 42"


class Browser:
    """Cookies and CSRF tokens over plain HTTP, as a browser sends a form."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), NoRedirect()
        )

    def get(self, path: str) -> tuple[int, str]:
        return self._open(urllib.request.Request(self.base + path))

    def post_form(self, path: str, data: dict[str, str], *, form_page: str | None = None) -> tuple[int, str]:
        _, page = self.get(form_page or path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token}).encode()
        return self._open(urllib.request.Request(self.base + path, data=body))

    def _open(self, request: urllib.request.Request) -> tuple[int, str]:
        try:
            with self.opener.open(request, timeout=20) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def sign_up(base: str, username: str) -> int:
    status, _ = Browser(base).post_form(
        "/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )
    return status


@pytest.fixture(scope="module")
def strict(module_farm):
    """A server with small name-probe and login limits."""
    return module_farm.start(
        PARLEY_NAME_CHECKS_PER_MINUTE="2",
        PARLEY_LOGIN_FAILURES_PER_USERNAME="2",
        PARLEY_LOGIN_FAILURES_PER_ADDRESS="50",
    )


async def test_a_guest_is_refused_once_someone_registers_the_name(live, room):
    alice, _, _ = await join(live.ws, room, "?name=alice2")
    bob, _, _ = await join(live.ws, room, "?name=bob")
    await send(alice, {"message": "before", "client_id": "a1"})
    assert (await next_messages(bob, 1))[0]["sender"] == "alice2"
    assert sign_up(live.http, "Alice2") == 302
    await send(alice, {"message": "after", "client_id": "a2"})
    await send(bob, {"message": "still here", "client_id": "b1"})
    error = await recv_until(alice, "error")
    assert (error["code"], error["client_id"]) == ("forbidden", "a2")
    assert [(m["sender"], m["message"]) for m in await next_messages(bob, 1)] == [("bob", "still here")]
    # A new connection under the name, or a look-alike of it, is refused at the door.
    for name in ("alice2", "\u0430lice2", "\uff41\uff4c\uff49\uff43\uff45\uff12"):
        ws = await ws_connect(room_url(live.ws, "/ws/rooms/{}/", room, "?name=" + urllib.parse.quote(name)))
        assert (await recv(ws))["code"] == "forbidden"
        assert await close_code(ws) == 4403
    # Nor can a look-alike of it be registered.
    assert sign_up(live.http, "\u0430lice2") == 400
    for ws in (alice, bob):
        await ws.close()


async def test_name_probes_run_out_then_rate_limited_with_1013(strict, room):
    assert sign_up(strict.http, "probed") == 302
    codes = []
    for name in ("probed", "PROBED", "probed", "never-registered"):
        ws = await ws_connect(room_url(strict.ws, "/ws/rooms/{}/", room, "?name=" + name))
        frame = json.loads(await ws.recv())
        codes.append((frame.get("code"), await close_code(ws)))
    assert codes == [("forbidden", 4403), ("forbidden", 4403), ("rate_limited", 1013), ("rate_limited", 1013)]
    status, page = Browser(strict.http).post_form("/rooms/lobby/name/", {"name": "probed"}, form_page="/rooms/lobby/")
    assert status == 429 and "Wait a minute" in page


def test_failed_logins_are_throttled_with_a_clear_page(strict):
    assert sign_up(strict.http, "throttled") == 302
    browser = Browser(strict.http)
    assert browser.post_form("/accounts/login/", {"username": "throttled", "password": "wrong"})[0] == 200
    status, page = browser.post_form("/accounts/login/", {"username": "throttled", "password": "wrong"})
    assert status == 429 and "Too many failed logins" in page and 'id="login-form"' in page
    status, page = browser.post_form("/accounts/login/", {"username": "throttled", "password": PASSWORD})
    assert status == 429  # even with the right password, until the cool-off ends
    # Another name from the same address is fine: its own limit is far away.
    assert sign_up(strict.http, "other-user") == 302
    assert (
        Browser(strict.http).post_form("/accounts/login/", {"username": "other-user", "password": PASSWORD})[0] == 302
    )
