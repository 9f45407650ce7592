"""The page /accounts/tokens/: list, create (the secret shown once), revoke; logged-in users only."""

from __future__ import annotations

import re

from tests.api.client import Browser, request, sign_up


def test_tokens_page(live):
    assert Browser(live.http).get("/accounts/tokens/").status == 302  # to the login page
    browser = sign_up(live.http)
    page = browser.get("/accounts/tokens/")
    assert page.status == 200 and "No tokens yet." in page.text

    made = browser.post_form("/accounts/tokens/", {"name": "laptop script", "expires_days": "30"})
    assert made.status == 200
    secret = re.search(r'id="new-token-secret">(parley_[^<]+)<', made.text).group(1)
    assert request(live.http, "GET", "/api/v1/me", token=secret).json["username"] == browser.username
    again = browser.get("/accounts/tokens/")
    assert "laptop script" in again.text and secret not in again.text  # shown once

    token_id = re.search(r'data-token-id="(\d+)"', again.text).group(1)
    refused = request(live.http, "POST", f"/accounts/tokens/{token_id}/revoke/", opener=browser.opener)
    assert refused.status == 403  # no CSRF token
    revoked = browser.post_form(f"/accounts/tokens/{token_id}/revoke/", {}, form_page="/accounts/tokens/")
    assert revoked.status == 302
    assert request(live.http, "GET", "/api/v1/me", token=secret).status == 401
    assert "laptop script" not in browser.get("/accounts/tokens/").text

    bad = browser.post_form("/accounts/tokens/", {"name": "", "expires_days": "3"})
    assert bad.status == 400


def test_tokens_page_in_korean(live):
    browser = sign_up(live.http)
    page = request(live.http, "GET", "/accounts/tokens/", opener=browser.opener, headers={"Accept-Language": "ko"})
    assert "API 토큰" in page.text and "토큰 만들기" in page.text
