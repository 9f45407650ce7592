"""bench.idle: C's counts capped at the descriptors a process may hold, and the curve's plot."""

from __future__ import annotations

from bench import idle


def test_a_count_over_the_hard_limit_is_capped_below_it():
    hard = idle.fd_hard_limit()
    assert idle.cap(1000) == min(1000, hard - idle.FD_RESERVE)
    assert idle.cap(hard * 2) == hard - idle.FD_RESERVE


def test_clients_are_spread_so_no_process_needs_more_descriptors_than_it_may_hold():
    per_process = idle.fd_hard_limit() - idle.FD_RESERVE
    for connections in (1, 1000, per_process, per_process + 1, 3 * per_process):
        processes = idle.plan_processes(connections)
        assert processes >= 2
        assert -(-connections // processes) <= per_process


def test_the_curve_is_plotted_for_each_target_that_ran_it(tmp_path):
    def point(n, kib):
        return {
            "connections": n,
            "kib_per_connection": kib,
            "connections_per_s": 1000.0,
            "server_cpu_per_connection_us": 400.0,
        }

    results = {
        "parley": {"C": {"curve": [point(1000, 15.0), point(5000, 14.5)]}},
        "parley@abc1234": {"C": {"curve": [point(1000, 24.0), point(5000, 23.5)]}},
        "baseline": {"A": {}},
    }
    path = tmp_path / "idle-curve.png"
    assert idle.plot_curve(results, path, "C")
    assert path.read_bytes().startswith(b"\x89PNG")
    assert not idle.plot_curve({"parley": {"C": {"kib_per_connection": 15.0}}}, tmp_path / "none.png", "C")
    assert not (tmp_path / "none.png").exists()
