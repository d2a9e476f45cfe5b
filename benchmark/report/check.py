"""`bench check`: fresh result records against reference records of the same experiment (same protocol, task,
source and experiment; seeds may differ).

Per experiment, with d = mean(fresh) - mean(reference) on the metric:
- REGRESSION when the drop is larger than `tolerance` points, whatever a test says;
- WARNING when the drop is within the tolerance but statistically clear (one-sided p < alpha): a paired t-test on
  the seeds both sides share (same experiment, same seed), else Welch's t-test with 2+ seeds a side; `strict`
  makes warnings regressions;
- ok otherwise (improvements never fail). Experiments without a reference are listed, not failed.
Every row says which rule and which test decided.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.records import Group, read_records, unique
from benchmark.render import Column, Table
from benchmark.report.tables import groups
from benchmark.stats import lower_than


@dataclass
class Comparison:
    key: tuple  # (protocol, task, source, variant)
    fresh: list[float]
    reference: list[float]
    test: str  # what decided
    status: str  # ok | WARNING | REGRESSION | no reference
    p: float | None = None

    @property
    def regression(self) -> bool:
        return self.status == "REGRESSION"

    @property
    def diff(self) -> float | None:
        if not self.fresh or not self.reference:
            return None
        return sum(self.fresh) / len(self.fresh) - sum(self.reference) / len(self.reference)


def _by_seed(g: Group, metric: str) -> dict[int, float]:
    return {r.seed: r.metric(metric) for r in g.records if r.metric(metric) is not None}


def compare(fresh_dir: Path, reference_dir: Path, metric: str = "top1", tolerance: float = 1.0,
            alpha: float = 0.05, strict: bool = False) -> list[Comparison]:
    if not 0 <= tolerance < math.inf:
        raise BenchError(f"--tolerance must be a number of points >= 0, got {tolerance:g}")
    if not 0 < alpha < 1:
        raise BenchError(f"--alpha must be in (0, 1), got {alpha:g}")
    fresh, _ = read_records(fresh_dir)
    reference, _ = read_records(reference_dir)
    if not fresh:
        raise BenchError(f"no fresh result records under {fresh_dir} (run `bench run --results {fresh_dir}` first)")
    if not reference:
        raise BenchError(f"no reference records under {reference_dir}: point --against at a folder of records")
    if all(r.metric(metric) is None for r in unique(fresh)[0]):
        raise BenchError(f"no fresh record under {fresh_dir} has metric {metric!r}: choose another --metric (e.g. "
                         f"top1, knn.top1, linear_probe.top1)")
    refs = {(g.protocol, g.task, g.source, g.variant): g for g in groups(reference)}
    out = []
    for g in groups(fresh):
        key = (g.protocol, g.task, g.source, g.variant)
        f = _by_seed(g, metric)
        r = _by_seed(refs[key], metric) if key in refs else {}
        if not f:
            continue
        if not r:
            out.append(Comparison(key, list(f.values()), [], "no reference", "no reference"))
            continue
        c = Comparison(key, list(f.values()), list(r.values()), "", "ok")
        t = lower_than(c.fresh, c.reference, [(f[s], r[s]) for s in sorted(f.keys() & r.keys())])
        c.p = t.p
        tested = t.name if t.p is None else f"{t.name}: p = {t.p:.3g}"
        if c.diff < -tolerance:
            c.status, c.test = "REGRESSION", f"drop of {-c.diff:.2f} > tolerance {tolerance:g} ({tested})"
        elif t.p is not None and t.p < alpha and c.diff < 0:
            c.status = "REGRESSION" if strict else "WARNING"
            c.test = f"clear drop within tolerance {tolerance:g} ({tested} < alpha {alpha:g})"
        else:
            c.test = f"within tolerance {tolerance:g} ({tested})"
        out.append(c)
    if all(c.status == "no reference" for c in out):
        raise BenchError(f"none of the {len(out)} fresh experiments has a reference record under {reference_dir} "
                         f"(same protocol, task, source and configuration): nothing was compared")
    return out


def report(comparisons: list[Comparison], metric: str) -> Table:
    rows = []
    for c in comparisons:
        fm = sum(c.fresh) / len(c.fresh) if c.fresh else None
        rm = sum(c.reference) / len(c.reference) if c.reference else None
        rows.append([*c.key, rm, len(c.reference), fm, len(c.fresh), c.diff, c.p, c.test, c.status])
    columns = [Column("protocol"), Column("task"), Column("source"), Column("variant"),
               Column(f"reference_{metric}", f"reference {metric}", 2), Column("reference_n", "n"),
               Column(f"fresh_{metric}", f"fresh {metric}", 2), Column("fresh_n", "n"), Column("diff", "diff", 2),
               Column("p", "p (fresh lower)", 3), Column("decided_by", "decided by"), Column("status")]
    return Table(columns, rows)
