from __future__ import annotations

import uuid

import pytest

from tests.e2e.conftest import Core
from tests.servers import ServerFarm, scaled_configuration

# A short keepalive, so that a test sees the comment within a second.
SERVER_ENV = {"PARLEY_SSE_KEEPALIVE": "0.5"}


@pytest.fixture(scope="module")
def module_farm(tmp_path_factory):
    """Servers on this run's configuration, shared by the tests of one module (each test uses its
    own rooms and users)."""
    f = ServerFarm(tmp=tmp_path_factory.mktemp("sse"), scaled=scaled_configuration(), extra_env=SERVER_ENV)
    yield f
    f.close()


@pytest.fixture(scope="module")
def live(module_farm):
    return module_farm.start()


@pytest.fixture(scope="module")
def core(module_farm, live):
    """chat.namespaces and accounts on the farm's database (tests/e2e/conftest.py)."""
    driver = Core(module_farm)
    yield driver
    driver.close()


@pytest.fixture
def room() -> str:
    return f"방-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def make_user(core):
    """A new account: (username, {"token", "session"})."""

    def make(prefix: str = "u") -> tuple[str, dict]:
        name = f"{prefix}{uuid.uuid4().hex[:8]}"
        return name, core.ok("user", None, username=name)  # type: ignore[return-value]

    return make
