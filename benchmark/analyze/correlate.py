"""`bench analyze correlate`: each dataset property against downstream accuracy, over the sources that have both.

A source's accuracy is the mean over seeds of the records (of one protocol and task) whose source and source
parameters equal the analysis record's; its properties come from the newest analysis record of the protocol for
that source configuration, among those made with the same feature networks as most of them (distances from two
networks are not comparable). Pearson's r and Spearman's rho with percentile bootstrap intervals over sources
(2,000 resamples, seeded; resamples in which a variable is constant are skipped), beside the r Yu et al. 2024
publish (Section 5: 28 dataset variants, ViT-B finetuned on UCF101, Inception/I3D features).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.errors import BenchError
from benchmark.records import read_records, unique
from benchmark.render import Column, Table

# (key, field, label, Yu et al.'s published Pearson r or None)
PROPERTIES = [
    ("fd_frames", "value", "frame Frechet distance", -0.72),
    ("fd_clips", "value", "clip Frechet distance", -0.27),
    ("diversity", "log_volume", "diversity (log volume of 16 frames)", 0.53),
    ("spectrum_alpha", "mean", "spectrum slope alpha", None),
    ("colour_kl", "value", "colour symmetric KL (L*a*b*)", -0.42),
    ("flow", "mean", "optical flow (px/frame)", None),
    ("temporal_energy", "mean", "temporal-difference energy", None),
]
PUBLISHED = "Yu et al. 2024 Section 5 (published; 28 datasets, UCF101 finetuning, Inception-v3 / I3D features)"
BOOTSTRAP = 2000


@dataclass
class Point:
    source: str
    label: str
    accuracy: float
    seeds: int
    values: dict[str, float]


def _label(record: dict) -> str:
    from benchmark.report.paper import _defaults
    params = record["source_params"] or {}
    changed = {k: v for k, v in params.items() if _defaults(record["source"]).get(k, v) != v}
    return record["source"] + (" " + " ".join(f"{k}={_short(v)}" for k, v in changed.items()) if changed else "")


def _short(value) -> str:
    """A parameter value as a label shows it: a mixture's components as `a 0.95 + b 0.05`."""
    if isinstance(value, list) and all(isinstance(c, dict) and "source" in c for c in value):
        return " + ".join(f"{c['source']} {c.get('weight', '')}".strip() for c in value)
    return str(value)


def points(results: Path, protocol: str, task: str | None, metric: str = "top1") -> tuple[list[Point], dict, list]:
    """(points, the feature networks they share, notes)."""
    folder = results / "analysis" / Path(protocol).stem
    analyses = []
    for path in sorted(folder.glob("*.json")):
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        if data.get("kind") == "analysis":
            analyses.append(data)
    if not analyses:
        raise BenchError(f"no analysis records in {folder}: run `bench analyze --source S --protocol {protocol}` "
                         f"first (with the same --results)")
    nets = [json.dumps(a["config"]["features"], sort_keys=True) for a in analyses]
    common = max(set(nets), key=nets.count)
    notes = []
    if len(set(nets)) > 1:
        notes.append(f"{sum(n != common for n in nets)} analysis records made with other feature networks left out")
    newest: dict[str, dict] = {}
    for a, n in zip(analyses, nets, strict=True):
        key = json.dumps([a["source"], a["source_params"]], sort_keys=True)
        if n == common and (key not in newest or a["created"] > newest[key]["created"]):
            newest[key] = a
    records, _ = read_records(results, protocol=Path(protocol).stem)
    records = unique([r for r in records if task is None or r.task == task])[0]
    tasks = sorted({r.task for r in records})
    if task is None and len(tasks) > 1:
        raise BenchError(f"records of protocol {protocol} are on several tasks ({', '.join(tasks)}): choose one "
                         f"with --task")
    out = []
    for a in newest.values():
        accs = [r.metric(metric) for r in records if r.source == a["source"]
                and r.config.get("source", {}).get("params") == a["source_params"] and r.metric(metric) is not None]
        if accs:
            values = {k: a["properties"][k][f] for k, f, _, _ in PROPERTIES if k in a["properties"]}
            out.append(Point(a["source"], _label(a), float(np.mean(accs)), len(accs), values))
    return out, json.loads(common), notes


def _bootstrap(x: np.ndarray, y: np.ndarray, stat, seed: int) -> tuple[float | None, float | None]:
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(BOOTSTRAP):
        i = rng.integers(0, len(x), len(x))
        if np.ptp(x[i]) == 0 or np.ptp(y[i]) == 0:
            continue
        values.append(stat(x[i], y[i]))
    if len(values) < BOOTSTRAP // 2:
        return None, None
    return float(np.percentile(values, 2.5)), float(np.percentile(values, 97.5))


