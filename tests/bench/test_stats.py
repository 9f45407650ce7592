import pytest

from bench.stats import categorize, lost_deliveries, make_tag, parse_tag, percentile, ratio, summarize_collapsed

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_percentile_interpolates_and_handles_edges():
    assert percentile([], 50) is None
    assert percentile([7.0], 99) == 7.0
    assert percentile([1, 2, 3, 4], 50) == 2.5
    assert percentile([4, 1, 3, 2], 0) == 1
    assert percentile(list(range(101)), 99) == 99
    assert percentile([1, 2], 100) == 2


def test_lost_deliveries_counts_missing_per_sender_and_ignores_extras():
    assert lost_deliveries({1: 10, 2: 5}, {1: 10, 2: 5}) == 0
    assert lost_deliveries({1: 10, 2: 5}, {1: 7}) == 8
    assert lost_deliveries({1: 3}, {1: 4, 9: 2}) == 0


def test_ratio():
    assert ratio(6.0, 2.0) == 3.0
    assert ratio(1.0, 0) is None
    assert ratio(None, 1.0) is None


def test_tag_round_trip():
    text = make_tag(12, 345, 6_789_000, pad=10)
    assert text.endswith("x" * 10)
    assert parse_tag(text) == (12, 345, 6_789_000)
    assert parse_tag(make_tag(1, 2, 3) + " a, b | c") == (1, 2, 3)  # whatever text follows the tag
    assert not any(c in text for c in "|:!*_`[]#@")  # nothing Markdown gives a meaning to


def test_summarize_collapsed_self_and_inclusive():
    lines = ["main;loop;send 3\n", "main;loop;encode 1\n", "main;loop;loop 2\n", "\n"]
    summary = summarize_collapsed(lines)
    assert dict(summary["self"]) == {"send": 50.0, "encode": 100 / 6, "loop": 100 / 3}
    inclusive = dict(summary["inclusive"])
    assert inclusive["main"] == 100.0
    assert inclusive["loop"] == 100.0
    assert inclusive["send"] == 50.0


def test_categorize_takes_the_innermost_matching_frame():
    rules = [("write", ("ws.py",)), ("outbox", ("outbox.py",)), ("loop", ("runners.py",))]
    lines = [
        "run (runners.py:1);_write (outbox.py:2);send (ws.py:3) 6\n",
        "run (runners.py:1);push (outbox.py:9) 3\n",
        "run (runners.py:1) 1\n",
        "foo (x.py:1) 2\n",
    ]
    assert categorize(lines, rules) == [("write", 50.0), ("outbox", 25.0), ("other", 100 / 6), ("loop", 100 / 12)]
