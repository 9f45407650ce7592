"""The bench's table and plot with and without the optional ``layer`` target (RedisPubSubChannelLayer)."""

import pytest

from bench.report import HEADER, columns, markdown_table, plot, table_rows, text_table

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def results(layer: bool) -> dict:
    out = {
        "baseline": {"A": {"deliveries_per_s": 1000.0, "lost": 0, "p50_ms": 9.0}, "D": {"messages_per_s": 300.0}},
        "parley": {"A": {"deliveries_per_s": 5000.0, "lost": 0, "p50_ms": 2.0}, "D": {"messages_per_s": 900.0}},
        "parley-sqlite": {"D": {"messages_per_s": 400.0}},
    }
    if layer:
        out["layer"] = {"A": {"deliveries_per_s": 2000.0, "lost": 3, "p50_ms": 5.0}, "D": {"messages_per_s": 350.0}}
    return out


def row(rows: list[list[str]], label: str) -> list[str]:
    return next(r for r in rows if r[0] == label)


def test_without_the_layer_the_table_is_as_before():
    res = results(layer=False)
    rows = table_rows(res)
    assert columns(res) == HEADER
    assert all(len(r) == len(HEADER) for r in rows)
    assert row(rows, "A deliveries/s") == [
        "A deliveries/s",
        "1,000",
        "-",
        "5,000",
        "5.00x",
        "-",
        ">= 4x baseline",
        "yes",
    ]


def test_the_layer_gets_its_own_column_and_ratios_stay_parley_vs_baseline():
    res = results(layer=True)
    header, rows = columns(res), table_rows(res)
    assert header[:4] == ["metric", "baseline", "layer", "floor"]
    assert all(len(r) == len(header) for r in rows)
    got = dict(zip(header, row(rows, "A deliveries/s"), strict=True))
    assert (got["layer"], got["Parley/baseline"], got["met"]) == ("2,000", "5.00x", "yes")
    assert dict(zip(header, row(rows, "A lost deliveries"), strict=True))["layer"] == "3"
    d = dict(zip(header, row(rows, "D messages/s via WebSocket (stored on PG)"), strict=True))
    assert d["layer"] == "350 (relayed, not stored)"
    sqlite = dict(zip(header, row(rows, "D messages/s via WebSocket (SQLite, embedded)"), strict=True))
    assert (sqlite["layer"], sqlite["Parley"]) == ("-", "400")
    text = text_table(header, rows).splitlines()
    assert text[0].split()[:4] == ["metric", "baseline", "layer", "floor"]
    assert markdown_table(header, rows).splitlines()[0].startswith("| metric | baseline | layer | floor |")


def test_plot_with_and_without_the_layer(tmp_path):
    for layer in (False, True):
        path = tmp_path / f"bench-{layer}.png"
        plot(results(layer), {}, path, "test")
        assert path.stat().st_size > 0


def test_compared_revisions_get_a_column_and_a_ratio_each_and_m_rows_appear():
    res = results(layer=False)
    res["parley"]["M"] = {"events_per_s": 800.0, "lost": 0, "unanswered": 0, "p99_ms": 40.0}
    res["parley@975e6c0"] = {"A": {"deliveries_per_s": 4000.0, "lost": 0, "p50_ms": 2.5}}
    res["parley@0681188"] = {"A": {"deliveries_per_s": 5000.0, "lost": 0}, "M": {}}
    header, rows = columns(res), table_rows(res)
    assert header == [
        "metric",
        "baseline",
        "floor",
        "Parley",
        "parley@975e6c0",
        "parley@0681188",
        "Parley/baseline",
        "Parley/floor",
        "Parley/@975e6c0",
        "Parley/@0681188",
        "target",
        "met",
    ]
    assert all(len(r) == len(header) for r in rows)
    a = dict(zip(header, row(rows, "A deliveries/s"), strict=True))
    assert (a["Parley"], a["parley@975e6c0"], a["Parley/@975e6c0"], a["Parley/@0681188"]) == (
        "5,000",
        "4,000",
        "1.25x",
        "1.00x",
    )
    assert dict(zip(header, row(rows, "A p50 latency (ms)"), strict=True))["parley@0681188"] == "-"
    m = dict(zip(header, row(rows, "M events stored/s (messages, reactions, edits, deletes)"), strict=True))
    assert (m["baseline"], m["Parley"], m["parley@975e6c0"], m["Parley/@975e6c0"]) == ("-", "800", "-", "-")
    assert dict(zip(header, row(rows, "M lost deliveries"), strict=True))["met"] == "yes"
    sqlite = dict(zip(header, row(rows, "D messages/s via WebSocket (SQLite, embedded)"), strict=True))
    assert (sqlite["Parley"], sqlite["parley@975e6c0"], sqlite["target"]) == ("400", "-", "")
    labels = [r[0] for r in rows]  # SQLite's D right after PostgreSQL's, before M
    assert (
        labels.index("D messages/s via WebSocket (SQLite, embedded)")
        == labels.index("D messages/s via WebSocket (stored on PG)") + 1
    )


def test_plot_with_compared_revisions_and_m(tmp_path):
    res = results(layer=True)
    res["parley"]["M"] = {
        "events_per_s": 800.0,
        **{f"{k}_{q}_ms": 10.0 for k in ("message", "reaction", "edit", "delete") for q in ("p50", "p99")},
    }
    res["parley@975e6c0"] = {"A": {"deliveries_per_s": 4000.0}, "D": {"messages_per_s": 700.0}}
    path = tmp_path / "bench.png"
    plot(res, {}, path, "test")
    assert path.stat().st_size > 0


