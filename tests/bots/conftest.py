from __future__ import annotations

import pytest

from tests.servers import ServerFarm, scaled_configuration


@pytest.fixture(scope="module")
def module_farm(tmp_path_factory):
    f = ServerFarm(tmp=tmp_path_factory.mktemp("bots"), scaled=scaled_configuration())
    yield f
    f.close()


@pytest.fixture(scope="module")
def srv(module_farm):
    """A live server without the write budget (the tests write a lot as one user)."""
    return module_farm.start(PARLEY_RATE_PER_SEC="0")
