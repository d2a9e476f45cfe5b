"""`bench leaderboard`: one static, self-contained HTML page (no CDN, no network): sortable tables per protocol and
task, the plots inlined as SVG, parameter/MAC counts and throughput, and the papers' tables beside reproductions.
"""

from __future__ import annotations

import html
import warnings
from datetime import datetime, timezone
from pathlib import Path

from benchmark.errors import BenchError
from benchmark.records import Record, read_records
from benchmark.render import Column, Table, render
from benchmark.report import plots
from benchmark.report.paper import load_paper, papers, regenerate
from benchmark.report.paper import tables as paper_tables
from benchmark.report.tables import groups, metric_columns
from benchmark.runtime import atomic_write_text
from benchmark.stages.base import load_protocol, stages
from benchmark.stats import estimate

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#222;padding:0 1em}
h1{font-size:1.6em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{font-size:1.05em}
table{border-collapse:collapse;margin:.6em 0 1em;font-size:13px}
th,td{border:1px solid #ddd;padding:3px 8px;text-align:right}th{background:#f3f4f6;cursor:pointer;user-select:none}
td:first-child,th:first-child,td.l{text-align:left}tr:nth-child(even) td{background:#fafafa}
th.asc::after{content:" \\25B2"}th.desc::after{content:" \\25BC"}
.note{color:#666;font-size:12px}figure{margin:1em 0}figure svg{max-width:100%;height:auto}
nav a{margin-right:1em}
"""

SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var table = th.closest('table'), body = table.tBodies[0], rows = Array.from(body.rows);
    var asc = !th.classList.contains('asc');
    table.querySelectorAll('th').forEach(function (h) { h.classList.remove('asc', 'desc'); });
    th.classList.add(asc ? 'asc' : 'desc');
    var key = function (r) { var c = r.cells[col], s = c.getAttribute('data-sort');
                             return s !== null ? parseFloat(s) : c.textContent.trim().toLowerCase(); };
    rows.sort(function (a, b) { var x = key(a), y = key(b);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _svg(path: Path) -> str:
    """The SVG element of a matplotlib file, for inlining (its RDF metadata block dropped)."""
    import re
    text = path.read_text()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _cost(protocol: str) -> str:
    from benchmark.report.flops import model_cost
    try:
        p = load_protocol(protocol)
    except BenchError:
        return ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        c = model_cost(p)
    views = p.evaluate.test_clips * p.evaluate.test_crops
    return (f"Model: VideoMAE {c['model']}, clips {c['clip']}: {c['params_m']} M parameters (classifier), "
            f"{c['gmacs_per_view']} GMACs per test view x {views} views per video; pretraining "
            f"{c['pretrain_params_m']} M parameters, {c['pretrain_gmacs_per_clip']} GMACs per clip "
            f"(fvcore, attention included; GMACs = 10^9 multiply-adds).")


def _mean(values: list) -> float | None:
    vals = [v for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def board_table(records: list[Record]) -> Table:
    """The leaderboard's row per experiment: every stage metric with its interval, throughput, device."""
    cols = metric_columns(records)
    rows = []
    for g in groups(records):
        hw = g.records[0].environment.get("hardware", {})
        rows.append([g.source, g.variant, len(g.seeds)] + [estimate(g.values(m.key)) for m, _ in cols]
                    + [_mean([(r.pretrain or {}).get("clips_per_s") for r in g.records]),
                       _mean([(r.finetune or {}).get("clips_per_s") for r in g.records]),
                       _mean([(r.timings or {}).get("total_s") for r in g.records]),
                       hw.get("gpu") or f"{hw.get('device', '')} x{hw.get('processes', 1)}"])
    columns = [Column("source"), Column("variant"), Column("n_seeds", "n seeds")] + [c for _, c in cols] + [
        Column("pretrain_clips_s", "pretrain clips/s"), Column("finetune_clips_s", "finetune clips/s"),
        Column("wall_s", "wall s per run (mean)", 0), Column("device")]
    return Table(columns, rows)


def section(protocol: str, task: str, records: list[Record], out: Path, anchor: str) -> str:
    parts = [f'<section id="{anchor}"><h2>{html.escape(protocol)} &middot; {html.escape(task)}</h2>',
             f'<p class="note">{html.escape(_cost(protocol))}</p>', render(board_table(records), "html")]
    gs = groups(records)
    for kind in plots.kinds():
        try:
            png, svg = plots.plot(kind, records, out / anchor, f"{protocol} / {task}")
        except BenchError:
            continue
        parts.append(f"<figure>{_svg(svg)}<figcaption class=note>{kind}: {png.name} / {svg.name}</figcaption>"
                     f"</figure>")
    for stage in stages():
        for t in stage.tables(gs).values():
            parts.append(render(t, "html"))
    parts.append("</section>")
    return "\n".join(parts)


def papers_section(records: list[Record]) -> str:
    parts = ['<section id="papers"><h2>Papers: published vs reproduced</h2>']
    for name in papers():
        paper = load_paper(name)
        parts.append(f"<h3>{html.escape(paper.citation)}</h3>")
        parts += [render(t, "html") for t in paper_tables(paper, regenerate(paper, records, table=paper.tables[0].id))]
    parts.append("</section>")
    return "\n".join(parts)


def build(results: Path, out: Path) -> Path:
    records, bad = read_records(results)
    if not records:
        raise BenchError(f"no result records under {results}: run `bench run` first (or pass --results DIR)")
    by_pt: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        by_pt.setdefault((r.protocol, r.task), []).append(r)
    anchors = {k: f"{Path(k[0]).stem}-{k[1]}" for k in by_pt}
    nav = " ".join(f'<a href="#{a}">{html.escape(k[0])} / {html.escape(k[1])}</a>' for k, a in anchors.items())
    body = ["<h1>Video pretraining without natural videos: leaderboard</h1>",
            f'<p class="note">{len(records)} result records from {html.escape(str(results))}'
            + (f" ({len(bad)} unreadable files skipped)" if bad else "")
            + f", generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by <code>bench leaderboard</code>. "
              "Metrics: mean over seeds with a 95% confidence interval. Click a column to sort.</p>",
            f"<nav>{nav} <a href=\"#papers\">papers</a></nav>"]
    body += [section(p, t, recs, out, anchors[(p, t)]) for (p, t), recs in sorted(by_pt.items())]
    body.append(papers_section(records))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Leaderboard</title>'
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n")
    return atomic_write_text(out / "index.html", page)
