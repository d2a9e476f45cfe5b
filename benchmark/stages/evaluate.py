"""The evaluate stage: the finetuned classifier on the task's test split, K clips x crops per video with the
softmax averaged per video (VideoMAE's multi-view test), clean and, when the protocol lists perturbations, under
each perturbation x severity (UCF101-P). Its metrics are the record's headline top-1 / top-5."""

from __future__ import annotations

from typing import Any

from benchmark.errors import BenchError
from benchmark.render import Column, Table
from benchmark.stages.base import Context, Cost, Metric, Output, Size, Stage, register
from benchmark.stats import estimate


@register
class Evaluate(Stage):
    """Multi-view test of the finetuned classifier, clean and perturbed."""

    name = "evaluate"
    needs = ("finetune",)
    table_kinds = ("ood",)
    example = ("evaluate.perturbations=[jpeg, freeze]", "evaluate.severities=[1]")  # always on; this adds OOD

    def key(self, spec) -> dict[str, Any]:
        return {"evaluate": spec.protocol.evaluate}

    def validate(self, spec) -> None:
        from benchmark.evaluate.perturbations import PERTURBATIONS, SEVERITIES
        ev = spec.protocol.evaluate
        for name in ev.perturbations:
            if name not in PERTURBATIONS:
                raise BenchError(f"key evaluate.perturbations: unknown perturbation {name!r}; choose from "
                                 f"{', '.join(PERTURBATIONS.names())}")
        bad = [s for s in ev.severities if s not in SEVERITIES]
        if bad:
            raise BenchError(f"key evaluate.severities must hold values in 1..5, got {bad[0]}")

    def cost(self, spec, size: Size) -> Cost:
        ev = spec.protocol.evaluate
        conditions = 1 + len(ev.perturbations) * len(ev.severities)
        return Cost(0, size.forward_flops(size.test * ev.test_clips * ev.test_crops * conditions))

    def run(self, ctx: Context) -> dict[str, Any]:
        import time

        from benchmark.evaluate.multiview import evaluate
        from benchmark.stages.finetune import load_classifier
        p = ctx.spec.protocol
        t0 = time.perf_counter()
        model = load_classifier(ctx.spec, p.finetune, ctx.task.num_classes, ctx.inputs["finetune"].workdir, ctx.dist)
        metrics = evaluate(model, ctx.task.test, p.clip, p.evaluate, p.finetune.stride, p.runtime, ctx.dist)
        return {**metrics, "seconds": round(time.perf_counter() - t0, 3)}

    def fill(self, record, output: Output, spec) -> None:
        result = dict(output.result)
        record.skipped_videos["test"] = result.pop("skipped_test_videos", [])
        record.evaluate = {"seconds": result.pop("seconds", None), "cached": output.cached}
        record.metrics.update(result)

    def metrics(self) -> list[Metric]:
        return [Metric("top1", "top-1 %", primary=True), Metric("top5", "top-5 %")]

    def tables(self, groups: list, severity: int | None = None) -> dict[str, Table]:
        with_ood = [g for g in groups if any(r.metrics.get("perturbed") for r in g.records)]
        return {"ood": ood_table(with_ood, severity)} if with_ood else {}

    def plots(self) -> dict:
        return {"progression": plot_progression, "ood": plot_ood}


def _perturbed(g, name: str, severity: int | None) -> list[float]:
    return [c["top1"] for r in g.records for sev, c in (r.metrics.get("perturbed") or {}).get(name, {}).items()
            if (severity is None or int(sev) == severity) and c.get("top1") is not None]


