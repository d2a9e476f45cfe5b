"""Tables as data, rendered once in every format: every table the harness prints or writes (`bench table`,
`bench paper`, `bench check`, `bench run`'s table, the leaderboard) is a `Table` of typed cells.

A cell is None, a string, a number or a `stats.Estimate`. Text formats show numbers with the column's digits and
an estimate as "mean [low, high]" (or "mean (n=1)"); JSON keeps numbers as numbers and an estimate as
{mean, ci_low, ci_high, n, method}; HTML adds the numeric value for sorting.
"""

from __future__ import annotations

import csv
import html
import io
import json
import math
from dataclasses import dataclass, field
from typing import Any

from benchmark.stats import Estimate

FORMATS = ("github", "markdown", "latex", "csv", "json", "html")


@dataclass(frozen=True)
class Column:
    key: str  # the JSON key
    header: str = ""  # the text header (default: the key)
    digits: int = 1  # for floats and estimates

    @property
    def title(self) -> str:
        return self.header or self.key


@dataclass
class Table:
    columns: list[Column]
    rows: list[list[Any]]
    title: str = ""
    notes: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # extra fields of the JSON form

    def records(self) -> list[dict[str, Any]]:
        """The rows as JSON objects."""
        return [{c.key: _json(v, c) for c, v in zip(self.columns, row, strict=True)} for row in self.rows]

    def as_json(self) -> dict[str, Any]:
        return {"title": self.title, **self.meta, "notes": self.notes, "rows": self.records()}


def _finite(x: float | None, digits: int) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), max(digits, 4))


def _json(v: Any, c: Column) -> Any:
    if isinstance(v, Estimate):
        return {"mean": _finite(v.mean, c.digits), "ci_low": _finite(v.low, c.digits),
                "ci_high": _finite(v.high, c.digits), "n": v.n, "method": v.method}
    if isinstance(v, float):
        return _finite(v, c.digits)
    return v


def text(v: Any, digits: int = 1) -> str:
    if v is None:
        return ""
    if isinstance(v, Estimate):
        return v.text(digits)
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return "" if not math.isfinite(v) else f"{v:.{digits}f}"
    return str(v)


def sort_key(v: Any) -> str:
    """The numeric value HTML tables sort by ("" for text)."""
    if isinstance(v, Estimate):
        v = v.mean
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return repr(float(v))
    return ""


def _text_rows(t: Table) -> list[list[str]]:
    return [[text(v, c.digits) for c, v in zip(t.columns, row, strict=True)] for row in t.rows]


def _html(t: Table) -> str:
    head = "".join(f"<th>{html.escape(c.title)}</th>" for c in t.columns)
    body = []
    for row in t.rows:
        cells = []
        for c, v in zip(t.columns, row, strict=True):
            key = sort_key(v)
            attr = f' data-sort="{key}"' if key else ""
            cells.append(f"<td{attr}>{html.escape(text(v, c.digits))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    out = [f"<p class=\"caption\"><b>{html.escape(t.title)}</b></p>" if t.title else "",
           f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>']
    out += [f'<p class="note">{html.escape(n)}</p>' for n in t.notes]
    return "\n".join(x for x in out if x)


def _one(t: Table, fmt: str) -> str:
    if fmt == "html":
        return _html(t)
    if fmt == "csv":
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerows([[c.title for c in t.columns]] + _text_rows(t))
        return "\n".join(([f"# {t.title}"] if t.title else []) + [buf.getvalue().rstrip("\n")])
    from tabulate import tabulate
    grid = tabulate(_text_rows(t), headers=[c.title for c in t.columns], disable_numparse=True,
                    tablefmt={"markdown": "pipe"}.get(fmt, fmt))
    lines = [t.title] if t.title else []
    return "\n".join(lines + [grid] + t.notes)


def render(tables: Table | list[Table], fmt: str = "github") -> str:
    """One table or several in `fmt`. JSON: one table is the list of its rows, several are a list of
    {title, ..., notes, rows} objects."""
    if fmt not in FORMATS:
        raise ValueError(f"format {fmt!r} is not one of {FORMATS}")
    many = isinstance(tables, list)
    items = tables if many else [tables]
    if fmt == "json":
        return json.dumps([t.as_json() for t in items] if many else items[0].records(), indent=1, allow_nan=False)
    return "\n\n".join(_one(t, fmt) for t in items)
