"""Tables over result records (tabulate)."""

from __future__ import annotations

from tabulate import tabulate

from benchmark.sources import SOURCES


def _order(source: str) -> int:
    names = SOURCES.names()
    return names.index(source) if source in names else len(names)


def _fmt(value, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def run_table(records: list[dict], mark_run_id: str | None = None, fmt: str = "github") -> str:
    """One row per record (same protocol and task), sources in registry order, the marked run flagged '>'."""
    rows = []
    for r in sorted(records, key=lambda r: (_order(r["source"]), r["seed"], r.get("created", ""))):
        m, pre, ft = r.get("metrics", {}), r.get("pretrain") or {}, r.get("finetune") or {}
        rows.append([">" if r.get("run_id") == mark_run_id else "", r["source"], r["seed"], _fmt(m.get("top1")),
                     _fmt(m.get("top5")),
                     (_fmt(pre.get("seconds"), 0) + (" (cached)" if pre.get("cached") else "")) if pre else "-",
                     _fmt(ft.get("seconds"), 0), r.get("config_hash", "")[:8], r.get("created", "")[:19]])
    headers = ["", "source", "seed", "top1 %", "top5 %", "pretrain s", "finetune s", "config", "created"]
    return tabulate(rows, headers=headers, tablefmt=fmt, disable_numparse=True)
