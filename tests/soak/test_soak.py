"""``make soak``'s scenarios, each in its quick form, against two real server processes on
PostgreSQL (through a cuttable proxy) and a private Redis: no ghost, nothing lost or duplicated, no
HTTP 500, no close or response the protocol does not document. The latency targets are checked by
the full ``make soak`` only (timings in tests are flaky on a shared machine).

These start their own servers, so they run once (in the embedded run).
"""

from __future__ import annotations

import pytest

from soak.farm import Farm
from soak.latency import Observers
from soak.report import details
from soak.scenarios import SCENARIOS, Run, Sizes


@pytest.fixture(scope="module")
def farm(tmp_path_factory):
    f = Farm(tmp=tmp_path_factory.mktemp("soak"))
    yield f
    f.close()


@pytest.mark.embedded_only
@pytest.mark.parametrize("name", list(SCENARIOS))
async def test_scenario_meets_its_targets(farm, name):
    observers = Observers(farm)
    await observers.start()
    run = Run(farm, observers, Sizes.quick(), log=lambda _: None)
    try:
        result = await SCENARIOS[name](run)
    finally:
        await run.observers.stop()  # a scenario that broke the servers restarts them and the observers
    assert result.misses(latency=False) == [], "; ".join(details(result))
