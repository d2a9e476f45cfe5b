"""The result store, tables, paper tables, plots, the leaderboard, FLOP counts and the regression check.

Records here are written by hand with known values: these tests check the reporting, not any result.
"""

import json
import multiprocessing as mp
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from benchmark.cli import main
from benchmark.config import stable_hash
from benchmark.records import Record, read_records, write_record
from benchmark.stats import estimate, spearman


def record(source: str, seed: int, top1: float, protocol: str = "smoke", task: str = "embedded", **extra) -> Record:
    """A record with known values (source parameters: the source's defaults, updated by `params`); records that
    differ only in their seed are one experiment."""
    from benchmark.config import to_dict
    from benchmark.inits import source_entry
    known = source.startswith(("scratch", "natural", "moving", "pmg", "mixture", "static", "accel", "transforming"))
    params = {**(to_dict(source_entry(source).params()) if known else {}), **extra.pop("params", {})}
    cfg = {"name": protocol, "model": {"size": "tiny"}, "source": {"name": source, "params": params},
           "task": {"name": task, "params": {}}, **extra.pop("config", {})}
    return Record(protocol=protocol, source=source, task=task, seed=seed, config_hash=f"h{source}{seed}{top1}",
                  experiment=stable_hash(cfg), run_id=f"{source}-{seed}-{top1}",
                  created=f"2026-01-01T00:00:{seed:02d}", config={**cfg, "seed": seed},
                  metrics={"top1": top1, "top5": min(100.0, top1 + 5), **extra.pop("metrics", {})},
                  pretrain={"clips_per_s": 100.0}, finetune={"clips_per_s": 50.0}, **extra)


def _writer(args):
    folder, worker = args
    for k in range(20):
        write_record(Path(folder), record(f"src{worker}", k, float(k)))


def test_eight_processes_writing_at_once_lose_and_corrupt_nothing(tmp_path):
    with mp.get_context("fork").Pool(8) as pool:
        pool.map(_writer, [(str(tmp_path), w) for w in range(8)])
    records, bad = read_records(tmp_path)
    assert len(records) == 160 and bad == []
    assert {(r.source, r.seed) for r in records} == {(f"src{w}", k) for w in range(8) for k in range(20)}
    assert not list(tmp_path.rglob(".*.tmp"))


def test_the_store_reads_old_records_and_skips_non_records(tmp_path):
    write_record(tmp_path, record("natural", 0, 50.0))
    old = {"source": "scratch", "metrics": {"top1": 10.0}, "config": {"seed": 3, "name": "smoke",
                                                                       "task": {"name": "embedded"}}}
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "other.json").write_text(json.dumps({"hello": 1}))
    records, bad = read_records(tmp_path)
    assert sorted(r.source for r in records) == ["natural", "scratch"]
    old_rec = next(r for r in records if r.source == "scratch")
    assert (old_rec.seed, old_rec.protocol, old_rec.task, old_rec.schema_version) == (3, "smoke", "embedded", 0)
    assert sorted(p.name for p in bad) == ["broken.json", "other.json"]
    assert [r.source for r in read_records(tmp_path, source="natural")[0]] == ["natural"]


def test_estimate_and_rank_correlation():
    e = estimate([70.0, 72.0, 74.0, 71.0])
    assert e.mean == pytest.approx(71.75) and e.low < e.mean < e.high and e.n == 4
    assert estimate([70.0, 72.0, 74.0, 71.0]) == e  # fixed bootstrap seed: the same table every time
    assert estimate([5.0]).low is None and estimate([]) is None
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40])[0] == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [40, 30, 20, 10])[0] == pytest.approx(-1.0)


@pytest.fixture
def store(tmp_path):
    results = tmp_path / "results"
    for seed, (s, n) in enumerate([(30.0, 90.0), (40.0, 92.0), (50.0, 94.0)]):
        write_record(results, record("scratch", seed, s))
        write_record(results, record("natural", seed, n))
        write_record(results, record("moving-circles", seed, 70.0 + seed))
    write_record(results, record("natural", 9, 10.0, config={"finetune": {"epochs": 1}}))  # another variant
    return results


