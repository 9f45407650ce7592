"""The schema is usable by a generated client: openapi-python-client makes a Python package of
/api/v1/openapi.json, with no warning about any part of the schema, and a program uses that package
as a third party would (AuthenticatedClient and the generated `api` modules and models): who am I,
a post and the room's history read back, a namespace and its policy, and a documented error answer
parsed into the documented ErrorOut model. Everything generated is written under the test's tmp_path.
"""

from __future__ import annotations

import datetime
import importlib
import os
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path

import pytest

from tests.api.client import new_user

# The schema is the same on every backend: generated from once (test-embedded).
pytestmark = pytest.mark.embedded_only

GENERATOR = Path(sys.executable).with_name("openapi-python-client")
PACKAGE = "parley_client"


@pytest.fixture
def generated(live, tmp_path, monkeypatch):
    """The client package generated from the live server's schema, importable as `parley_client`."""
    schema = tmp_path / "openapi.json"
    with urllib.request.urlopen(f"{live.http}/api/v1/openapi.json", timeout=30) as response:
        schema.write_bytes(response.read())
    command = [
        str(GENERATOR),
        "generate",
        "--path",
        str(schema),
        "--output-path",
        str(tmp_path / PACKAGE),
        "--meta",
        "none",
        "--fail-on-warning",
    ]
    # The generator's post hooks run ruff (check --fix, format) over the package: the venv's ruff.
    env = {**os.environ, "PATH": f"{GENERATOR.parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    run = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    output = run.stdout + run.stderr
    print(output)
    assert run.returncode == 0, output
    assert "warning" not in output.lower(), output
    monkeypatch.syspath_prepend(str(tmp_path))
    yield lambda name: importlib.import_module(f"{PACKAGE}.{name}")
    for module in [m for m in sys.modules if m == PACKAGE or m.startswith(f"{PACKAGE}.")]:
        del sys.modules[module]


def test_a_generated_client_speaks_the_api(live, generated, room):
    user = new_user(live.http)
    client_module = generated("client")
    models = generated("models")
    me = generated("api.tokens.me")
    post_message = generated("api.messages.post_message")
    messages = generated("api.messages.messages")
    ns_create = generated("api.namespaces.ns_create")
    ns_update = generated("api.namespaces.ns_update")
    ns_get = generated("api.namespaces.ns_get")
    ns_post_message = generated("api.namespaces.ns_post_message")

    # Any status the schema does not document raises (errors.UnexpectedStatus).
    with client_module.AuthenticatedClient(
        base_url=live.http, token=user.token, raise_on_unexpected_status=True
    ) as client:
        who = me.sync(client=client)
        assert isinstance(who, models.MeOut)
        assert (who.username, who.guest) == (user.name, False)

        # A post to a room of public (the room's name percent-encoded by the client): the message frame.
        text = "hello from a generated client 👋"
        answer = post_message.sync_detailed(room, client=client, body=models.PostMessage(message=text))
        assert answer.status_code == 201, answer.content
        frame = answer.parsed
        assert isinstance(frame, models.MessageFrame)
        assert (frame.type_, frame.id, frame.room, frame.sender, frame.message) == (
            "message",
            1,
            room,
            user.name,
            text,
        )
        assert frame.reply_to is None and frame.mentions == []

        page = messages.sync(room, client=client)
        assert isinstance(page, models.MessagesPage)
        assert [(m.id, m.sender, m.message) for m in page.messages] == [(1, user.name, text)]
        assert page.has_more is False
        ts = page.messages[0].ts
        assert isinstance(ts, datetime.datetime) and ts.utcoffset() == datetime.timedelta(0)
        assert abs(datetime.datetime.now(datetime.UTC) - ts) < datetime.timedelta(minutes=5)
        assert ts == frame.ts

        # A namespace of the user's, its policy changed and read back.
        ns = f"gen-{uuid.uuid4().hex[:8]}"
        answer = ns_create.sync_detailed(client=client, body=models.NamespaceCreate(name=ns))
        assert answer.status_code == 201, answer.content
        assert isinstance(answer.parsed, models.NamespaceOut)
        assert (answer.parsed.name, answer.parsed.role) == (ns, models.NamespaceOutRoleType0.OWNER)
        updated = ns_update.sync(ns, client=client, body=models.PolicyPatch(max_message_chars=20))
        assert isinstance(updated, models.NamespaceOut) and updated.max_message_chars == 20
        read_back = ns_get.sync(ns, client=client)
        assert isinstance(read_back, models.NamespaceOut)
        assert (read_back.max_message_chars, read_back.visibility) == (20, models.NamespaceOutVisibility.OPEN)

        # Documented error answers come back parsed into the documented model, ErrorOut.
        empty = post_message.sync_detailed(room, client=client, body=models.PostMessage(message=""))
        assert empty.status_code == 400, empty.content
        assert isinstance(empty.parsed, models.ErrorOut)
        assert empty.parsed.error.code == "empty_message"
        long = ns_post_message.sync_detailed(ns, room, client=client, body=models.PostMessage(message="x" * 21))
        assert long.status_code == 413, long.content
        assert isinstance(long.parsed, models.ErrorOut)
        assert long.parsed.error.code == "too_large"
