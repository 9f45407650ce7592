"""Hardened deployment: security headers on every page, PARLEY_HTTPS against real servers, check --deploy.

The HTTP tests talk to real server processes (tests/servers.py) with http.client, which follows no
redirect and sends exactly the headers given, as a client or a proxy in front of Parley would.
"""

from __future__ import annotations

import http.client
import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from http.cookies import SimpleCookie

import pytest
from django.test import RequestFactory

from parley.middleware import believe_trusted_proxy
from tests.servers import ROOT, Server, ServerFarm, scaled_configuration

# The policy every page carries (parley/settings.py), directive by directive.
POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "media-src": "'self'",
    "connect-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
# Path and status: every page, including the error pages.
PAGES = {
    "/": 200,
    "/rooms/x/": 200,
    "/accounts/login/": 200,
    "/accounts/signup/": 200,
    "/no-such-page/": 404,
    "/rooms/a%20b/": 400,  # not a room name
}
YEAR = 365 * 24 * 3600

# The production settings docs/deployment.md documents (with a real key of the documented kind).
PRODUCTION = {
    "DEBUG": "0",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "ALLOWED_HOSTS": "chat.example.org",
    "CSRF_TRUSTED_ORIGINS": "https://chat.example.org",
    "PARLEY_HTTPS": "1",
    "PARLEY_TRUSTED_PROXIES": "10.0.0.2",
}


@pytest.fixture(scope="module")
def security_farm(tmp_path_factory):
    f = ServerFarm(tmp=tmp_path_factory.mktemp("security"), scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture(scope="module")
def plain(security_farm) -> Server:
    """The default: no PARLEY_HTTPS."""
    return security_farm.start()


@pytest.fixture(scope="module")
def https_direct(security_farm) -> Server:
    """PARLEY_HTTPS=1 with no trusted proxy: every peer is a client, whatever it claims."""
    return security_farm.start(PARLEY_HTTPS="1")


@pytest.fixture(scope="module")
def https_proxied(security_farm) -> Server:
    """PARLEY_HTTPS=1 behind a TLS proxy on 127.0.0.1 (the test is that proxy)."""
    return security_farm.start(PARLEY_HTTPS="1", PARLEY_TRUSTED_PROXIES="127.0.0.1")


def get(server: Server, path: str, **headers: str) -> tuple[http.client.HTTPResponse, str]:
    return request(server, "GET", path, headers=headers)


def request(
    server: Server, method: str, path: str, *, headers: dict[str, str] | None = None, body: str | None = None
) -> tuple[http.client.HTTPResponse, str]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers={k.replace("_", "-"): v for k, v in (headers or {}).items()})
        response = conn.getresponse()
        return response, response.read().decode()
    finally:
        conn.close()


def policy(header: str) -> dict[str, str]:
    """``"a x; b y z"`` -> ``{"a": "x", "b": "y z"}``."""
    parts = [p.strip().split(None, 1) for p in header.split(";") if p.strip()]
    return {p[0]: p[1] if len(p) > 1 else "" for p in parts}


class InlineFinder(HTMLParser):
    """Collects what a policy without 'unsafe-inline' would block: inline scripts, <style>, style=
    attributes, on* handlers and javascript: URLs."""

    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []
        self._script_inline = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "script":
            data_block = attrs.get("type") == "application/json"  # json_script: data, not code
            self._script_inline = "src" not in attrs and not data_block
        if tag == "style":
            self.found.append("<style>")
        for name, value in attrs.items():
            if name == "style" or name.startswith("on"):
                self.found.append(f"<{tag} {name}=...>")
            if name in ("href", "src", "action") and (value or "").strip().lower().startswith("javascript:"):
                self.found.append(f"<{tag} {name}=javascript:...>")

    def handle_data(self, data):
        if self._script_inline and data.strip():
            self.found.append(f"inline script: {data.strip()[:60]}")

    def handle_endtag(self, tag):
        if tag == "script":
            self._script_inline = False


def inline_code(html: str) -> list[str]:
    finder = InlineFinder()
    finder.feed(html)
    return finder.found


# --- Headers on every page ------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status"), PAGES.items())
def test_every_page_carries_the_policy_and_the_headers(plain, path, status):
    response, html = get(plain, path)
    assert response.status == status
    assert policy(response.getheader("Content-Security-Policy", "")) == POLICY
    assert response.getheader("X-Frame-Options") == "DENY"
    assert response.getheader("X-Content-Type-Options") == "nosniff"
    assert response.getheader("Referrer-Policy") == "same-origin"
    # Plain HTTP without PARLEY_HTTPS: served, no HSTS.
    assert response.getheader("Strict-Transport-Security") is None
    assert inline_code(html) == []


def test_the_room_page_itself_has_no_inline_code_and_loads_only_its_own_files(plain):
    """/rooms/x/ above is the guest's name form; this is the chat page a named guest gets."""
    response, html = get(plain, "/rooms/x/")
    jar = cookies(response)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    response, _ = request(
        plain,
        "POST",
        "/rooms/x/name/",
        headers={"Content-Type": "application/x-www-form-urlencoded", "Cookie": f"csrftoken={jar['csrftoken'].value}"},
        body=f"csrfmiddlewaretoken={token}&name=visitor",
    )
    assert response.status == 302
    response, html = get(plain, "/rooms/x/", Cookie=f"sessionid={cookies(response)['sessionid'].value}")
    assert response.status == 200
    assert 'id="composer"' in html
    assert policy(response.getheader("Content-Security-Policy", "")) == POLICY
    assert inline_code(html) == []
    assert '<script id="room-config" type="application/json">' in html
    for url in re.findall(r'<(?:script|link)[^>]+(?:src|href)="([^"]+)"', html):
        assert url.startswith("/static/"), url


