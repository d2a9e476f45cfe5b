"""`bench paper`: a paper's tables regenerated, the published value beside the reproduced one.

Published numbers live in baselines/<paper>.yaml (data, each value located by table, row and column). A
reproduced cell is the mean over seeds, with a 95% bootstrap CI, of the records of the column's protocol and task
whose source (and source parameters, and config filters) match the row. Per column the table also gives the share
of the scratch-to-natural gap each row closes, and Spearman's rank correlation between the published and the
reproduced ordering.

`--protocol/--task` compare against records of another protocol (e.g. `smoke` on `embedded`): the published column
stays the paper's and the reproduced one is labelled with what it is; a row's `task` filter on the source (natural
video from the downstream set) is dropped then, since the downstream set differs.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from benchmark.config import build, parse_yaml
from benchmark.errors import BenchError, read_text
from benchmark.records import Record, unique
from benchmark.render import Column, Table
from benchmark.stats import Estimate, estimate, spearman

# The published tables: baselines/ at the top of the checkout is where people edit them; benchmark/baselines is
# a link to it in the checkout and a copy inside the installed package (see pyproject.toml).
BASELINES = Path(__file__).parents[1] / "baselines"


@dataclass
class PaperColumn:
    id: str
    label: str
    protocol: str | None
    task: str | None
    config: dict[str, Any] = field(default_factory=dict)  # dotted key -> value the record's config must have
    metric: str = "top1"  # the record metric that reproduces the column (dotted, e.g. linear_probe.top1)
    note: str = ""


@dataclass
class Row:
    id: str
    label: str
    source: str | None
    values: list[float | None]
    params: dict[str, Any] = field(default_factory=dict)  # a filter on the record's source parameters
    note: str = ""


@dataclass
class PaperTable:
    id: str
    title: str
    columns: list[PaperColumn]
    rows: list[Row]
    gap: dict[str, str | None] | None = None  # {low: row id, high: row id}
    note: str = ""

    def validate(self, where: str) -> None:
        ids = {r.id for r in self.rows}
        for r in self.rows:
            if len(r.values) != len(self.columns):
                raise BenchError(f"{where} row {r.id}: {len(r.values)} values for {len(self.columns)} columns")
        for end in (self.gap or {}).values():
            if end is not None and end not in ids:
                raise BenchError(f"{where}.gap names row {end!r}, which the table does not have")


@dataclass
class Paper:
    paper: str
    citation: str
    provisional: bool
    tables: list[PaperTable]


def papers() -> list[str]:
    return sorted(p.stem for p in BASELINES.glob("*.yaml"))


def load_paper(name: str, folder: Path = BASELINES) -> Paper:
    path = folder / f"{name}.yaml"
    if not path.is_file():
        raise BenchError(f"unknown paper {name!r}: choose one of {', '.join(papers()) or '(none)'} "
                         f"(files in {folder})")
    return build(Paper, parse_yaml(read_text(path, "baselines file"), str(path)), f"{path.name}")


# ---------------------------------------------------------------------------------------------------------------
# matching records


def _matches(want: Any, have: Any) -> bool:
    """`want` is a filter: mappings match key by key, lists element by element, a string with * or ? as a
    case-insensitive shell pattern (e.g. "*/pass*" for a folder pool), other scalars by equality."""
    if isinstance(want, dict):
        return isinstance(have, dict) and all(_matches(v, have.get(k)) for k, v in want.items())
    if isinstance(want, list):
        return isinstance(have, list) and len(want) == len(have) and all(map(_matches, want, have))
    if isinstance(want, str) and ("*" in want or "?" in want):
        return isinstance(have, str) and fnmatch.fnmatch(have.lower(), want.lower())
    return want == have


@cache
def _defaults(source: str) -> dict[str, Any]:
    """The source's default parameters that name a choice (None defaults are filled in by the run, e.g. a data
    root, or are optional, so they do not distinguish experiments)."""
    from benchmark.config import to_dict
    from benchmark.inits import source_entry
    entry = source_entry(source)
    return {k: v for k, v in to_dict(entry.params()).items() if v is not None} if entry.params else {}


def _dotted(config: dict, key: str) -> Any:
    node: Any = config
    for part in key.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    return node


def _substitute(params: Any, task: str | None) -> Any:
    if isinstance(params, dict):
        return {k: _substitute(v, task) for k, v in params.items()}
    if isinstance(params, list):
        return [_substitute(v, task) for v in params]
    return task if params == "$task" else params


def matching(records: list[Record], row: Row, column: PaperColumn, protocol: str, task: str,
             own: bool) -> list[Record]:
    """The records that reproduce (row, column): one variant (the one with the most seeds) of the row's source whose
    parameters are the row's and the source's defaults for every key the row does not give (so a row without
    parameters is the default configuration only)."""
    params = {**_defaults(row.source), **_substitute(row.params, task)}
    if not own:
        params = {k: v for k, v in params.items() if k != "task"}
    found = [r for r in records
             if r.protocol == protocol and r.task == task and r.source == row.source
             and _matches(params, r.config.get("source", {}).get("params", {}))
             and all(_dotted(r.config, k) == v for k, v in column.config.items())]
    groups: dict[str, list[Record]] = {}
    for r in found:
        groups.setdefault(r.variant, []).append(r)
    if not groups:
        return []
    return max(groups.values(), key=lambda g: (len({r.seed for r in g}), max(r.created for r in g)))


# ---------------------------------------------------------------------------------------------------------------
# regenerating


@dataclass
class Cell:
    row: Row
    published: float | None
    reproduced: Estimate | None
    gap_published: float | None = None
    gap_reproduced: float | None = None


@dataclass
class ColumnResult:
    table: PaperTable
    column: PaperColumn
    protocol: str | None
    task: str | None
    cells: list[Cell]
    rho: float | None
    p: float | None
    compared: int


def _gap(value: float | None, low: float | None, high: float | None) -> float | None:
    if value is None or low is None or high is None or high == low:
        return None
    return 100.0 * (value - low) / (high - low)


def regenerate(paper: Paper, records: list[Record], table: str | None = None, protocol: str | None = None,
               task: str | None = None, column: str | None = None) -> list[ColumnResult]:
    """Every (table, column) of the paper with its reproduced cells. Each column is reproduced by its own protocol
    and task; with `protocol`/`task` (records of another scale), only `column` (default: each table's first) is."""
    tables = [t for t in paper.tables if table is None or t.id == table]
    if not tables:
        raise BenchError(f"{paper.paper} has no table {table!r}: choose one of {', '.join(t.id for t in paper.tables)}")
    if column is not None and not any(c.id == column for t in tables for c in t.columns):
        raise BenchError(f"--column {column!r} is in none of the chosen tables: choose one of "
                         f"{', '.join(sorted({c.id for t in tables for c in t.columns}))}")
    records = unique(records)[0]
    out = []
    for t in tables:
        for ci, col in enumerate(t.columns):
            own = protocol is None and task is None
            chosen = own or (col.id == column if column is not None else ci == 0)
            proto = (protocol or col.protocol) if chosen else None
            tsk = (task or col.task) if chosen else None
            cells = []
            for row in t.rows:
                rep = None
                if row.source is not None and proto is not None and tsk is not None:
                    rep = estimate([r.metric(col.metric) for r in matching(records, row, col, proto, tsk, own)])
                cells.append(Cell(row, row.values[ci], rep))
            by_id = {c.row.id: c for c in cells}
            low, high = ((by_id.get(t.gap.get("low")), by_id.get(t.gap.get("high"))) if t.gap else (None, None))
            for c in cells:
                c.gap_published = _gap(c.published, low and low.published, high and high.published)
                c.gap_reproduced = _gap(c.reproduced and c.reproduced.mean, low and low.reproduced and
                                        low.reproduced.mean, high and high.reproduced and high.reproduced.mean)
            pairs = [(c.published, c.reproduced.mean) for c in cells if c.published is not None and c.reproduced]
            rho, p = spearman([a for a, _ in pairs], [b for _, b in pairs])
            out.append(ColumnResult(t, col, proto, tsk, cells, rho, p, len(pairs)))
    return out


def fill_hint(row: Row, r: ColumnResult) -> str:
    """Why a reproduced cell is empty and the run that would fill it ("" when it is filled)."""
    if any(c.row.id == row.id and c.reproduced is not None for c in r.cells):
        return ""
    if row.source is None:
        return f"not reproducible here: {row.note}" if row.note else "not reproducible here"
    if r.protocol is None:
        return "no protocol reproduces this column" if r.column.protocol is None else \
            f"pick it with --column {r.column.id}"
    import shlex

    import yaml
    def value(v):
        if isinstance(v, str) and ("*" in v or "?" in v):
            return f"<a folder matching {v}>"
        return yaml.safe_dump(v, default_flow_style=True).strip().removesuffix("\n...").removesuffix("...")

    params = " ".join("--set " + shlex.quote(f"source.{k}={value(v)}")
                      for k, v in _substitute(row.params, r.task).items())
    return f"no records: bench run --protocol {r.protocol} --task {r.task} --source {row.source}" \
        + (f" {params}" if params else "")


def tables(paper: Paper, results: list[ColumnResult]) -> list[Table]:
    """One rendered table per (paper table, column): published beside reproduced, gap shares, Spearman's rho."""
    out = []
    for r in results:
        if r.protocol is None and r.column.protocol is not None:
            where = "not reproduced with --protocol/--task (pick this column with --column " + r.column.id + ")"
        elif r.protocol is None:
            where = f"nothing reproduces this column here ({r.column.note or 'no protocol'})"
        else:
            where = f"reproduced: {r.column.metric} of records of protocol {r.protocol} on task {r.task}"
        has_gap = any(c.gap_published is not None or c.gap_reproduced is not None for c in r.cells)
        rows = [[c.row.id, c.row.label, c.row.source, c.published, c.reproduced]
                + ([c.gap_published, c.gap_reproduced] if has_gap else []) + [fill_hint(c.row, r)] for c in r.cells]
        columns = [Column("row"), Column("configuration"), Column("source"), Column("published"),
                   Column("reproduced", "reproduced (mean [95% CI])")]
        if has_gap:
            columns += [Column("gap_closed_published", "gap closed %, published"),
                        Column("gap_closed_reproduced", "gap closed %, reproduced")]
        columns.append(Column("to_fill", "empty because / to fill"))
        corr = (f"Spearman rank correlation, published vs reproduced ({r.compared} rows): rho = {r.rho:.2f} "
                f"(p = {r.p:.3f})" if r.rho is not None else
                f"Spearman rank correlation: needs 3 rows with both values ({r.compared} so far)")
        notes = [where, corr] + ([f"note: {r.table.note}"] if r.table.note else [])
        if paper.provisional:
            notes.append("PROVISIONAL: values from a secondary summary, unchecked against the paper.")
        out.append(Table(columns, rows, title=f"{paper.paper} {r.table.title} -- {r.column.label}", notes=notes,
                         meta={"paper": paper.paper, "citation": paper.citation, "provisional": paper.provisional,
                               "table": r.table.id, "column": r.column.id, "metric": r.column.metric,
                               "protocol": r.protocol, "task": r.task,
                               "spearman": {"rho": r.rho, "p": r.p, "rows": r.compared}}))
    return out
