"""Hostile input through every door, on PostgreSQL + Redis, as a property: whatever a client sends
(NUL, lone surrogates, control characters, huge numbers, wrong types, bodies that are not objects),
on any route of the pages, the admin and the API, any WebSocket door's handshake and any frame, the
answer is never a 5xx, never ``unavailable`` and never a 1011 or 1013 close: those mean a backend is
down or a bug, and neither is true. The routes are read from the server's own URL configuration and
OpenAPI schema, so a new route is covered without a change here."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from typing import Any
from urllib.parse import quote as _quote

import httpx
import pytest
import websockets
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Core
from tests.servers import ServerFarm

# PostgreSQL is what refuses NUL in text; the pages and the API are the same on every backend.
pytestmark = pytest.mark.scaled_only

EXAMPLES = 8  # per route and method: hypothesis explores, the whole module stays around a minute
LIMITS_OFF = {
    "PARLEY_RATE_PER_SEC": "0",
    "PARLEY_FRAME_RATE_PER_SEC": "0",
    "PARLEY_ADDRESS_HANDSHAKE_RATE": "0",
    "PARLEY_NAME_CHECKS_PER_MINUTE": "0",
    "PARLEY_LOGIN_FAILURES_PER_USERNAME": "0",
    "PARLEY_LOGIN_FAILURES_PER_ADDRESS": "0",
}
HYPOTHESIS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)

# --- What a hostile client sends ------------------------------------------------------------------


def quote(text: str, safe: str = "") -> str:
    """Percent-encoding of anything, lone surrogates included (as the bytes UTF-8 would give them)."""
    return _quote(text, safe=safe, errors="surrogatepass")


def form_body(data: dict[str, str]) -> bytes:
    return "&".join(f"{quote(k)}={quote(v)}" for k, v in data.items()).encode()


hostile_char = st.sampled_from(["\x00", "\ud800", "\udfff", "\x07", "\x1b", "\x7f", "\x85", "\u202e", "\ufeff"])
hostile_text = st.one_of(
    st.text(max_size=40),  # any code point, surrogates included
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=10), hostile_char, st.text(max_size=10)),
    st.sampled_from(["", " ", "..", "/", "%00", "a" * 300, "99999999999999999999999999", "-1", "1e400", "😀" * 3]),
)
huge_number = st.sampled_from([2**63, 2**64 + 1, -(2**63) - 1, 10**30, 1e308, -0.0, 0.5, 5.0])
json_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), huge_number, st.floats(allow_nan=False), hostile_text),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(hostile_text, inner, max_size=3)),
    max_leaves=8,
)


def json_bodies(fields: list[str]) -> st.SearchStrategy[Any]:
    """An object with the operation's own fields (hostile values), or anything at all."""
    known = st.fixed_dictionaries({}, optional={f: json_values for f in fields})
    return st.one_of(known, known.map(lambda d: {**d, "\x00": 1}), json_values)


def dumps(value: Any) -> bytes:
    """JSON as a hostile client writes it: lone surrogates as escapes, NaN/Infinity as they are."""
    return json.dumps(value, ensure_ascii=True, allow_nan=True).encode()


# --- The server and who calls it ----------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    farm = ServerFarm(tmp=tmp_path_factory.mktemp("hostile"), scaled=True, extra_env=LIMITS_OFF)
    server = farm.start()
    core = Core(farm)
    staff = f"staff_{uuid.uuid4().hex[:6]}"
    owner = f"owner_{uuid.uuid4().hex[:6]}"
    creds = {"staff": core.ok("user", None, username=staff, staff=True), "owner": core.ok("user", None, username=owner)}
    ns = core.ok("ns_create", owner, name=f"ns-{uuid.uuid4().hex[:6]}")
    core.ok("room_create", owner, ns=ns, room="hall")
    yield {"server": server, "creds": creds, "ns": ns, "owner": owner}
    core.close()
    farm.close()


