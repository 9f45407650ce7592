"""A small HTTP client for the API tests: JSON requests with a token or a browser's session."""

from __future__ import annotations

import http.cookiejar
import json
import re
import urllib.error
import urllib.parse
import urllib.request
import uuid
from dataclasses import dataclass, field
from typing import Any

PASSWORD = "a long enough password 42"


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    text: str

    @property
    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def code(self) -> str | None:
        """The error code of an error answer."""
        return self.json["error"]["code"]


def request(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    *,
    token: str | None = None,
    headers: dict[str, str] | None = None,
    raw: bytes | None = None,
    opener: urllib.request.OpenerDirector | None = None,
) -> Answer:
    """``method path`` with ``body`` as JSON (or ``raw`` bytes), a Bearer ``token`` if given."""
    sent = dict(headers or {})
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    if data is not None:
        sent.setdefault("Content-Type", "application/json")
    if token is not None:
        sent["Authorization"] = f"Bearer {token}"
    req = urllib.request.Request(base + path, data=data, method=method, headers=sent)
    opener = opener or urllib.request.build_opener(NoRedirect())
    try:
        with opener.open(req, timeout=30) as response:
            return Answer(
                response.status, {k.lower(): v for k, v in response.headers.items()}, response.read().decode()
            )
    except urllib.error.HTTPError as error:
        return Answer(error.code, {k.lower(): v for k, v in error.headers.items()}, error.read().decode())


def room_path(room: str) -> str:
    """A room's path segment: percent-encoded UTF-8."""
    return urllib.parse.quote(room, safe="")


@dataclass
class Browser:
    """A browser's session: cookies, the CSRF token, forms."""

    base: str
    jar: http.cookiejar.CookieJar = field(default_factory=http.cookiejar.CookieJar)

    def __post_init__(self) -> None:
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def get(self, path: str) -> Answer:
        return request(self.base, "GET", path, opener=self.opener)

    def post_form(self, path: str, data: dict[str, str], *, form_page: str | None = None) -> Answer:
        page = self.get(form_page or path).text
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert token is not None, page[:2000]
        body = urllib.parse.urlencode({**data, "csrfmiddlewaretoken": token.group(1)}).encode()
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        return request(self.base, "POST", path, raw=body, headers=headers, opener=self.opener)

    def csrf(self) -> str:
        return next(c.value for c in self.jar if c.name == "csrftoken")

    def api(self, method: str, path: str, body: Any = None, *, csrf: bool = True, **kw: Any) -> Answer:
        headers = dict(kw.pop("headers", {}) or {})
        if csrf:
            headers["X-CSRFToken"] = self.csrf()
        return request(self.base, method, path, body, headers=headers, opener=self.opener, **kw)


def sign_up(base: str, username: str | None = None) -> Browser:
    """A new account, logged in (the signup form logs in)."""
    username = username or f"u{uuid.uuid4().hex[:10]}"
    browser = Browser(base)
    answer = browser.post_form(
        "/accounts/signup/", {"username": username, "password1": PASSWORD, "password2": PASSWORD}
    )
    assert answer.status == 302, answer.text[:2000]
    browser.username = username  # type: ignore[attr-defined]
    return browser


def new_token(base: str, username: str, name: str = "test", **extra: Any) -> Answer:
    return request(base, "POST", "/api/v1/tokens", {"username": username, "password": PASSWORD, "name": name, **extra})


@dataclass
class User:
    name: str
    token: str
    browser: Browser


def new_user(base: str, username: str | None = None) -> User:
    browser = sign_up(base, username)
    answer = new_token(base, browser.username)  # type: ignore[attr-defined]
    assert answer.status == 201, answer.text
    return User(name=browser.username, token=answer.json["token"], browser=browser)  # type: ignore[attr-defined]
