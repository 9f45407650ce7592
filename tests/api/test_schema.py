"""The schema against the server, the way a third party checks it: schemathesis's CLI (`st run`)
with all its default checks, on a live server, from /api/v1/openapi.json.

Every operation gets the coverage phase's boundary and schema-violating input, fuzzed input and
stateful sequences (schemathesis's defaults), with a user's valid token. The default checks then
require of every answer: no 5xx; a documented status, content type, headers and body; input that
violates the schema rejected (4xx), input that matches it not rejected for being invalid; no
answer that ignores credentials; deleted resources gone, created ones readable.

Two settings make it bite, in a config file as a user would write:

- Realistic parameters: before the run, the fuzzing user gets a namespace of its own with a room
  (a public room of the same name too) holding a few messages, a private room, a second member and
  an invite. Schemathesis dictionaries bind the path and body parameters (``ns``, ``room``,
  ``message_id``, ``username``, ``code``, ...) to those values in most generated cases, so that
  generated requests reach the routes' real logic (moderation, edits, reactions, members) rather
  than a 404; the other cases stay fuzzed.
- 413 ``too_large`` counts as a correct rejection: a message longer than its namespace's
  ``max_message_chars`` (the schema's ``maxLength`` is the server's default). No 5xx is ever
  expected, so the default ``5xx`` entries are left out.

Runs in a temporary directory (no report, cache or ``.hypothesis`` in the repository), a fixed
seed, no example database, ``DELETE /tokens/{token_id}`` left out (it could revoke the run's own
token). The server runs without the write rate limit, so generated writes reach the routes' checks.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.api.client import new_user, request, room_path

# The schema is the same on every backend: fuzzed once (test-embedded), within make test's time.
pytestmark = pytest.mark.embedded_only

ST = Path(sys.executable).with_name("st")
SEED = 20261125
EXAMPLES = 10  # per operation and phase; with the coverage phase (~2,000 cases) the run takes about a minute
PROBABILITY = 0.7  # the share of generated cases that use the real values

# schemathesis.config._checks.NEGATIVE_DATA_REJECTION_EXPECTED_STATUSES without "5xx", plus 413.
NEGATIVE_REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
# schemathesis.config._checks.POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES without "5xx", plus 413.
POSITIVE_REFUSED = ["2xx", "3xx", "401", "403", "404", "409", "413", "429"]


@pytest.fixture(scope="module")
def fuzzed(module_farm):
    """A server without the write rate limit, so generated writes reach the routes' own checks."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")


def ok(answer, status: int = 201):
    assert answer.status == status, (answer.status, answer.text)
    return answer.json


def world(base: str) -> tuple[str, dict[str, list]]:
    """The fuzzing user's token, and the names and ids that exist: a namespace it owns with a room
    of messages (and a public room of the same name), a private room, a second member, an invite."""
    user, other = new_user(base), new_user(base)
    ns, room, private = f"fuzz-{uuid.uuid4().hex[:6]}", f"방-{uuid.uuid4().hex[:6]}", "비밀"
    post, token = (lambda path, body: request(base, "POST", path, body, token=user.token)), user.token
    ok(post("/api/v1/ns", {"name": ns}))
    ok(post(f"/api/v1/ns/{ns}/members", {"username": other.name}))
    ok(post(f"/api/v1/ns/{ns}/rooms", {"name": private, "private": True}))
    ok(post(f"/api/v1/ns/{ns}/rooms/{room_path(private)}/members", {"username": other.name}))
    rooms = [f"/api/v1/rooms/{room_path(room)}", f"/api/v1/ns/{ns}/rooms/{room_path(room)}"]
    rooms += [f"/api/v1/ns/{ns}/rooms/{room_path(private)}", f"/api/v1/dm/{other.name}"]
    ids = [1, 2, 3]
    for path in rooms:
        for i in ids:
            reply = {"reply_to": 1} if i == 3 else {}
            assert ok(post(f"{path}/messages", {"message": f"hello @{other.name} #{i}", **reply}))["id"] == i
    code = ok(post(f"/api/v1/ns/{ns}/invites", {}))["code"]
    values = {
        "namespaces": [ns],
        "rooms": [room, private],
        "message-ids": ids,
        "usernames": [user.name, other.name],
        "invites": [code],
        "emoji": ["👍", "🎉"],
    }
    return token, values


def config(values: dict[str, list]) -> str:
    """schemathesis.toml: the checks' expected statuses, the dictionaries and their bindings."""
    bindings = {
        "path.ns": "namespaces",
        "path.room": "rooms",
        "path.message_id": "message-ids",
        "path.username": "usernames",
        "path.code": "invites",
        "body.username": "usernames",
        "body.code": "invites",
        "body.reply_to": "message-ids",
        "body.up_to": "message-ids",
        "body.emoji": "emoji",
    }
    q = lambda value: json.dumps(value, ensure_ascii=False)  # noqa: E731 (a TOML string or array)
    lines = [
        "[cache]",
        "enabled = false",
        "",
        "[checks.negative_data_rejection]",
        f"expected-statuses = {q(NEGATIVE_REJECTED)}",
        "",
        "[checks.positive_data_acceptance]",
        f"expected-statuses = {q(POSITIVE_REFUSED)}",
    ]
    for name, entries in values.items():
        lines += ["", f"[dictionaries.{name}]", f"values = {q(entries)}"]
    lines += ["", "[parameters]"]
    lines += [f'"{key}" = {{ dictionary = "{name}", probability = {PROBABILITY} }}' for key, name in bindings.items()]
    return "\n".join(lines) + "\n"


def test_schemathesis_cli_with_all_default_checks(fuzzed, tmp_path):
    token, values = world(fuzzed.http)
    (tmp_path / "schemathesis.toml").write_text(config(values), encoding="utf-8")
    command = [
        str(ST),
        "--config-file",
        "schemathesis.toml",
        "run",
        f"{fuzzed.http}/api/v1/openapi.json",
        "--header",
        f"Authorization: Bearer {token}",
        "--exclude-path-regex",
        r"^/api/v1/tokens/\{token_id\}$",
        "--max-examples",
        str(EXAMPLES),
        "--seed",
        str(SEED),
        "--generation-database",
        "none",
        "--no-color",
    ]
    started = time.monotonic()
    run = subprocess.run(
        command, cwd=tmp_path, env={**os.environ, "NO_COLOR": "1"}, capture_output=True, text=True, timeout=170
    )
    took = time.monotonic() - started
    output = run.stdout + run.stderr
    print(f"st run: exit code {run.returncode} in {took:.0f} s\n{output}")
    assert run.returncode == 0, output
    assert "Configuration:    " in output  # the config file was read
