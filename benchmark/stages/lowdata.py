"""The lowdata stage: a low-data finetuning curve. For each subset seed and point (videos per class, or a fraction
of every class), a class-balanced, nested subset of the training split is finetuned from the pretrain stage's
weights with the finetune recipe (for `steps` optimizer steps, or finetune.epochs over the subset) and evaluated
on the clean test views. One run writes the whole curve (`metrics.lowdata`)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from benchmark.config import param
from benchmark.errors import BenchError
from benchmark.render import Column, Table
from benchmark.runtime import world_from_env
from benchmark.stages.base import CACHE_VERSION, Context, Stage, cache_hash, cached, register
from benchmark.stats import estimate


@dataclass
class LowDataConfig:
    per_class: list[int] = param([], doc="training videos per class, e.g. [1, 5, 10]")
    fractions: list[float] = param([], doc="fractions of every class's training videos, e.g. [0.01, 0.1]")
    subset_seeds: list[int] = param([0, 1, 2], doc="one subset draw (and one finetuning) per seed and point")
    steps: int | None = param(None, gt=0, doc="optimizer steps per point; None: finetune.epochs over the subset")

    def validate(self, where: str) -> None:
        if any(k < 1 for k in self.per_class) or any(not 0 < f <= 1 for f in self.fractions):
            raise BenchError(f"key {where}.per_class must be >= 1 and {where}.fractions in (0, 1]")
        if (self.per_class or self.fractions) and not self.subset_seeds:
            raise BenchError(f"key {where}.subset_seeds must name at least one seed")


def point_name(c: dict) -> str:
    return f"{c['per_class']}/class" if c.get("per_class") is not None else f"{100 * c['fraction']:g}%"


@register
class LowData(Stage):
    """Low-data finetuning curve: nested class-balanced subsets, each finetuned and evaluated."""

    name = "lowdata"
    Config = LowDataConfig
    needs = ("pretrain",)
    table_kinds = ("lowdata",)
    example = ("lowdata.per_class=[1, 2]", "lowdata.subset_seeds=[0]", "lowdata.steps=2")

    def enabled(self, spec) -> bool:
        cfg = spec.protocol.lowdata
        return bool(cfg.per_class or cfg.fractions)

    def key(self, spec) -> dict[str, Any]:
        from benchmark.stages.finetune import task_key
        p = spec.protocol
        return {**task_key(spec), "finetune": p.finetune, "views": self._views(p), "lowdata": p.lowdata}

    @staticmethod
    def _views(p):
        return replace(p.evaluate, perturbations=[])  # points are evaluated on the clean test views

    def validate(self, spec) -> None:
        from benchmark.train.finetune import schedule
        p = spec.protocol
        schedule(p.finetune, len(spec.task_object.train), world_from_env()[1],
                 p.lowdata.steps, "finetune")

    def run(self, ctx: Context) -> list[dict]:
        from benchmark.data.splits import SubsetSplit
        from benchmark.evaluate.lowdata import class_orders, points, subset
        from benchmark.evaluate.multiview import evaluate
        from benchmark.stages.finetune import load_classifier, task_key
        from benchmark.stages.pretrain import encoder_weights
        from benchmark.train.finetune import finetune
        spec, task, dist = ctx.spec, ctx.task, ctx.dist
        p, cfg = spec.protocol, spec.protocol.lowdata
        weights = encoder_weights(ctx.inputs["pretrain"], spec)
        labels = [task.train.label(i) for i in range(len(task.train))]
        curve = []
        for subset_seed in cfg.subset_seeds:
            orders = class_orders(labels, task.num_classes, subset_seed)
            for point in points(cfg.per_class, cfg.fractions):
                indices = subset(orders, **point)
                key = {"stage": "finetune", "v": CACHE_VERSION, "after": ctx.identity["after"],
                       "config": {**task_key(spec), "finetune": p.finetune,
                                  "subset": {"subset_seed": subset_seed, **point, "steps": cfg.steps}}}
                wd = ctx.work / "finetune" / cache_hash(key, spec.seed)
                train = SubsetSplit(task.train, indices)
                summary, reused = cached(wd, {**key, "seed": spec.seed}, dist, lambda wd=wd, train=train: finetune(
                    p.model, p.clip, p.finetune, p.runtime, task, weights, spec.seed, dist, wd, train=train,
                    steps=cfg.steps))
                model = load_classifier(spec, p.finetune, task.num_classes, wd, dist)
                metrics = evaluate(model, task.test, p.clip, self._views(p), p.finetune.stride, p.runtime, dist)
                curve.append({**point, "subset_seed": subset_seed, "train_videos": len(indices),
                              "videos_per_class": round(len(indices) / task.num_classes, 3),
                              "top1": metrics["top1"], "top5": metrics["top5"],
                              "finetune_steps": summary["total_steps"], "cached": reused})
        return curve

    def fill(self, record, output, spec) -> None:
        record.metrics["lowdata"] = output.result

    def tables(self, groups: list, severity: int | None = None) -> dict[str, Table]:
        with_curve = [g for g in groups if any(r.metrics.get("lowdata") for r in g.records)]
        return {"lowdata": lowdata_table(with_curve)} if with_curve else {}

    def plots(self) -> dict:
        return {"lowdata": plot_lowdata}


def lowdata_table(groups: list) -> Table:
    """Per experiment, top-1 at each low-data point: mean [95% CI] over subset seeds x run seeds."""
    names: list[str] = []
    for g in groups:
        for r in g.records:
            names += [point_name(c) for c in r.metrics.get("lowdata") or [] if point_name(c) not in names]
    rows = []
    for g in groups:
        row: list = [g.protocol, g.task, g.source, g.variant, len(g.seeds)]
        for pt in names:
            row.append(estimate([c["top1"] for r in g.records for c in r.metrics.get("lowdata") or []
                                 if point_name(c) == pt]))
        rows.append(row)
    columns = [Column("protocol"), Column("task"), Column("source"), Column("variant"), Column("n_seeds", "n seeds")]
    return Table(columns + [Column(n) for n in names], rows, title="Low-data finetuning: top-1 % per point")


def plot_lowdata(ax, by_source: dict, title: str, severity: int | None = None) -> bool:
    drawn = False
    for source, g in by_source.items():
        points: dict[float, list[float]] = {}
        for r in g.records:
            for c in r.metrics.get("lowdata") or []:
                points.setdefault(c["videos_per_class"], []).append(c["top1"])
        if not points:
            continue
        xs = sorted(points)
        est = [estimate(points[x]) for x in xs]
        line = ax.plot(xs, [e.mean for e in est], marker="o", label=source)[0]
        ax.fill_between(xs, [e.low if e.low is not None else e.mean for e in est],
                        [e.high if e.high is not None else e.mean for e in est], color=line.get_color(), alpha=0.2)
        drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.set_xlabel("training videos per class")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(title + " (bands: 95% CI over subset and run seeds)", fontsize=9)
        ax.legend(fontsize=7)
    return drawn
