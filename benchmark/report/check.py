"""`bench check`: fresh result records against reference records of the same experiment (same protocol, task,
source and experiment; seeds may differ).

With at least 3 seeds on both sides, a regression is a one-sided Welch t-test of "fresh lower than reference" at
level `alpha` (scipy); otherwise it is a fresh mean below the reference mean by more than `tolerance` points.
Improvements never fail. Experiments with no reference are listed, not failed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.records import read_records
from benchmark.render import Column, Table
from benchmark.report.tables import groups
from benchmark.stats import lower_than


@dataclass
class Comparison:
    key: tuple  # (protocol, task, source, variant)
    fresh: list[float]
    reference: list[float]
    test: str
    regression: bool


def compare(fresh_dir: Path, reference_dir: Path, metric: str = "top1", tolerance: float = 1.0,
            alpha: float = 0.05) -> list[Comparison]:
    fresh, _ = read_records(fresh_dir)
    reference, _ = read_records(reference_dir)
    if not fresh:
        raise BenchError(f"no fresh result records under {fresh_dir} (run `bench run --results {fresh_dir}` first)")
    if not reference:
        raise BenchError(f"no reference records under {reference_dir}: point --against at a folder of records")
    refs = {(g.protocol, g.task, g.source, g.variant): g for g in groups(reference)}
    out = []
    for g in groups(fresh):
        key = (g.protocol, g.task, g.source, g.variant)
        f = g.values(metric)
        r = refs[key].values(metric) if key in refs else []
        if not r:
            out.append(Comparison(key, f, r, "no reference", False))
            continue
        fm, rm = sum(f) / len(f), sum(r) / len(r)
        if len(f) >= 3 and len(r) >= 3:
            p = lower_than(f, r)
            out.append(Comparison(key, f, r, f"Welch t-test p = {p:.3g} (alpha {alpha})", p < alpha and fm < rm))
        else:
            out.append(Comparison(key, f, r, f"tolerance {tolerance:g} points", fm < rm - tolerance))
    if all(c.test == "no reference" for c in out):
        raise BenchError(f"none of the {len(out)} fresh experiments has a reference record under {reference_dir} "
                         f"(same protocol, task, source and configuration): nothing was compared")
    return out


def report(comparisons: list[Comparison], metric: str) -> Table:
    rows = []
    for c in comparisons:
        fm = sum(c.fresh) / len(c.fresh) if c.fresh else None
        rm = sum(c.reference) / len(c.reference) if c.reference else None
        status = "REGRESSION" if c.regression else ("-" if c.test == "no reference" else "ok")
        rows.append([*c.key, rm, len(c.reference), fm, len(c.fresh),
                     fm - rm if fm is not None and rm is not None else None, c.test, status])
    columns = [Column("protocol"), Column("task"), Column("source"), Column("variant"),
               Column(f"reference_{metric}", f"reference {metric}", 2), Column("reference_n", "n"),
               Column(f"fresh_{metric}", f"fresh {metric}", 2), Column("fresh_n", "n"), Column("diff", "diff", 2),
               Column("test"), Column("status")]
    return Table(columns, rows)
