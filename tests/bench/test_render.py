"""Scenario R (bench.render): splitting the plain lines, the summary, the mix's mean, and the module
run as make bench runs it."""

import json
import os
import subprocess
import sys

import pytest

from bench import corpus, render

pytestmark = pytest.mark.embedded_only  # no backend: the same on both passes


def test_split_plain_by_the_fast_path_and_the_other_kinds_whole():
    texts = render.split_plain(["a", "b!", "c"], lambda t: "!" not in t)
    assert texts["plain_fast"] == ["a", "c"]
    assert texts["plain_parsed"] == ["b!"]
    assert texts["code"] == list(corpus.CODE)
    assert set(texts) == set(render.KINDS)


def test_summary_in_microseconds():
    got = render.summary([1000, 2000, 3000, 4000, 100_000])
    assert got["p50_us"] == 3.0
    assert got["mean_us"] == 22.0
    assert got["max_us"] == 100.0
    assert got["samples"] == 5
    assert 4.0 < got["p99_us"] < 100.0
    assert render.summary([])["p50_us"] is None


def test_mix_mean_weighs_each_kind_and_splits_plain_by_the_fast_path_share():
    kinds = {k: {"mean_us": v} for k, v in zip(render.KINDS, (1.0, 40.0, 80.0, 1000.0, 150.0), strict=True)}
    mix = corpus.parse_mix("70,15,10,5")
    expected = (70 * (0.75 * 1.0 + 0.25 * 40.0) + 15 * 80.0 + 10 * 1000.0 + 5 * 150.0) / 100
    assert render.mix_mean(kinds, mix, 0.75) == expected
    assert render.mix_mean(kinds, corpus.parse_mix("1,0,0,0"), 1.0) == 1.0
    del kinds["code"]
    assert render.mix_mean(kinds, mix, 0.75) is None  # a kind of the mix was not measured
    assert render.mix_mean(kinds, corpus.parse_mix("1,1,0,1"), 0.5) is not None  # ...unless its weight is 0


def test_measure_calls_each_kind_round_robin_at_least_samples_times():
    calls = []
    got = render.measure(calls.append, {"a": ["x", "y"], "b": ["z"], "c": []}, samples=7, seconds=0)
    assert got["a"]["samples"] >= 7 and got["b"]["samples"] >= 7
    assert got["c"]["samples"] == 0 and got["c"]["texts"] == 0
    assert calls[:3] == ["x", "y", "z"]  # the warm-up pass over every text first
    measured_a = calls[3 : 3 + got["a"]["samples"]]
    assert measured_a[:4] == ["x", "y", "x", "y"]


def test_table_lists_the_kinds_and_the_mix():
    kinds = {
        k: {"p50_us": 1.0, "p99_us": 2.0, "mean_us": 1.5, "max_us": 3.0, "samples": 10, "texts": 2}
        for k in render.KINDS
    }
    text = render.table({**kinds, "plain_fast_share": 0.85, "mix": "70/15/10/5", "mix_mean_us": 150.0})
    assert "code" in text and "85 %" in text and "150.0 us" in text


def test_the_module_runs_in_a_process_of_its_own():
    """``make bench`` runs R as ``python -m bench.render --json`` in a fresh process, without the
    test run's settings: it must load them itself (markup reads one)."""
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.render", "--json", "--samples", "3", "--seconds", "0"],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    result = json.loads(out)
    assert result["mix_mean_us"] > 0
    assert result["plain_fast"]["samples"] >= 3 and result["code"]["p50_us"] > result["plain_fast"]["p50_us"]