def correlations(pts: list[Point]) -> list[dict]:
    from scipy import stats
    rows = []
    for k, (key, _field, label, published) in enumerate(PROPERTIES):
        have = [p for p in pts if p.values.get(key) is not None and np.isfinite(p.values[key])]
        row = {"property": key, "label": label, "sources": len(have), "published_r": published,
               "pearson": None, "pearson_ci": (None, None), "spearman": None, "spearman_ci": (None, None)}
        if len(have) >= 3:
            x = np.array([p.values[key] for p in have])
            y = np.array([p.accuracy for p in have])
            if np.ptp(x) > 0 and np.ptp(y) > 0:
                pearson = lambda a, b: float(stats.pearsonr(a, b)[0])  # noqa: E731
                spearman = lambda a, b: float(stats.spearmanr(a, b)[0])  # noqa: E731
                row.update(pearson=pearson(x, y), pearson_ci=_bootstrap(x, y, pearson, k),
                           spearman=spearman(x, y), spearman_ci=_bootstrap(x, y, spearman, 100 + k))
        rows.append(row)
    return rows


def _ci(value, ci) -> str:
    if value is None:
        return ""
    low, high = ci
    return f"{value:+.2f}" + (f" [{low:+.2f}, {high:+.2f}]" if low is not None else "")


def tables(pts: list[Point], nets: dict, rows: list[dict], protocol: str, task: str | None, metric: str,
           notes: list[str]) -> list[Table]:
    frames, clips = nets["frames"]["name"], nets["clips"]["name"]
    corr = Table([Column("property"), Column("network"), Column("sources"), Column("pearson", "Pearson r [95% CI]"),
                  Column("spearman", "Spearman rho [95% CI]"), Column("published_r", "Yu et al. r (published)", 2)],
                 [[r["label"], {"fd_frames": frames, "diversity": frames, "fd_clips": clips}.get(r["property"], ""),
                   r["sources"], _ci(r["pearson"], r["pearson_ci"]), _ci(r["spearman"], r["spearman_ci"]),
                   r["published_r"]] for r in rows],
                 title=f"Dataset properties vs {metric} ({protocol}{', ' + task if task else ''}): correlation over "
                       f"sources",
                 notes=[f"bootstrap over sources, {BOOTSTRAP} resamples; Frechet distances: {nets['frames']['metric']} "
                        f"(frames), {nets['clips']['metric']} (clips); published: {PUBLISHED}", *notes])
    props = Table([Column("source"), Column("seeds"), Column("accuracy", f"{metric} % (mean)", 1)]
                  + [Column(key, label, 3) for key, _f, label, _p in PROPERTIES],
                  [[p.label, p.seeds, p.accuracy] + [p.values.get(key) for key, *_ in PROPERTIES] for p in pts],
                  title="Properties per source", notes=[f"frame features: {frames}; clip features: {clips}"])
    return [corr, props]


def plot(pts: list[Point], nets: dict, rows: list[dict], out: Path, title: str) -> list[Path]:
    """One scatter panel per property, points labelled by source; the measured and the published r in each title."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from benchmark.runtime import atomic_write
    cols = 4
    fig, axes = plt.subplots(2, cols, figsize=(4.2 * cols, 8))
    network = {"fd_frames": nets["frames"]["metric"], "diversity": nets["frames"]["name"],
               "fd_clips": nets["clips"]["metric"]}
    for ax, (key, _f, label, _p), row in zip(axes.flat, PROPERTIES, rows, strict=False):
        have = [p for p in pts if p.values.get(key) is not None and np.isfinite(p.values[key])]
        ax.scatter([p.values[key] for p in have], [p.accuracy for p in have], s=18)
        for p in have:
            note = ax.annotate(p.label, (p.values[key], p.accuracy), fontsize=6, xytext=(2, 2),
                               textcoords="offset points")
            note.set_in_layout(False)  # a long label (a mixture's components) must not squeeze the panel
        measured = f"r = {row['pearson']:+.2f}" if row["pearson"] is not None else "r: n/a"
        published = f"Yu et al.: r = {row['published_r']:+.2f}" if row["published_r"] is not None else \
            "Yu et al.: no r"
        ax.set_title(f"{label}\n{measured} (n={row['sources']}); {published}", fontsize=8)
        ax.set_xlabel(network.get(key, label), fontsize=7)
        ax.set_ylabel("top-1 %", fontsize=7)
        ax.tick_params(labelsize=6)
    for ax in list(axes.flat)[len(PROPERTIES):]:
        ax.axis("off")
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    paths = []
    try:
        for ext, dpi in (("png", 150), ("svg", None)):
            path = out / f"correlate.{ext}"
            atomic_write(path, lambda f, ext=ext, dpi=dpi: fig.savefig(f, format=ext, dpi=dpi, bbox_inches="tight"))
            paths.append(path)
    finally:
        plt.close(fig)
    return paths