class Client:
    """One person's HTTP client: session cookie, CSRF token, Bearer token."""

    def __init__(self, base: str, creds: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
        self.http.cookies.set("sessionid", creds["session"])
        self.http.cookies.set("csrftoken", "x" * 32)
        self.token = creds["token"]

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.http.close()

    def call(
        self, method: str, path: str, *, body: bytes | None = None, form: dict | None = None, api: bool
    ) -> httpx.Response:
        headers = {"X-CSRFToken": "x" * 32, "Referer": str(self.http.base_url) + "/"}
        if api:
            headers["Authorization"] = f"Bearer {self.token}"
        if body is not None:
            headers["Content-Type"] = "application/json"
            return self.http.request(method, path, content=body, headers=headers)
        if form is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            content = form_body({**form, "csrfmiddlewaretoken": "x" * 32})
            return self.http.request(method, path, content=content, headers=headers)
        return self.http.request(method, path, headers=headers)


def refused_for_a_backend(response: httpx.Response) -> str | None:
    """Why an answer is wrong (a 5xx, or the error shape's ``unavailable``), or None."""
    if response.status_code >= 500:
        return f"{response.status_code}: {response.text[:300]}"
    if "json" in response.headers.get("content-type", ""):
        try:
            error = response.json().get("error")
        except (ValueError, AttributeError):
            return None
        if isinstance(error, dict) and error.get("code") in ("unavailable", "internal"):
            return f"{response.status_code} {error}"
    return None


def hostile_path(template: str, values: dict[str, str]) -> str:
    """``template``'s ``{name}`` or ``<converter:name>`` parts filled with percent-encoded values."""
    path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", template)
    return re.sub(r"\{(\w+)\}", lambda m: quote(values.get(m.group(1), "x"), safe=""), path)


# --- The pages and the admin ----------------------------------------------------------------------


def page_routes() -> list[tuple[str, list[str]]]:
    """Every page's path template and its path parameters, the admin's included (the API has its
    own test below)."""
    found: list[tuple[str, list[str]]] = []

    def walk(patterns: list[URLPattern | URLResolver], prefix: str) -> None:
        for p in patterns:
            route = str(p.pattern)
            if isinstance(p, URLResolver):
                if route.startswith("api/") or route.startswith("^"):
                    continue
                walk(p.url_patterns, prefix + route)
            elif not route.startswith("^"):
                full = "/" + prefix + route
                found.append((full, re.findall(r"<(?:\w+:)?(\w+)>", full)))

    walk(get_resolver().url_patterns, "")
    return found


FORM_FIELDS = [
    "name",
    "room",
    "username",
    "action",
    "role",
    "code",
    "reason",
    "duration",
    "seconds",
    "private",
    "visibility",
    "max_uses",
    "expires",
    "next",
    "language",
    "password",
    "password1",
    "confirm",
]


@pytest.mark.parametrize(("template", "params"), page_routes())
def test_pages_refuse_hostile_input_without_a_5xx(site, template, params):
    with Client(site["server"].http, site["creds"]["staff"]) as client:
        hostile_pages(site, client, template, params)


def hostile_pages(site: dict, client: Client, template: str, params: list[str]) -> None:
    text_for_params = st.fixed_dictionaries({p: st.one_of(st.just(site["ns"]), hostile_text) for p in params})
    form = st.dictionaries(st.one_of(st.sampled_from(FORM_FIELDS), hostile_text), hostile_text, max_size=6)
    query = st.dictionaries(hostile_text, hostile_text, max_size=3)

    @given(values=text_for_params, data=form, args=query, method=st.sampled_from(["GET", "POST"]))
    @HYPOTHESIS
    def run(values, data, args, method):
        path = hostile_path(template, values)
        if args:
            path += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in args.items())
        response = client.call(method, path, form=data if method == "POST" else None, api=False)
        wrong = refused_for_a_backend(response)
        assert wrong is None, (method, path, data, wrong, site["server"].log()[-3000:])

    run()


# --- The API --------------------------------------------------------------------------------------


