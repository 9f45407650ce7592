from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.api.client import User, new_user, request
from tests.hooks.receiver import Receiver
from tests.servers import ServerFarm, scaled_configuration

# Fast retries for tests: backoff 0.2 s doubling to 1 s, paused after 4 failures in a row, polled
# every 0.2 s, a lease of 3 s (a killed process's hooks move on after that); loopback receivers.
FAST = {
    "PARLEY_RATE_PER_SEC": "0",
    "PARLEY_WEBHOOK_ALLOW_PRIVATE": "1",
    "PARLEY_WEBHOOK_RETRY_BASE": "0.2",
    "PARLEY_WEBHOOK_RETRY_MAX": "1",
    "PARLEY_WEBHOOK_PAUSE_AFTER": "4",
    "PARLEY_WEBHOOK_POLL": "0.2",
    "PARLEY_WEBHOOK_LEASE": "3",
    "PARLEY_WEBHOOK_TIMEOUT": "2",
}


@pytest.fixture(scope="module")
def module_farm(tmp_path_factory):
    f = ServerFarm(tmp=tmp_path_factory.mktemp("hooks"), scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture(scope="module")
def srv(module_farm):
    return module_farm.start(**FAST)


@pytest.fixture
def receiver():
    r = Receiver()
    r.start()
    yield r
    r.stop()


def call(srv: Any, who: User | str | None, method: str, path: str, body: Any = None) -> Any:
    token = who.token if isinstance(who, User) else who
    return request(srv.http, method, "/api/v1" + path, body, token=token)


@pytest.fixture(scope="module")
def team(srv):
    """A members-only namespace with a room: its owner, a moderator, a member, an outsider."""
    owner, mod, member, outsider = (new_user(srv.http) for _ in range(4))
    ns = f"hooks-{uuid.uuid4().hex[:8]}"
    assert call(srv, owner, "POST", "/ns", {"name": ns, "visibility": "members"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": mod.name, "role": "moderator"}).status == 201
    assert call(srv, owner, "POST", f"/ns/{ns}/members", {"username": member.name}).status == 201
    return {"ns": ns, "owner": owner, "mod": mod, "member": member, "outsider": outsider}


def new_room(srv: Any, team: dict[str, Any]) -> str:
    room = f"r-{uuid.uuid4().hex[:6]}"
    assert call(srv, team["owner"], "POST", f"/ns/{team['ns']}/rooms", {"name": room}).status == 201
    return room
