from __future__ import annotations

import uuid

import pytest

from tests.servers import ServerFarm, scaled_configuration


@pytest.fixture(scope="module")
def module_farm(tmp_path_factory):
    f = ServerFarm(tmp=tmp_path_factory.mktemp("api"), scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture(scope="module")
def live(module_farm):
    """A server on this run's configuration with the default limits (writes: 10/s, burst 30)."""
    return module_farm.start()


@pytest.fixture
def room() -> str:
    return f"방-{uuid.uuid4().hex[:8]}"
