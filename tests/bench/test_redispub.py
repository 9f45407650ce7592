"""bench.redispub on a real, private redis-server (Debian's, as make test installs it): a small run
starts and stops its own server and its arithmetic (per publish, per message out) holds. No timing
is asserted."""

import pytest

from bench.redispub import measure, measure_presence


@pytest.mark.parametrize("sharded", [False, True])
def test_a_small_run_reports_per_publish_and_per_message_out(sharded):
    got = measure(subscribers=3, channels=20, count=600, size=100, sharded=sharded, publishers=2, pipeline=10)
    assert (got["subscribers"], got["channels"], got["bytes"], got["sharded"]) == (3, 20, 100, sharded)
    assert got["redis_cpu_s"] >= 0
    assert got["us_per_publish"] == pytest.approx(1e6 * got["redis_cpu_s"] / 600)
    assert got["us_per_message_out"] == pytest.approx(got["us_per_publish"] / 3)


def test_a_small_presence_refresh_reports_per_zadd():
    got = measure_presence(rooms=30, names=3, rounds=2, batch=7)
    assert (got["rooms"], got["names"], got["batch"]) == (30, 3, 7)
    assert got["us_per_zadd"] == pytest.approx(1e6 * got["redis_cpu_s"] / 60)
