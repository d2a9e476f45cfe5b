"""Tables over result records: the run table `bench run` prints, and `bench table`'s main, OOD and low-data tables.

Records are pooled over seeds only when they are repeats of one experiment (same protocol, task, source and
`variant`: the hash of the whole configuration minus the seed); a run with other --set values is another row.
"""

from __future__ import annotations

import csv
import io
import json

from tabulate import tabulate

from benchmark.report.records import variant
from benchmark.report.stats import Estimate, estimate
from benchmark.sources import SOURCES

FORMATS = ("github", "markdown", "latex", "csv", "json")


def emit(headers: list[str], rows: list[list], fmt: str = "github") -> str:
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([headers] + rows)
        return buf.getvalue().rstrip("\n")
    if fmt == "json":
        return json.dumps([dict(zip(headers, r, strict=True)) for r in rows], indent=1)
    return tabulate(rows, headers=headers, tablefmt={"markdown": "pipe"}.get(fmt, fmt), disable_numparse=True)


def source_order(source: str) -> int:
    names = SOURCES.names()
    return names.index(source) if source in names else len(names)


def _fmt(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def ci_text(e: Estimate | None, digits: int = 1) -> str:
    if e is None:
        return ""
    if e.low is None:
        return f"{e.mean:.{digits}f}"
    return f"{e.mean:.{digits}f} [{e.low:.{digits}f}, {e.high:.{digits}f}]"


def run_table(records: list[dict], mark_run_id: str | None = None, fmt: str = "github") -> str:
    """One row per record (same protocol and task), sources in registry order, the marked run flagged '>'."""
    rows = []
    for r in sorted(records, key=lambda r: (source_order(r["source"]), r["seed"], r.get("created", ""))):
        m, pre, ft = r.get("metrics", {}), r.get("pretrain") or {}, r.get("finetune") or {}
        rows.append([">" if r.get("run_id") == mark_run_id else "", r["source"], r["seed"], _fmt(m.get("top1")),
                     _fmt(m.get("top5")),
                     (_fmt(pre.get("seconds"), 0) + (" (cached)" if pre.get("cached") else "")) if pre else "-",
                     _fmt(ft.get("seconds"), 0), variant(r), r.get("created", "")[:19]])
    headers = ["", "source", "seed", "top1 %", "top5 %", "pretrain s", "finetune s", "variant", "created"]
    return emit(headers, rows, fmt)


def groups(records: list[dict]) -> list[tuple[tuple, list[dict]]]:
    """[((protocol, task, source, variant), records)], in (protocol, task, registry order) order."""
    out: dict[tuple, list[dict]] = {}
    for r in records:
        out.setdefault((r["protocol"], r["task"], r["source"], variant(r)), []).append(r)
    return sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], source_order(kv[0][2]), kv[0][3]))


def main_table(records: list[dict], fmt: str = "github") -> str:
    rows = []
    for (protocol, task, source, var), recs in groups(records):
        top1 = estimate([r["metrics"].get("top1") for r in recs])
        top5 = estimate([r["metrics"].get("top5") for r in recs])
        rows.append([protocol, task, source, var, len(recs), ci_text(top1), _fmt(top5 and top5.mean),
                     ",".join(str(s) for s in sorted({r["seed"] for r in recs}))])
    return emit(["protocol", "task", "source", "variant", "n seeds", "top1 % (mean [95% CI])", "top5 %", "seeds"],
                rows, fmt)


def ood_table(records: list[dict], fmt: str = "github", severity: int | None = None) -> str:
    """Per source: clean top-1 and, per perturbation, top-1 with its difference from clean (timm's `top1_diff`),
    averaged over the severities present (or at one severity), and the mean relative robustness."""
    with_ood = [r for r in records if r["metrics"].get("perturbed")]
    names: list[str] = []
    for r in with_ood:
        names += [n for n in r["metrics"]["perturbed"] if n not in names]
    rows = []
    for (protocol, task, source, var), recs in groups(with_ood):
        clean = estimate([r["metrics"]["top1"] for r in recs])
        row = [protocol, task, source, var, len(recs), _fmt(clean and clean.mean)]
        rel = []
        for name in names:
            cells = [c for r in recs for sev, c in r["metrics"]["perturbed"].get(name, {}).items()
                     if severity is None or int(sev) == severity]
            acc = estimate([c["top1"] for c in cells])
            rel += [c["relative_robustness"] for c in cells if c.get("relative_robustness") is not None]
            row.append("" if acc is None or clean is None else f"{acc.mean:.1f} ({acc.mean - clean.mean:+.1f})")
        row.append(_fmt(sum(rel) / len(rel), 3) if rel else "")
        rows.append(row)
    sev = "all severities" if severity is None else f"severity {severity}"
    headers = (["protocol", "task", "source", "variant", "n seeds", "clean top1"]
               + [f"{n} ({sev})" for n in names] + ["mean relative robustness (higher = more robust)"])
    return emit(headers, rows, fmt)


def _point(c: dict) -> str:
    return f"{c['per_class']}/class" if c.get("per_class") is not None else f"{100 * c['fraction']:g}%"


def lowdata_table(records: list[dict], fmt: str = "github") -> str:
    """Per source, top-1 at each low-data point: mean [95% CI] over subset seeds x run seeds."""
    with_curve = [r for r in records if r["metrics"].get("lowdata")]
    points: list[str] = []
    for r in with_curve:
        points += [_point(c) for c in r["metrics"]["lowdata"] if _point(c) not in points]
    rows = []
    for (protocol, task, source, var), recs in groups(with_curve):
        row = [protocol, task, source, var, len(recs)]
        for pt in points:
            row.append(ci_text(estimate([c["top1"] for r in recs for c in r["metrics"]["lowdata"]
                                         if _point(c) == pt])))
        rows.append(row)
    return emit(["protocol", "task", "source", "variant", "n seeds"] + points, rows, fmt)
