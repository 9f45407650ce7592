from __future__ import annotations

import uuid

import pytest

from tests.servers import ServerFarm, scaled_configuration


@pytest.fixture(scope="module")
def module_farm(tmp_path_factory):
    """Servers shared by the tests of one module (each test uses its own rooms)."""
    f = ServerFarm(tmp=tmp_path_factory.mktemp("farm"), scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture(scope="module")
def live(module_farm):
    """A server on this run's configuration with the default limits."""
    return module_farm.start()


@pytest.fixture(scope="module")
def unlimited(module_farm):
    """A server without a rate limit, for load: many messages from few connections."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")


@pytest.fixture
def room() -> str:
    return f"방-{uuid.uuid4().hex[:8]}"


# --- Namespaces, roles and moderation from outside the servers -----------------------------------

# A process of its own on a farm's database and Redis prefix that runs chat.namespaces (and
# chat.moderation's do_*, which publish kicks, bans and policy changes on the farm's bus) for the
# tests: the same calls the API makes, usable before (and besides) the API. One JSON line in, one
# out: {"op": ..., "actor": username or null (a guest), ...} -> {"ok": ...} or {"error": code}.
CORE_DRIVER = r"""
import asyncio, json, os, sys, traceback
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "parley.settings")
import django
django.setup()
from django.contrib.auth import get_user_model
from chat import access, db, moderation, namespaces
from chat.access import Caller
from chat.models import Sanction
from chat.protocol import ProtocolError

User = get_user_model()
out = sys.stdout
sys.stdout = sys.stderr  # only answers on the real stdout


def caller(actor):
    if actor is None:
        return access.GUEST
    user = User.objects.get(username=actor)
    return Caller(user_id=user.pk, staff=user.is_staff)


def ns_of(c, ns):
    return access.access_namespace(c, ns)


def room_of(c, ns, room):
    return access.access_room(c, access.access_namespace(c, ns), room)


def user(actor, username, staff=False, credentials=True):
    # A new account (no password: hashing one costs a second) with, if credentials, an API token
    # and a logged-in session: {"token", "session"}.
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from accounts import tokens

    account = User.objects.create_user(username, is_staff=staff)
    if not credentials:
        return {}
    _, secret = tokens.token_create(account, "tests")
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(account.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = account.get_session_auth_hash()
    session.create()
    return {"token": secret, "session": session.session_key}


def ns_create(actor, name, fields=None):
    return namespaces.ns_create(caller(actor), name, fields or {}).namespace.name


def member_set(actor, ns, username, role):
    c = caller(actor)
    return namespaces.member_set(c, ns_of(c, ns), username, role)


def room_create(actor, ns, room, private=False):
    c = caller(actor)
    return namespaces.room_create(c, ns_of(c, ns), room, private=private).address


def room_member_add(actor, ns, room, username):
    c = caller(actor)
    return namespaces.room_member_add(c, room_of(c, ns, room), username)


def see(actor, ns, room=None):
    c = caller(actor)
    if room is None:
        return ns_of(c, ns).namespace.name
    return room_of(c, ns, room).room.address


def audit(actor, ns):
    c = caller(actor)
    return namespaces.audit_entries(ns_of(c, ns))


def members(actor, ns):
    c = caller(actor)
    return namespaces.members(ns_of(c, ns))


def kick_room(c, ns, room):
    found = access.access_namespace(c, ns)
    found.require_moderator()  # before the room (the target) is looked up
    return access.access_room(c, found, room)


async def kick(actor, ns, room, username=None, guest=None):
    c = await db.call(caller, actor)
    r = await db.call(kick_room, c, ns, room)
    await moderation.do_kick(c, r, username=username, guest=guest)


async def mute(actor, ns, username, seconds=None):
    c = await db.call(caller, actor)
    row = await moderation.do_mute(c, await db.call(ns_of, c, ns), username, seconds=seconds)
    return row.until.isoformat() if row.until else None


async def ban(actor, ns, username, seconds=None):
    c = await db.call(caller, actor)
    row = await moderation.do_ban(c, await db.call(ns_of, c, ns), username, seconds=seconds)
    return row.until.isoformat() if row.until else None


async def unmute(actor, ns, username):
    c = await db.call(caller, actor)
    await moderation.do_lift(c, await db.call(ns_of, c, ns), Sanction.Kind.MUTE, username)


async def unban(actor, ns, username):
    c = await db.call(caller, actor)
    await moderation.do_lift(c, await db.call(ns_of, c, ns), Sanction.Kind.BAN, username)


async def ns_update(actor, ns, fields):
    c = await db.call(caller, actor)
    updated = await moderation.do_ns_update(c, await db.call(ns_of, c, ns), fields)
    return updated.policy.fields()


async def member_set_live(actor, ns, username, role):
    c = await db.call(caller, actor)
    return await moderation.do_member_set(c, await db.call(ns_of, c, ns), username, role)


async def member_remove(actor, ns, username):
    c = await db.call(caller, actor)
    await moderation.do_member_remove(c, await db.call(ns_of, c, ns), username)


async def room_member_remove(actor, ns, room, username):
    c = await db.call(caller, actor)
    await moderation.do_room_member_remove(c, await db.call(room_of, c, ns, room), username)


async def main():
    while line := await asyncio.to_thread(sys.stdin.readline):
        request = json.loads(line)
        func = globals()[request.pop("op")]
        try:
            if asyncio.iscoroutinefunction(func):
                answer = {"ok": await func(**request)}
            else:
                answer = {"ok": await db.call(func, **request)}
        except ProtocolError as error:
            answer = {"error": str(error.code), "detail": error.detail}
        except Exception:
            answer = {"crash": traceback.format_exc()}
        out.write(json.dumps(answer, default=str) + "\n")
        out.flush()


asyncio.run(main())
"""


class Core:
    """chat.namespaces / chat.moderation on a farm's database and bus (``CORE_DRIVER``)."""

    def __init__(self, farm: ServerFarm) -> None:
        import subprocess
        import sys

        from tests.servers import ROOT

        self.process = subprocess.Popen(
            [sys.executable, "-c", CORE_DRIVER],
            cwd=ROOT,
            env=farm.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def __call__(self, op: str, actor: str | None, **kw: object) -> dict:
        """The answer to ``op``: {"ok": value} or {"error": code, "detail": ...}."""
        import json

        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps({"op": op, "actor": actor, **kw}) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        assert line, f"the core driver exited ({self.process.poll()})"
        answer = json.loads(line)
        assert "crash" not in answer, answer["crash"]
        return answer

    def ok(self, op: str, actor: str | None, **kw: object) -> object:
        answer = self(op, actor, **kw)
        assert "ok" in answer, (op, actor, kw, answer)
        return answer["ok"]

    def close(self) -> None:
        if self.process.poll() is None:
            assert self.process.stdin is not None
            self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except Exception:
                self.process.kill()
                self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


@pytest.fixture(scope="module")
def core(module_farm, live):
    """The core door on the module's farm (after ``live`` migrated its database)."""
    driver = Core(module_farm)
    yield driver
    driver.close()