def api_operations() -> list[tuple[str, str, list[str], list[str]]]:
    """Every operation of the API's schema (built in this process from the same code as the
    server's): method, path, path parameters, the body's fields."""
    from api.app import api

    schema = api.get_openapi_schema()
    components = schema["components"]["schemas"]
    operations = []
    for path, item in schema["paths"].items():
        for method, op in item.items():
            if method == "delete" and path.startswith("/api/v1/tokens/"):
                continue  # it could revoke the caller's own token (tests/api covers it)
            params = [p["name"] for p in op.get("parameters", []) if p["in"] == "path"]
            fields: list[str] = []
            for media in op.get("requestBody", {}).get("content", {}).values():
                ref = media["schema"].get("$ref", "")
                fields = list(components.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
            operations.append((method.upper(), path, params, fields))
    return operations


@pytest.mark.parametrize(("method", "template", "params", "fields"), api_operations())
def test_every_api_operation_refuses_hostile_input_without_a_5xx(site, method, template, params, fields):
    with Client(site["server"].http, site["creds"]["owner"]) as client:
        real = {"ns": site["ns"], "room": "hall", "username": site["owner"]}
        values = st.fixed_dictionaries({p: st.one_of(st.just(real.get(p, "1")), hostile_text) for p in params})
        query = st.dictionaries(
            st.sampled_from(["before", "after", "limit", "x\x00"]),
            st.one_of(hostile_text, huge_number.map(str)),
            max_size=3,
        )

        @given(values=values, body=json_bodies(fields), args=query)
        @HYPOTHESIS
        def run(values, body, args):
            path = hostile_path(template, values)
            if args:
                path += "?" + "&".join(f"{quote(k)}={quote(str(v))}" for k, v in args.items())
            raw = dumps(body) if fields or method in ("POST", "PATCH") else None
            response = client.call(method, path, body=raw, api=True)
            wrong = refused_for_a_backend(response)
            assert wrong is None, (method, path, raw, wrong, site["server"].log()[-3000:])

        run()


# --- The WebSocket doors --------------------------------------------------------------------------

DOORS = ["/chat/{room}", "/ws/chat/{room}/", "/ws/rooms/{room}/", "/ws/ns/{ns}/{room}/", "/ws/dm/{dm}/"]
BAD_CLOSES = {1011, 1013}


async def handshake(url: str, headers: dict[str, str]) -> tuple[list[dict], int | None]:
    """Connect, read until the server closes (or stops talking), close: the frames and the code."""
    frames: list[dict] = []
    try:
        async with websockets.connect(url, additional_headers=headers, open_timeout=10) as ws:
            try:
                while True:
                    frames.append(json.loads(await asyncio.wait_for(ws.recv(), 0.4)))
            except TimeoutError:
                return frames, None
            except websockets.ConnectionClosed as closed:
                return frames, closed.rcvd.code if closed.rcvd else None
    except websockets.InvalidStatus as refused:
        return frames, refused.response.status_code


def wrong_frames(frames: list[dict], code: int | None) -> str | None:
    if code is not None and (code in BAD_CLOSES or (code >= 500 and code < 1000)):
        return f"closed with {code}: {frames[-1:]}"
    for frame in frames:
        if frame.get("type") == "error" and frame.get("code") in ("unavailable", "internal"):
            return f"error frame {frame}"
    return None


def test_every_websocket_door_refuses_hostile_handshakes_and_frames(site):
    ws_base = site["server"].ws
    token = site["creds"]["owner"]["token"]
    failures: list[str] = []

    @given(
        door=st.sampled_from(DOORS),
        values=st.fixed_dictionaries(
            {
                k: st.one_of(st.just(v), hostile_text)
                for k, v in (("room", "hall"), ("ns", site["ns"]), ("dm", site["owner"]))
            }
        ),
        query=st.dictionaries(
            st.sampled_from(["name", "after", "x"]), st.one_of(hostile_text, huge_number.map(str)), max_size=2
        ),
        bearer=st.booleans(),
    )
    @settings(HYPOTHESIS, max_examples=40)
    def handshakes(door, values, query, bearer):
        url = ws_base + hostile_path(door, values)
        if query:
            url += "?" + "&".join(f"{quote(k, safe='')}={quote(v, safe='')}" for k, v in query.items())
        frames, code = asyncio.run(handshake(url, {"Authorization": f"Bearer {token}"} if bearer else {}))
        wrong = wrong_frames(frames, code)
        if wrong:
            failures.append(f"{url}: {wrong}")

    handshakes()

    frame_values = st.one_of(
        st.fixed_dictionaries(
            {
                "type": st.sampled_from(
                    ["message", "edit", "delete", "reaction", "history", "read", "thread", "typing", "ping"]
                )
            },
            optional={
                k: json_values
                for k in (
                    "message",
                    "client_id",
                    "sender",
                    "reply_to",
                    "target",
                    "emoji",
                    "op",
                    "before",
                    "limit",
                    "up_to",
                )
            },
        ),
        json_values,
    )

    @given(frames=st.lists(frame_values, min_size=1, max_size=15), door=st.sampled_from(DOORS[:4]))
    @settings(HYPOTHESIS, max_examples=25)
    def frames_in_a_room(frames, door):
        url = ws_base + hostile_path(door, {"room": "hall", "ns": site["ns"]})

        native = door.startswith(("/ws/rooms/", "/ws/ns/"))

        async def talk() -> str | None:
            async with websockets.connect(url, additional_headers={"Authorization": f"Bearer {token}"}) as ws:
                for frame in frames:
                    await ws.send(dumps(frame).decode())
                await ws.send(json.dumps({"type": "ping"}))
                got: list[dict] = []
                try:
                    # The native door answers the ping after every change sent before it (a barrier);
                    # the seed and tutorial doors answer nothing but messages: a moment is enough.
                    while not any(f.get("type") == "pong" for f in got):
                        got.append(json.loads(await asyncio.wait_for(ws.recv(), 10 if native else 0.3)))
                except websockets.ConnectionClosed as closed:
                    return wrong_frames(got, closed.rcvd.code if closed.rcvd else None)
                except TimeoutError:
                    if native:
                        return f"no pong: {got[-3:]}"
                return wrong_frames(got, None)

        wrong = asyncio.run(talk())
        if wrong:
            failures.append(f"{door} {frames}: {wrong}")

    frames_in_a_room()
    assert not failures, "\n".join(failures[:20])
