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
from benchmark.stages.base import CACHE_VERSION, Context, Cost, Size, Stage, cache_hash, cached, register
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
        if self.per_class and self.fractions:
            raise BenchError(f"keys {where}.per_class and {where}.fractions are alternatives: a per-class point and "
                             f"a fraction point need not be nested subsets; give one kind of point")
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

    def cost(self, spec, size: Size) -> Cost:
        from benchmark.evaluate.lowdata import points
        from benchmark.train.finetune import schedule
        p = spec.protocol
        ft, cfg, ev = p.finetune, p.lowdata, self._views(p)
        total = Cost()
        for point in points(cfg.per_class, cfg.fractions):
            videos = (min(size.train, point["per_class"] * size.classes) if point["per_class"] is not None
                      else max(1, round(point["fraction"] * size.train)))
            steps = schedule(ft, videos, 1, cfg.steps)[0]
            flops = (size.train_flops(steps * ft.batch_size * ft.repeated_aug, size.view_gmacs)
                     + size.forward_flops(size.test * ev.test_clips * ev.test_crops))
            total = total + Cost(steps * len(cfg.subset_seeds), flops * len(cfg.subset_seeds))
        return total

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


def _curve(g) -> dict[str, dict[int, list[dict]]]:
    """point -> run seed -> that run's entries (one per subset seed)."""
    out: dict[str, dict[int, list[dict]]] = {}
    for r in g.records:
        for c in r.metrics.get("lowdata") or []:
            out.setdefault(point_name(c), {}).setdefault(r.seed, []).append(c)
    return out


def lowdata_table(groups: list) -> Table:
    """Per experiment and point: top-1 averaged over the subset seeds of each run, then mean [CI] over the runs'
    seeds; beside it the spread the subset draw adds (mean over runs of the SD across subset seeds). The two are
    nested, not pooled as independent samples."""
    import numpy as np
    names: list[str] = []
    for g in groups:
        names += [n for n in _curve(g) if n not in names]
    rows = []
    for g in groups:
        curve = _curve(g)
        row: list = [g.protocol, g.task, g.source, g.variant, len(g.seeds)]
        for pt in names:
            runs = curve.get(pt, {})
            row.append(estimate([float(np.mean([c["top1"] for c in cs])) for cs in runs.values()]))
            spread = [float(np.std([c["top1"] for c in cs], ddof=1)) for cs in runs.values() if len(cs) > 1]
            row.append(float(np.mean(spread)) if spread else None)
        rows.append(row)
    columns = [Column("protocol"), Column("task"), Column("source"), Column("variant"), Column("n_seeds", "n seeds")]
    for n in names:
        columns += [Column(n, f"{n} top-1 % (over run seeds)"), Column(f"{n} subset_sd", "sd over subset seeds")]
    return Table(columns, rows, title="Low-data finetuning: top-1 % per point")


def plot_lowdata(ax, by_source: dict, title: str, severity: int | None = None) -> bool:
    """Accuracy against training videos per class, one line per source; points are the config's points (a per-class
    and a fraction point of the same size stay apart), bands the CI over run seeds."""
    import numpy as np
    drawn = False
    for source, g in by_source.items():
        curve = _curve(g)
        if not curve:
            continue
        xs, est = [], []
        for runs in curve.values():
            xs.append(float(np.mean([c["videos_per_class"] for cs in runs.values() for c in cs])))
            est.append(estimate([float(np.mean([c["top1"] for c in cs])) for cs in runs.values()]))
        order = np.argsort(xs)
        xs, est = [xs[i] for i in order], [est[i] for i in order]
        line = ax.plot(xs, [e.mean for e in est], marker="o", label=source)[0]
        ax.fill_between(xs, [e.low if e.low is not None else e.mean for e in est],
                        [e.high if e.high is not None else e.mean for e in est], color=line.get_color(), alpha=0.2)
        drawn = True
    if drawn:
        ax.set_xscale("log")
        ax.set_xlabel("training videos per class")
        ax.set_ylabel("top-1 accuracy (%)")
        ax.set_title(title + " (bands: 95% t-interval over run seeds of the subset-seed mean)", fontsize=9)
        ax.legend(fontsize=7)
    return drawn