def test_the_inline_finder_finds_what_the_policy_would_block():
    page = (
        '<script>alert(1)</script><style>p{}</style><p style="color:red" onclick="x()">'
        '<a href="javascript:x()">x</a><script src="/s.js"></script>'
        '<script type="application/json">{"a": 1}</script>'
    )
    assert inline_code(page) == [
        "inline script: alert(1)",
        "<style>",
        "<p style=...>",
        "<p onclick=...>",
        "<a href=javascript:...>",
    ]


# --- PARLEY_HTTPS ---------------------------------------------------------------------------------


def cookies(response: http.client.HTTPResponse) -> SimpleCookie:
    jar = SimpleCookie()
    for header in response.headers.get_all("Set-Cookie") or []:
        jar.load(header)
    return jar


def test_plain_http_is_redirected_to_https(https_direct):
    response, _ = get(https_direct, "/rooms/x/?a=1")
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{https_direct.port}/rooms/x/?a=1"


def test_x_forwarded_proto_from_an_untrusted_peer_is_not_believed(https_direct):
    response, _ = get(https_direct, "/", X_Forwarded_Proto="https")
    assert response.status == 301
    assert response.getheader("Location") == f"https://127.0.0.1:{https_direct.port}/"
    assert response.getheader("Strict-Transport-Security") is None


def test_a_trusted_proxy_without_x_forwarded_proto_is_plain_http(https_proxied):
    response, _ = get(https_proxied, "/")
    assert response.status == 301


def test_behind_a_trusted_tls_proxy_pages_are_served_with_hsts_and_secure_cookies(https_proxied):
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
    response, html = get(https_proxied, "/accounts/signup/", **proxy)
    assert response.status == 200
    assert response.getheader("Strict-Transport-Security") == f"max-age={YEAR}; includeSubDomains; preload"
    assert policy(response.getheader("Content-Security-Policy", "")) == POLICY
    csrf_cookie = cookies(response)["csrftoken"]
    assert csrf_cookie["secure"] is True

    # Sign up (which logs in): the session cookie is Secure too. The browser's Origin is https.
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    name = f"sec{secrets.token_hex(4)}"
    password = secrets.token_urlsafe(16)
    body = f"csrfmiddlewaretoken={token}&username={name}&password1={password}&password2={password}&next=/"
    response, _ = request(
        https_proxied,
        "POST",
        "/accounts/signup/",
        headers={
            **proxy,
            "Content-Type": "application/x-www-form-urlencoded",
            "Cookie": f"csrftoken={csrf_cookie.value}",
            "Origin": f"https://127.0.0.1:{https_proxied.port}",
        },
        body=body,
    )
    assert response.status == 302, response.status
    assert response.getheader("Location") == "/"
    session = cookies(response)["sessionid"]
    assert session.value
    assert session["secure"] is True
    assert session["httponly"] is True


def test_without_parley_https_cookies_are_not_secure(plain):
    response, _ = get(plain, "/accounts/login/")
    assert cookies(response)["csrftoken"]["secure"] == ""


# --- The middleware's own rule --------------------------------------------------------------------


def forwarded(peer: str, **headers: str):
    request = RequestFactory().get("/", REMOTE_ADDR=peer, **headers)
    believe_trusted_proxy(request)
    return request


def test_forwarded_headers_from_an_untrusted_peer_are_dropped(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.2"]
    request = forwarded("198.51.100.9", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="10.9.9.9")
    assert request.META["REMOTE_ADDR"] == "198.51.100.9"
    assert "HTTP_X_FORWARDED_PROTO" not in request.META
    assert "HTTP_X_FORWARDED_FOR" not in request.META
    assert not request.is_secure()


def test_a_trusted_proxy_names_the_client_and_the_scheme(settings):
    settings.PARLEY_TRUSTED_PROXIES = ["10.0.0.0/24"]
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    # A client's own claim comes first; each trusted hop appended what it saw.
    request = forwarded(
        "10.0.0.2", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7, 10.0.0.3"
    )
    assert request.META["REMOTE_ADDR"] == "203.0.113.7"
    assert "HTTP_X_FORWARDED_FOR" not in request.META  # consumed: REMOTE_ADDR is the client now
    assert request.is_secure()


def test_no_trusted_proxies_means_nobody_is_believed(settings):
    settings.PARLEY_TRUSTED_PROXIES = []
    request = forwarded("127.0.0.1", HTTP_X_FORWARDED_PROTO="https", HTTP_X_FORWARDED_FOR="203.0.113.7")
    assert request.META["REMOTE_ADDR"] == "127.0.0.1"
    assert "HTTP_X_FORWARDED_PROTO" not in request.META


# --- manage.py check --deploy ---------------------------------------------------------------------


def check_deploy(env: dict[str, str]) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("PARLEY_", "DJANGO_"))}
    for name in ("DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "CSRF_TRUSTED_ORIGINS"):
        base.pop(name, None)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy"],
        cwd=ROOT,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_with_the_documented_production_settings():
    result = check_deploy(PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues" in result.stdout, result.stdout + result.stderr


def test_check_deploy_warns_without_https_and_with_the_development_key():
    result = check_deploy({**PRODUCTION, "PARLEY_HTTPS": "0", "SECRET_KEY": ""})
    found = set(re.findall(r"security\.W\d+", result.stdout + result.stderr))
    assert {"security.W004", "security.W008", "security.W009", "security.W012", "security.W016"} <= found