def h_result(per_s: float, refused: int = 0) -> dict:
    return {
        "messages_per_s": per_s,
        "post_p50_ms": 8.0,
        "post_p99_ms": 30.0,
        "p50_ms": 9.0,
        "p99_ms": 35.0,
        "server_cpu_per_post_us": 900.0,
        "pg_sessions_per_s": 0.0,
        "errors": refused,
        "lost": 0,
    }


def test_h_rows_have_no_cell_for_revisions_without_the_api():
    res = results(layer=False)
    res["parley"]["H"] = h_result(600.0, refused=3)
    res["parley@0681188"] = {"A": {"deliveries_per_s": 5000.0, "lost": 0}}  # before issue 10: no H
    res["parley@d62fa07"] = {"H": h_result(500.0)}
    header, rows = columns(res), table_rows(res)
    assert all(len(r) == len(header) for r in rows)
    h = dict(zip(header, row(rows, "H messages/s posted over HTTP"), strict=True))
    assert (h["baseline"], h["Parley"], h["parley@0681188"], h["parley@d62fa07"]) == ("-", "600", "-", "500")
    assert (h["Parley/baseline"], h["Parley/@0681188"], h["Parley/@d62fa07"]) == ("-", "-", "1.20x")
    assert dict(zip(header, row(rows, "H POST p99 latency (ms)"), strict=True))["Parley"] == "30.0"
    assert dict(zip(header, row(rows, "H posts refused (any status but 201)"), strict=True))["met"] == "NO"
    assert dict(zip(header, row(rows, "H lost deliveries"), strict=True))["met"] == "yes"
    assert [r[0] for r in rows][-1] == "H lost deliveries"  # H's rows come last


def test_without_h_there_are_no_h_rows():
    assert not [r for r in table_rows(results(layer=False)) if r[0].startswith("H ")]


def test_plot_with_h(tmp_path):
    res = results(layer=False)
    res["parley"]["H"] = h_result(600.0)
    res["parley@d62fa07"] = {"H": h_result(500.0)}
    path = tmp_path / "bench.png"
    plot(res, {}, path, "test")
    assert path.stat().st_size > 0


def send_path_results() -> dict:
    b = {"deliveries_per_s": 20000.0, "server_cpu_per_message_us": 300.0, "p99_ms": 100.0, "lost": 0}
    t = {"deliveries_per_s": 15000.0, "server_cpu_per_message_us": 450.0, "p99_ms": 150.0, "lost": 0, "errors": 0}
    f = {**t, "deliveries_per_s": 10000.0, "unattached": 0, "upload_p50_ms": 20.0, "upload_p99_ms": 60.0}
    r = {
        "plain_fast": {"p50_us": 1.5, "p99_us": 3.25},
        "plain_parsed": {"p50_us": 35.0, "p99_us": None},  # not measured: "-"
        "code": {"p50_us": 1300.0, "p99_us": 4400.0},
        "mix_mean_us": 150.0,
        "plain_fast_share": 0.85,
    }
    return {
        "baseline": {"B": {"deliveries_per_s": 4000.0, "server_cpu_per_message_us": 2600.0}},
        "parley": {"B": b, "T": t, "F": f, "R": r},
        "parley@abc1234": {"B": {**b, "deliveries_per_s": 21000.0}, "T": {**t, "deliveries_per_s": 19000.0}},
    }


def test_t_and_f_rows_carry_their_ratio_to_b_of_the_same_target_in_the_same_run():
    res = send_path_results()
    header, rows = columns(res), table_rows(res)
    assert all(len(r) == len(header) for r in rows)

    def cells(label):
        return dict(zip(header, row(rows, label), strict=True))

    ratio = cells("T/B deliveries/s (same run)")
    assert (ratio["Parley"], ratio["parley@abc1234"]) == ("0.75x", "0.90x")
    assert ratio["Parley/baseline"] == ratio["Parley/@abc1234"] == "-"  # no ratio of ratios
    assert cells("T/B server CPU/message")["Parley"] == "1.50x"
    assert cells("F/B deliveries/s (same run)")["Parley"] == "0.50x"
    assert cells("F/B deliveries/s (same run)")["parley@abc1234"] == "-"  # no F before uploads
    t = cells("T deliveries/s, B with Markdown (corpus mix)")
    assert (t["Parley"], t["Parley/@abc1234"]) == ("15,000", "0.79x")
    assert cells("F messages sent without an attachment (pool used up)")["met"] == "yes"
    assert cells("B server CPU/message (us)")["Parley/baseline"] == "0.12x"
    labels = [r[0] for r in rows]
    assert labels.index("B lost deliveries") < labels.index("T deliveries/s, B with Markdown (corpus mix)")
    assert labels.index("T load generator CPU (%)") < labels.index("F deliveries/s, B with an attachment per message")


def test_r_rows_show_the_median_and_p99_of_each_kind():
    res = send_path_results()
    header, rows = columns(res), table_rows(res)

    def parley(label):
        return dict(zip(header, row(rows, label), strict=True))["Parley"]

    assert parley("R render us: plain line, fast path (p99)") == "1.5 (p99 3.2)"
    assert parley("R render us: fenced code block, 10-40 lines") == "1300.0 (p99 4400.0)"
    assert parley("R render us: plain line, through the parser") == "-"
    assert parley("R render us: inline Markdown") == "-"
    assert parley("R render us: mean per message of T's mix") == "150.0"
    assert parley("R plain lines on the fast path") == "85%"
    assert markdown_table(header, rows).count("| R render") == 6


def test_plot_with_the_send_path_row(tmp_path):
    path = tmp_path / "bench.png"
    plot(send_path_results(), {}, path, "test")
    assert path.stat().st_size > 0
