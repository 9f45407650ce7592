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
