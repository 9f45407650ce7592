"""Scenario Q's pure parts: the room's members, the counts, CPU per message, the table's rows and the plot."""

import threading
import time

import psutil
import pytest

from bench.__main__ import RUN_ORDER, SCENARIOS, parse_args
from bench.quietplan import (
    PG_LIMIT_US,
    QUIET_MEMBERS,
    SQLITE_LIMIT_US,
    counts,
    cpu_per_message_us,
    member_plan,
    met,
    other_cpu_pct,
)
from bench.report import HEADER, plot, table_rows
from bench.servers import cpu_seconds, loop_cpu_seconds

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_the_sender_joins_first_then_nine_listeners():
    plan = member_plan()
    assert len(plan) == QUIET_MEMBERS == 10
    assert plan[0] == (0, 0)
    assert plan[1:] == [(0, None)] * 9
    assert member_plan(1) == [(0, 0)]
    with pytest.raises(ValueError):
        member_plan(0)


def test_counts_of_full_and_quick_runs():
    assert counts(False) == (200, 2000)
    warmup, count = counts(True)
    assert 0 < warmup < count < 2000


def test_cpu_per_message_is_the_cpu_seconds_over_the_count_in_microseconds():
    assert cpu_per_message_us(10.0, 12.0, 2000) == pytest.approx(1000.0)
    assert cpu_per_message_us(3.25, 3.85, 2000) == pytest.approx(300.0)
    assert cpu_per_message_us(1.0, 1.0, 5) == 0.0
    assert cpu_per_message_us(1.0, 2.0, 0) is None


def test_met_is_within_the_limit_inclusive():
    assert met(PG_LIMIT_US, PG_LIMIT_US)
    assert not met(PG_LIMIT_US + 1, PG_LIMIT_US)
    assert met(599.0, SQLITE_LIMIT_US)
    assert not met(None, SQLITE_LIMIT_US)


def test_q_is_a_scenario_that_runs_and_can_be_chosen_alone():
    assert "Q" in SCENARIOS and "Q" in RUN_ORDER
    assert parse_args(["--only", "q", "--quick"]).only == ["Q"]


def quiet_results(pg_us: float, sqlite_us: float) -> dict:
    return {
        "parley": {"Q": {"server_cpu_per_message_us": pg_us, "backend_cpu_per_message_us": 1800.0, "lost": 0}},
        "parley-sqlite": {"Q": {"server_cpu_per_message_us": sqlite_us, "lost": 0}},
    }


def cells(rows: list[list[str]], label: str) -> dict[str, str]:
    return dict(zip(HEADER, next(r for r in rows if r[0] == label), strict=True))


PG_ROW = "Q server CPU/message, quiet room of 10, PG+Redis (us)"
SQLITE_ROW = "Q server CPU/message, quiet room of 10, SQLite alone (us)"


def test_q_rows_say_whether_each_database_meets_its_target():
    rows = table_rows(quiet_results(4140.0, 2140.0))
    pg, sqlite = cells(rows, PG_ROW), cells(rows, SQLITE_ROW)
    assert (pg["Parley"], pg["target"], pg["met"]) == ("4,140", "<= 1,000 us (goal 300)", "NO")
    assert (sqlite["Parley"], sqlite["target"], sqlite["met"]) == ("2,140", "<= 600 us", "NO")
    labels = [r[0] for r in rows]
    assert labels.index(SQLITE_ROW) == labels.index(PG_ROW) + 1  # side by side
    assert cells(rows, "Q lost deliveries")["met"] == "yes"
    rows = table_rows(quiet_results(950.0, 600.0))
    assert cells(rows, PG_ROW)["met"] == cells(rows, SQLITE_ROW)["met"] == "yes"


def test_without_q_there_are_no_q_rows():
    rows = table_rows({"parley": {"A": {"deliveries_per_s": 1.0}}, "parley-sqlite": {"D": {"messages_per_s": 2.0}}})
    assert not [r for r in rows if r[0].startswith("Q ")]


def test_plot_with_q(tmp_path):
    path = tmp_path / "bench.png"
    plot(quiet_results(4140.0, 2140.0), {}, path, "test")
    assert path.stat().st_size > 0


def test_q2_rows_show_both_processes_costs():
    res = quiet_results(4140.0, 2140.0)
    res["parley"]["Q2"] = {"server_cpu_per_message_us": 3900.0, "listener_cpu_per_message_us": 380.0, "lost": 0}
    res["parley"]["Q"].update(wal_bytes_per_message=1980.4, frame_bytes=324.0)
    rows = table_rows(res)
    assert cells(rows, "Q2 sender's process CPU/message, 9 members elsewhere (us)")["Parley"] == "3,900"
    assert cells(rows, "Q2 other process CPU/message: receive + 9 deliveries (us)")["Parley"] == "380"
    assert cells(rows, "Q PostgreSQL WAL bytes/message")["Parley"] == "1,980"
    assert cells(rows, "Q message frame bytes (a delivery)")["Parley"] == "324"


def test_other_cpu_is_the_machines_busy_time_less_ours_per_second_of_the_window():
    assert other_cpu_pct(30.0, ours=10.0, seconds=20.0) == 100.0  # one core of others' work
    assert other_cpu_pct(10.0, ours=10.0, seconds=20.0) == 0.0
    assert other_cpu_pct(9.9, ours=10.0, seconds=20.0) == 0.0  # sampling skew: never negative
    assert other_cpu_pct(1.0, ours=0.0, seconds=0.0) is None


def test_q_rows_split_the_servers_cpu_between_the_event_loop_and_the_other_threads():
    res = quiet_results(1400.0, 900.0)
    res["parley"]["Q"].update(loop_cpu_per_message_us=800.0, threads_cpu_per_message_us=600.0)
    rows = table_rows(res)
    assert cells(rows, "Q PG+Redis server CPU/message: event loop's thread (us)")["Parley"] == "800"
    assert cells(rows, "Q PG+Redis server CPU/message: other threads (us)")["Parley"] == "600"


def test_the_loops_cpu_is_the_main_threads_alone():
    """``servers.loop_cpu_seconds`` counts the main thread's CPU, not another thread's."""
    me = psutil.Process()

    def spin(seconds: float) -> None:
        end = time.thread_time() + seconds
        while time.thread_time() < end:
            pass

    before_loop, before_all = loop_cpu_seconds(me), cpu_seconds(me)
    worker = threading.Thread(target=spin, args=(0.3,))
    worker.start()
    worker.join()
    after_loop, after_all = loop_cpu_seconds(me), cpu_seconds(me)
    assert after_all - before_all >= 0.25  # the worker's spin counts for the process...
    assert after_loop - before_loop < 0.1  # ...not for its main thread
    spin(0.3)
    assert loop_cpu_seconds(me) - after_loop >= 0.25
