"""The composer's preview: ``POST /preview/`` (the room page's: session and CSRF, guests too) and
``POST /api/v1/preview`` (a token; one write of the budget), against a live server."""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator

import pytest

from markup import render
from tests.api.client import Answer, Browser, new_user, request
from tests.servers import Server, ServerFarm, scaled_configuration

TEXT = "**굵게** `code` @lee https://example.com\n\n```python\nx = 1\n```"
_addresses = itertools.count(1)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    # The loopback is a trusted proxy here, so each test previews from an address of its own
    # (X-Forwarded-For): the page's budget is per client address. A user's writes: a burst of 30,
    # then one every 100 s (the budget's end is not a race with its refill).
    farm = ServerFarm(
        tmp=tmp_path_factory.mktemp("preview"),
        scaled=scaled_configuration(),
        extra_env={"PARLEY_TRUSTED_PROXIES": "127.0.0.1", "PARLEY_RATE_PER_SEC": "0.01"},
    )
    try:
        yield farm.start()
    finally:
        farm.close()


def until_limited(send: Callable[[], Answer], most: int = 500) -> list[Answer]:
    """Send until a 429 comes (however slowly the machine sends): the answers, the 429 last; every
    one before it a 200."""
    answers = []
    while len(answers) < most:
        answers.append(answer := send())
        if answer.status != 200:
            assert answer.status == 429, answer.text[:300]
            return answers
    raise AssertionError(f"no 429 in {most} requests")


class Page:
    """A browser on the room page, previewing from an address of its own."""

    def __init__(self, live: Server, browser: Browser | None = None) -> None:
        self.browser = browser or Browser(live.http)
        assert self.browser.get("/rooms/lobby/").status == 200  # the session's CSRF cookie
        self.address = f"10.0.{next(_addresses)}.1"

    def preview(self, body: object = None, *, raw: bytes | None = None, csrf: bool = True):
        headers = {"X-Forwarded-For": self.address}
        if csrf:
            headers["X-CSRFToken"] = self.browser.csrf()
        return request(
            self.browser.base, "POST", "/preview/", body, raw=raw, headers=headers, opener=self.browser.opener
        )


def test_the_page_preview_is_render_s_html(live):
    page = Page(live)
    answer = page.preview({"message": TEXT})
    assert answer.status == 200 and answer.headers["content-type"] == "application/json"
    assert answer.json == {"html": render(TEXT)}  # no mention marked: the preview knows of none
    assert '<pre><code class="language-python">' in answer.json["html"]
    assert page.preview({"message": "안녕하세요"}).json == {"html": "<p>안녕하세요</p>\n"}
    assert page.preview({"message": ""}).json == {"html": ""}
    # A logged-in user's page previews the same way.
    user = new_user(live.http)
    assert Page(live, user.browser).preview({"message": TEXT}).json == {"html": render(TEXT)}


def test_the_page_preview_needs_the_csrf_token(live):
    page = Page(live)
    refused = page.preview({"message": "x"}, csrf=False)
    assert refused.status == 403
    stranger = request(live.http, "POST", "/preview/", {"message": "x"}, headers={"X-Forwarded-For": page.address})
    assert stranger.status == 403  # no session, no cookie
    assert page.browser.get("/preview/").status == 405  # POST only


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"message": 5}, 400, "invalid_frame"),
        ({"message": None}, 400, "invalid_frame"),
        ({"message": ["x"]}, 400, "invalid_frame"),
        ({"text": "x"}, 400, "invalid_frame"),
        (["x"], 400, "invalid_frame"),
        ("x", 400, "invalid_frame"),
        ({"message": "x" * 100_001}, 413, "too_large"),
    ],
)
def test_the_page_preview_refuses(live, body, status, code):
    answer = Page(live).preview(body)
    assert (answer.status, answer.json["error"]["code"]) == (status, code), answer.text[:300]


def test_the_page_preview_refuses_bad_json(live):
    for raw in (b"{message: 1}", b"", b"\xff\xfe"):
        answer = Page(live).preview(raw=raw)
        assert (answer.status, answer.json["error"]["code"]) == (400, "invalid_json"), (raw, answer.text[:300])


def test_the_page_preview_has_a_budget_per_address(live):
    page = Page(live)
    answers = until_limited(lambda: page.preview({"message": "x"}))
    assert len(answers) > 10  # a burst of 10, then 2 a second
    limited = answers[-1]
    assert (limited.status, limited.json["error"]["code"]) == (429, "rate_limited")
    assert Page(live).preview({"message": "x"}).status == 200  # another address has its own


def test_the_api_preview(live):
    user = new_user(live.http)
    answer = request(live.http, "POST", "/api/v1/preview", {"message": TEXT}, token=user.token)
    assert answer.status == 200 and answer.json == {"html": render(TEXT)}
    assert request(live.http, "POST", "/api/v1/preview", {"message": "x"}).status == 401  # guests: no API
    # A session needs the CSRF header, as every API write.
    refused = user.browser.api("POST", "/api/v1/preview", {"message": "x"}, csrf=False)
    assert (refused.status, refused.code) == (403, "forbidden")
    assert user.browser.api("POST", "/api/v1/preview", {"message": "x"}).json == {"html": "<p>x</p>\n"}
    for body, status, code in (
        ({"message": 5}, 400, "invalid_frame"),
        ({"message": "x", "extra": 1}, 400, "invalid_frame"),
        ({}, 400, "invalid_frame"),
        ({"message": "x" * 100_001}, 413, "too_large"),
    ):
        answer = request(live.http, "POST", "/api/v1/preview", body, token=user.token)
        assert (answer.status, answer.code) == (status, code), (body if len(str(body)) < 99 else "long", answer.text)
    bad = request(live.http, "POST", "/api/v1/preview", raw=b"{", token=user.token)
    assert (bad.status, bad.code) == (400, "invalid_json")


def test_the_api_preview_spends_the_write_budget(live):
    user = new_user(live.http)
    answers = until_limited(lambda: request(live.http, "POST", "/api/v1/preview", {"message": "x"}, token=user.token))
    assert len(answers) == 31  # the burst of 30, then the 429
    limited = answers[-1]
    assert (limited.status, limited.code) == (429, "rate_limited") and int(limited.headers["retry-after"]) >= 1
    # The same budget as a post's.
    post = request(live.http, "POST", "/api/v1/rooms/lobby/messages", {"message": "x"}, token=user.token)
    assert post.status == 429
    assert json.loads(post.text)["error"]["code"] == "rate_limited"
