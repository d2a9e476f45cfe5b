"""Statistics that mean what they say: interval coverage at the seeds this harness has, a regression gate that
weighs the size of a drop, one record per seed, low-data points and paper rows that match only their own runs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.evaluate.lowdata import class_orders, fraction_count, subset
from benchmark.records import write_record
from benchmark.stats import estimate, lower_than
from tests.test_report import record


@pytest.mark.parametrize("n", [3, 5])
def test_intervals_cover_the_mean_at_small_n(n):
    rng = np.random.default_rng(0)
    hits = 0
    trials = 2000
    for _ in range(trials):
        e = estimate(list(rng.normal(50.0, 5.0, n)))
        hits += e.low <= 50.0 <= e.high
    assert hits / trials >= 0.93  # a percentile bootstrap covers ~77% at n = 3


def test_one_value_and_no_spread_give_no_interval():
    assert estimate([85.2]).text() == "85.2 (n=1)" and estimate([85.2]).low is None
    e = estimate([70.0, 70.0, 70.0])
    assert e.low is None and e.text() == "70.0 (n=3, sd 0)"  # not a zero-width interval
    wide = estimate([30.9, 84.8, 68.0])  # README's old scratch row: percentile bootstrap [30.9, 84.8]
    assert wide.low == pytest.approx(-7.3, abs=0.1) and wide.high == pytest.approx(129.7, abs=0.1)


def test_zero_variance_tests_give_a_decision_not_nan():
    assert lower_than([80.0, 80.0, 80.0], [80.0, 80.0, 80.0]).p == 1.0
    assert lower_than([79.99, 79.99, 79.99], [80.0, 80.0, 80.0]).p == 0.0
    assert lower_than([1.0], [2.0]).p is None


def _store(tmp_path, name, seeds_values, **kw):
    folder = tmp_path / name
    for seed, v in seeds_values:
        write_record(folder, record("scratch", seed, v, **kw))
    return folder


def test_a_drop_larger_than_the_tolerance_fails_whatever_the_p_value(tmp_path, capsys):
    ref = _store(tmp_path, "ref", [(0, 30.9), (1, 84.8), (2, 68.0)])
    fresh = _store(tmp_path, "fresh", [(0, 10.9), (1, 64.8), (2, 48.0)])  # -20 on every seed
    assert main(["check", "--against", str(ref), "--results", str(fresh), "--tolerance", "5"]) == 1
    assert "drop of 20.00 > tolerance 5" in capsys.readouterr().out


def test_a_clear_drop_within_the_tolerance_warns_and_strict_fails(tmp_path, capsys):
    ref = _store(tmp_path, "ref", [(0, 80.0), (1, 81.0), (2, 82.0)])
    fresh = _store(tmp_path, "fresh", [(0, 79.5), (1, 80.5), (2, 81.4)])  # every seed lower, by ~0.5
    assert main(["check", "--against", str(ref), "--results", str(fresh), "--tolerance", "1"]) == 0
    out = capsys.readouterr().out
    assert "WARNING" in out and "paired t-test on 3 seeds" in out and "1 warning(s)" in out
    assert main(["check", "--against", str(ref), "--results", str(fresh), "--tolerance", "1", "--strict"]) == 1
    tiny = _store(tmp_path, "tiny", [(0, 79.99), (1, 80.99), (2, 81.99)])  # 0.01 lower, zero spread of the diffs
    assert main(["check", "--against", str(ref), "--results", str(tiny), "--tolerance", "1"]) == 0
    assert "p = nan" not in capsys.readouterr().out


def test_check_refuses_a_metric_missing_everywhere_and_a_negative_tolerance(tmp_path, capsys):
    ref = _store(tmp_path, "ref", [(0, 80.0)])
    assert main(["check", "--against", str(ref), "--results", str(ref), "--metric", "knn.top1"]) == 2
    err = capsys.readouterr().err
    assert "metric 'knn.top1'" in err and err.count("\n") == 1
    assert main(["check", "--against", str(ref), "--results", str(ref), "--tolerance", "-5"]) == 2


def test_a_duplicated_record_changes_no_table(tmp_path, capsys):
    store = _store(tmp_path, "s", [(0, 30.9), (1, 84.8), (2, 68.0)])
    assert main(["table", "--results", str(store), "--format", "json"]) == 0
    before = json.loads(capsys.readouterr().out)
    dup = record("scratch", 1, 10.0)  # the same experiment and seed, run again (the later record wins)
    dup.created, dup.config_hash = "2026-01-02T00:00:00", "another-file"
    write_record(store, dup)
    copy = record("scratch", 2, 68.0)
    copy.config_hash = "copied-under-another-name"
    write_record(store, copy)
    assert main(["table", "--results", str(store), "--format", "json"]) == 0
    after = json.loads(capsys.readouterr().out)
    assert before[0]["n_seeds"] == after[0]["n_seeds"] == 3 and after[0]["top1"]["n"] == 3
    assert after[0]["top1"]["mean"] == pytest.approx((30.9 + 10.0 + 68.0) / 3)  # seed 1: the latest record


def test_lowdata_point_is_one_column_and_fractions_are_exact(tmp_path, capsys):
    curve = [{"per_class": 1, "fraction": None, "subset_seed": s, "top1": 20.0 + s, "videos_per_class": 1.0}
             for s in range(3)]
    for seed in (0, 1):
        write_record(tmp_path, record("natural", seed, 80.0, metrics={"lowdata": curve}))
    assert main(["table", "--kind", "lowdata", "--results", str(tmp_path), "--format", "json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert [k for k in row if k.startswith("1/class")] == ["1/class", "1/class subset_sd"]
    assert row["1/class"]["n"] == 2  # run seeds, each the mean over its subset seeds: not 6 independent samples
    assert fraction_count(0.1, 25) == 3 and fraction_count(0.1, 35) == 4 and fraction_count(0.01, 10) == 1
    labels = [c for c in range(5) for _ in range(25)]
    orders = class_orders(labels, 5, 0)
    assert len(subset(orders, fraction=0.1)) == 15


def test_lowdata_refuses_mixing_point_kinds(capsys):
    assert main(["run", "--source", "scratch", "--set", "lowdata.per_class=[5]", "--set",
                 "lowdata.fractions=[0.5]"]) == 2
    assert "need not be nested" in capsys.readouterr().err


def test_paper_rows_match_only_their_own_runs(tmp_path, capsys):
    for seed in range(3):  # default pmg runs on the paper's protocol: the "pseudo-motion only" configuration
        write_record(tmp_path, record("pmg", seed, 85.0 + seed, protocol="ishikawa2024-ucf101", task="ucf101"))
    assert main(["paper", "ishikawa2024", "--table", "1", "--results", str(tmp_path), "--format", "json"]) == 0
    col = json.loads(capsys.readouterr().out)[0]
    rows = {r["row"]: r for r in col["rows"]}
    assert all(rows[k]["reproduced"] is None for k in ("pmg-ft-frames", "pmg-pass", "pmg-shaders"))
    assert col["provisional"] is True
    write_record(tmp_path, record("pmg", 0, 88.0, protocol="ishikawa2024-ucf101", task="ucf101",
                                  params={"images": "/data/pass-100k"}))
    assert main(["paper", "ishikawa2024", "--table", "1", "--results", str(tmp_path), "--format", "json"]) == 0
    rows = {r["row"]: r for r in json.loads(capsys.readouterr().out)[0]["rows"]}
    assert rows["pmg-pass"]["reproduced"]["mean"] == 88.0 and rows["pmg-ft-frames"]["reproduced"] is None
    assert main(["paper", "ishikawa2024", "--table", "6", "--results", str(tmp_path), "--format", "json"]) == 0
    rows = {r["row"]: r for r in json.loads(capsys.readouterr().out)[0]["rows"]}
    assert rows["pmg"]["reproduced"]["n"] == 3  # the default configuration only, not the PASS run


def test_with_another_protocol_only_one_column_is_filled(tmp_path, capsys):
    for seed in range(3):
        write_record(tmp_path, record("scratch", seed, 30.0 + seed))
    assert main(["paper", "yu2024", "--table", "1", "--protocol", "smoke", "--task", "embedded", "--results",
                 str(tmp_path), "--format", "json"]) == 0
    cols = json.loads(capsys.readouterr().out)
    filled = [c["column"] for c in cols if any(r["reproduced"] for r in c["rows"])]
    assert filled == ["ucf101-vitb"]  # not the HMDB51 or linear-probe columns from the same records


def test_tables_show_chance_and_hide_a_trivial_top5(tmp_path, capsys):
    r = record("scratch", 0, 40.0)
    r.task_info = {"num_classes": 8}
    write_record(tmp_path / "a", r)
    assert main(["table", "--results", str(tmp_path / "a"), "--format", "json"]) == 0
    row = json.loads(capsys.readouterr().out)[0]
    assert row["chance"] == "12.5 / 62.5" and row["top5"]["mean"] == 45.0
    r.task_info = {"num_classes": 3}
    write_record(tmp_path / "b", r)
    assert main(["table", "--results", str(tmp_path / "b")]) == 0
    out = capsys.readouterr().out
    assert "100% by construction" in out and "33.3 / 100.0" in out