def test_main_table_pools_seeds_of_one_variant_in_every_format(store, capsys):
    assert main(["table", "--results", str(store), "--format", "json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    natural = [r for r in rows if r["source"] == "natural"]
    assert sorted(r["n_seeds"] for r in natural) == [1, 3]  # the other variant is its own row
    pooled = next(r for r in natural if r["n_seeds"] == 3)
    assert pooled["top1"]["mean"] == pytest.approx(92.0) and pooled["top1"]["n"] == 3
    assert pooled["top1"]["ci_low"] < 92.0 < pooled["top1"]["ci_high"]  # numbers, not formatted text
    assert [r["source"] for r in rows if r["n_seeds"] == 3] == ["scratch", "natural", "moving-circles"]
    for fmt, marker in [("github", "| natural"), ("markdown", "|:"), ("latex", "\\begin{tabular}"),
                        ("csv", "protocol,task,source")]:
        assert main(["table", "--results", str(store), "--format", fmt]) == 0
        assert marker in capsys.readouterr().out
    assert main(["table", "--results", str(store), "--protocol", "nope"]) == 2


def test_ood_and_lowdata_tables(tmp_path, capsys):
    cell = {"top1": 60.0, "top5": 80.0, "relative_robustness": 0.75, "absolute_robustness": 0.8}
    write_record(tmp_path, record("natural", 0, 80.0, metrics={"perturbed": {"jpeg": {"1": cell, "5": cell}}}))
    curve = [{"per_class": 1, "fraction": None, "subset_seed": s, "top1": 20.0 + s, "videos_per_class": 1.0}
             for s in range(3)]
    write_record(tmp_path, record("natural", 1, 80.0, metrics={"lowdata": curve}))
    assert main(["table", "--kind", "ood", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "| 60.0 " in out and "| -20.0 " in out and "0.750" in out
    assert main(["table", "--kind", "lowdata", "--results", str(tmp_path)]) == 0
    out = capsys.readouterr().out  # one run seed: its mean over 3 subset seeds, and their spread apart
    assert out.count("1/class top-1") == 1 and "21.0 (n=1)" in out and "| 1.0 " in out


def test_paper_table_published_beside_reproduced(store, capsys):
    assert main(["paper", "yu2024", "--table", "1", "--protocol", "smoke", "--task", "embedded",
                 "--results", str(store), "--format", "json"]) == 0
    col = json.loads(capsys.readouterr().out)[0]
    rows = {r["row"]: r for r in col["rows"]}
    assert (rows["scratch"]["published"], rows["accel-stylegan"]["published"]) == (51.4, 90.2)
    assert rows["accel-image-crops"]["published"] == rows["ucf101"]["published"] == 91.3
    assert rows["accel-stylegan"]["gap_closed_published"] == pytest.approx(97.24, abs=0.01)
    assert rows["scratch"]["reproduced"]["mean"] == pytest.approx(40.0) and rows["scratch"]["reproduced"]["n"] == 3
    assert rows["natural" if "natural" in rows else "ucf101"]["reproduced"]["mean"] == pytest.approx(92.0)
    assert rows["moving-circles"]["gap_closed_reproduced"] == pytest.approx(100 * (71 - 40) / (92 - 40))
    assert rows["static-circles"]["reproduced"] is None  # nothing run: blank
    assert col["spearman"]["rows"] == 3 and col["spearman"]["rho"] == pytest.approx(1.0)
    assert main(["paper", "yu2024", "--table", "1", "--results", str(store)]) == 0
    out = capsys.readouterr().out
    assert "51.4" in out and "97.2" in out and "reproduced: top1 of records of protocol yu2024-ucf101" in out
    assert main(["paper", "ishikawa2024", "--results", str(store)]) == 0
    assert "PROVISIONAL" in capsys.readouterr().out
    assert main(["paper", "nope"]) == 2


def test_every_baseline_file_loads_and_names_registered_sources():
    from benchmark.inits import source_entry
    from benchmark.report.paper import load_paper, papers
    assert set(papers()) >= {"yu2024", "ishikawa2024", "videomae"}
    for name in papers():
        for table in load_paper(name).tables:
            for row in table.rows:
                assert row.source is None or source_entry(row.source).name == row.source, (name, table.id, row.id)


def test_plots_are_written_as_png_and_svg(store, tmp_path, capsys):
    assert main(["plot", "progression", "--results", str(store), "--out", str(tmp_path / "plots")]) == 0
    png, svg = (tmp_path / "plots" / "progression.png"), (tmp_path / "plots" / "progression.svg")
    from PIL import Image
    assert Image.open(png).size[0] > 300 and "<svg" in svg.read_text()
    assert main(["plot", "lowdata", "--results", str(store), "--out", str(tmp_path / "plots")]) == 2


def test_check_passes_against_itself_and_fails_against_a_better_reference(store, tmp_path, capsys):
    assert main(["check", "--against", str(store), "--results", str(store)]) == 0
    assert "0 regression(s)" in capsys.readouterr().out
    better = tmp_path / "better"
    for r in read_records(store)[0]:
        if r.source == "moving-circles":
            r.metrics["top1"] += 5  # every seed better in the reference
        write_record(better, r)
    assert main(["check", "--against", str(better), "--results", str(store)]) == 1
    out = capsys.readouterr().out
    assert "REGRESSION" in out and "drop of 5.00 > tolerance 1" in out and "paired t-test on 3 seeds" in out
    single = tmp_path / "single"
    write_record(single, record("natural", 9, 12.5, config={"finetune": {"epochs": 1}}))
    assert main(["check", "--against", str(single), "--results", str(store), "--tolerance", "2"]) == 1
    assert "drop of 2.50 > tolerance 2 (no test (1 value on a side))" in capsys.readouterr().out
    assert main(["check", "--against", str(single), "--results", str(store), "--tolerance", "3"]) == 0
    unrelated = tmp_path / "unrelated"
    write_record(unrelated, record("natural", 0, 50.0, protocol="other"))
    assert main(["check", "--against", str(unrelated), "--results", str(store)]) == 2


def test_leaderboard_is_self_contained(store, tmp_path):
    index = tmp_path / "board" / "index.html"
    assert main(["leaderboard", "--results", str(store), "--out", str(index.parent)]) == 0
    page = index.read_text()
    assert page.count("<table") >= 2 and "<svg" in page and "sortable" in page
    assert "GMACs per test view" in page and "97.2" in page  # costs and the papers' tables
    for fetch in ('src="http', "src='http", 'href="http', "url(http", "@import"):
        assert fetch not in page  # nothing to fetch: no scripts, styles, fonts or images from a network


def test_attention_macs_are_counted():
    import torch

    from benchmark.models.videomae import VideoMAEClassifier
    from benchmark.report import flops
    model = VideoMAEClassifier("tiny", 8, 8, 64).eval()
    video = torch.zeros(1, 3, 8, 64, 64)
    with torch.no_grad():
        total = flops.count(model, video)
        handle = flops.sdpa_macs
        flops.sdpa_macs = lambda inputs, outputs: 0
        try:
            without = flops.count(model, video)
        finally:
            flops.sdpa_macs = handle
    tokens, heads, head_dim, blocks = 64, 3, 64, 4
    assert total - without == blocks * heads * tokens * tokens * (head_dim + head_dim)


@pytest.mark.slow
def test_vit_b_costs_180_gmacs_per_view():
    """VideoMAE's quoted cost of ViT-B at 16 x 224^2 (87 M params, '180 GFLOPs' = MACs; the VideoMAE paper, Table 6)."""
    from benchmark.report.flops import model_cost
    from benchmark.stages.base import load_protocol
    cost = model_cost(load_protocol("yu2024-ucf101"))
    assert cost["gmacs_per_view"] == pytest.approx(180, rel=0.01)
    assert cost["params_m"] == pytest.approx(87, abs=1)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("chromium") is None, reason="needs Debian's chromium package")
def test_leaderboard_renders_in_headless_chromium(store, tmp_path):
    index = tmp_path / "board" / "index.html"
    assert main(["leaderboard", "--results", str(store), "--out", str(index.parent)]) == 0
    shot = tmp_path / "shot.png"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}"]
    dom = subprocess.run(["chromium", *flags, "--dump-dom", index.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    assert dom.count("<table") >= 2 and "<svg" in dom
    subprocess.run(["chromium", *flags, f"--screenshot={shot}", "--window-size=1280,2400", index.as_uri()],
                   capture_output=True, timeout=120, check=True)
    from PIL import Image
    pixels = np.asarray(Image.open(shot).convert("L"))
    assert pixels.shape == (2400, 1280) and pixels.std() > 10  # not a blank page
