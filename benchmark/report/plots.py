"""`bench plot`: the progression bar chart, low-data curves and the OOD chart, as PNG and SVG (matplotlib)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from benchmark.errors import BenchError  # noqa: E402
from benchmark.report.stats import estimate  # noqa: E402
from benchmark.report.tables import groups  # noqa: E402

KINDS = ("progression", "lowdata", "ood")


def _by_source(records: list[dict]) -> dict[str, list[dict]]:
    """One variant per source (the one with the most seeds), in registry order."""
    best: dict[str, list[dict]] = {}
    for (_, _, source, _), recs in groups(records):
        if len(recs) > len(best.get(source, [])):
            best[source] = recs
    return best


def _save(fig, out: Path, name: str) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.svg"]
    fig.savefig(paths[0], dpi=150, bbox_inches="tight")
    fig.savefig(paths[1], bbox_inches="tight")
    plt.close(fig)
    return paths


def progression(records: list[dict], title: str):
    by_source = _by_source(records)
    names = list(by_source)
    est = [estimate([r["metrics"]["top1"] for r in by_source[s]]) for s in names]
    mean = np.array([e.mean for e in est])
    err = np.array([[e.mean - e.low, e.high - e.mean] if e.low is not None else [0, 0] for e in est]).T
    fig, ax = plt.subplots(figsize=(max(6.0, 0.7 * len(names) + 2), 4))
    ax.bar(range(len(names)), mean, yerr=err, capsize=3, color="#4c72b0")
    for i, (m, e) in enumerate(zip(mean, est, strict=True)):
        ax.text(i, m + 1, f"{m:.1f}\nn={e.n}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, min(105, max(mean) + 15))
    ax.set_title(title + " (mean over seeds, 95% bootstrap CI)", fontsize=9)
    return fig


def lowdata(records: list[dict], title: str):
    fig, ax = plt.subplots(figsize=(6, 4))
    for source, recs in _by_source([r for r in records if r["metrics"].get("lowdata")]).items():
        points: dict[float, list[float]] = {}
        for r in recs:
            for c in r["metrics"]["lowdata"]:
                points.setdefault(c["videos_per_class"], []).append(c["top1"])
        xs = sorted(points)
        est = [estimate(points[x]) for x in xs]
        line = ax.plot(xs, [e.mean for e in est], marker="o", label=source)[0]
        low = [e.low if e.low is not None else e.mean for e in est]
        high = [e.high if e.high is not None else e.mean for e in est]
        ax.fill_between(xs, low, high, color=line.get_color(), alpha=0.2)
    ax.set_xscale("log")
    ax.set_xlabel("training videos per class")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_title(title + " (bands: 95% CI over subset and run seeds)", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def ood(records: list[dict], title: str, severity: int | None = None):
    from benchmark.evaluate.perturbations import get
    by_source = _by_source([r for r in records if r["metrics"].get("perturbed")])
    names: list[str] = []
    for recs in by_source.values():
        for r in recs:
            names += [n for n in r["metrics"]["perturbed"] if n not in names]
    labels = ["original"] + [get(n).label for n in names]
    fig, ax = plt.subplots(figsize=(max(7.0, 0.6 * len(labels) * max(1, len(by_source)) / 2 + 3), 4))
    width = 0.8 / max(1, len(by_source))
    for k, (source, recs) in enumerate(by_source.items()):
        values = [np.mean([r["metrics"]["top1"] for r in recs])]
        for n in names:
            cells = [c["top1"] for r in recs for sev, c in r["metrics"]["perturbed"].get(n, {}).items()
                     if severity is None or int(sev) == severity]
            values.append(np.mean(cells) if cells else np.nan)
        ax.bar(np.arange(len(labels)) + (k - (len(by_source) - 1) / 2) * width, values, width, label=source)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_ylabel("top-1 accuracy (%)")
    sev = "mean over severities" if severity is None else f"severity {severity}"
    ax.set_title(f"{title}: clean and perturbed test sets ({sev})", fontsize=9)
    ax.legend(fontsize=7)
    return fig


def plot(kind: str, records: list[dict], out: Path, title: str, severity: int | None = None) -> list[Path]:
    if kind not in KINDS:
        raise BenchError(f"unknown plot {kind!r}: choose one of {', '.join(KINDS)}")
    need = {"progression": "top1", "lowdata": "lowdata", "ood": "perturbed"}[kind]
    if not any(r["metrics"].get(need) is not None for r in records):
        hint = {"progression": "run `bench run`", "lowdata": "run a protocol with lowdata points (e.g. lowdata)",
                "ood": "run a protocol with evaluate.perturbations (e.g. yu2024-ucf101p)"}[kind]
        raise BenchError(f"no records with {need} results for this protocol and task: {hint}")
    fig = {"progression": progression, "lowdata": lowdata}.get(kind, lambda r, t: ood(r, t, severity))(records, title)
    return _save(fig, out, kind)