def ood_table(groups: list, severity: int | None = None) -> Table:
    """Per experiment: clean top-1 and, per perturbation, top-1 and its difference from clean (timm's
    `top1_diff`), over the severities present (or one), and the mean relative robustness."""
    names: list[str] = []
    for g in groups:
        for r in g.records:
            names += [n for n in (r.metrics.get("perturbed") or {}) if n not in names]
    rows = []
    for g in groups:
        clean = estimate(g.values("top1"))
        row: list = [g.protocol, g.task, g.source, g.variant, len(g.seeds), clean and clean.mean]
        rel = []
        for name in names:
            acc = estimate(_perturbed(g, name, severity))
            row += [acc and acc.mean, acc.mean - clean.mean if acc and clean else None]
            rel += [c["relative_robustness"] for r in g.records
                    for sev, c in (r.metrics.get("perturbed") or {}).get(name, {}).items()
                    if (severity is None or int(sev) == severity) and c.get("relative_robustness") is not None]
        row.append(sum(rel) / len(rel) if rel else None)
        rows.append(row)
    sev = "all severities" if severity is None else f"severity {severity}"
    columns = [Column("protocol"), Column("task"), Column("source"), Column("variant"), Column("n_seeds", "n seeds"),
               Column("clean_top1", "clean top-1 %")]
    for n in names:
        columns += [Column(f"{n}_top1", f"{n} top-1 % ({sev})"),
                    Column(f"{n}_diff", f"{n} - clean (points; negative = a drop)")]
    columns.append(Column("relative_robustness", "mean relative robustness 1 - (clean - perturbed) / clean (1 = no "
                                                 "drop; higher = more robust)", digits=3))
    return Table(columns, rows, title=f"Clean and perturbed top-1 ({sev})")


def plot_progression(ax, by_source: dict, title: str, severity: int | None = None) -> bool:
    """Top-1 per source, in registry order, with CI error bars."""
    import numpy as np
    names = [s for s, g in by_source.items() if g.values("top1")]
    if not names:
        return False
    est = [estimate(by_source[s].values("top1")) for s in names]
    mean = np.array([e.mean for e in est])
    err = np.array([[e.mean - e.low, e.high - e.mean] if e.low is not None else [0, 0] for e in est]).T
    ax.figure.set_size_inches(max(6.0, 0.7 * len(names) + 2), 4)
    ax.bar(range(len(names)), mean, yerr=err, capsize=3, color="#4c72b0")
    for i, (m, e) in enumerate(zip(mean, est, strict=True)):
        ax.text(i, m + 1, f"{m:.1f}\nn={e.n}", ha="center", va="bottom", fontsize=7)
    ax.set_xticks(range(len(names)), names, rotation=35, ha="right")
    ax.set_ylabel("top-1 accuracy (%)")
    ax.set_ylim(0, min(105, max(mean) + 15))
    ax.set_title(f"{title} (mean over seeds, {est[0].method} 95% CI)", fontsize=9)
    return True


def plot_ood(ax, by_source: dict, title: str, severity: int | None = None) -> bool:
    """Clean and perturbed top-1 per source, grouped by perturbation."""
    import numpy as np

    from benchmark.evaluate.perturbations import PERTURBATIONS
    by_source = {s: g for s, g in by_source.items() if any(r.metrics.get("perturbed") for r in g.records)}
    if not by_source:
        return False
    names: list[str] = []
    for g in by_source.values():
        for r in g.records:
            names += [n for n in (r.metrics.get("perturbed") or {}) if n not in names]
    labels = ["original"] + [PERTURBATIONS.get(n).label for n in names]
    ax.figure.set_size_inches(max(7.0, 0.3 * len(labels) * len(by_source) + 3), 4)
    width = 0.8 / len(by_source)
    for k, (source, g) in enumerate(by_source.items()):
        values = [np.mean(g.values("top1"))] + [np.mean(v) if (v := _perturbed(g, n, severity)) else np.nan
                                                for n in names]
        ax.bar(np.arange(len(labels)) + (k - (len(by_source) - 1) / 2) * width, values, width, label=source)
    ax.set_xticks(range(len(labels)), labels, rotation=35, ha="right")
    ax.set_ylabel("top-1 accuracy (%)")
    sev = "mean over severities" if severity is None else f"severity {severity}"
    ax.set_title(f"{title}: clean and perturbed test sets ({sev})", fontsize=9)
    ax.legend(fontsize=7)
    return True
