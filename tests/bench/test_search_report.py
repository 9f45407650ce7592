"""Section S's table and plot from a results dict (no database)."""

from __future__ import annotations

import pytest

from bench import report

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes

RESULT = {
    "messages": 1000,
    "rooms": 20,
    "namespaces": 2,
    "corpus_s": 1.0,
    "reindex_per_s": 9000.0,
    "index_bytes_per_message": 300.0,
    "queries": {
        reader: {kind: {"p50_ms": 2.0, "p95_ms": 4.5, "results_mean": 20.0} for kind in ("rare word", "phrase")}
        for reader in ("5 % of rooms", "all rooms")
    },
}


def test_the_table_and_the_plot(tmp_path):
    text = report.search_table({"postgresql": RESULT, "sqlite": {"error": "boom"}})
    assert "phrase" in text and "4.5" in text and "reindex 9,000 messages/s" in text and "boom" in text
    report.plot_search({"postgresql": RESULT}, tmp_path / "search.png", "title")
    assert (tmp_path / "search.png").stat().st_size > 1000
