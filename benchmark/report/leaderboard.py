"""`bench leaderboard`: one static, self-contained HTML page (no CDN, no network): sortable tables per protocol and
task, the plots inlined as SVG, parameter/MAC counts and throughput, and the papers' tables beside reproductions.
"""

from __future__ import annotations

import html
import warnings
from datetime import datetime, timezone
from pathlib import Path

from benchmark.config import load_protocol
from benchmark.errors import BenchError
from benchmark.report import plots
from benchmark.report.paper import load_paper, papers, regenerate
from benchmark.report.records import read_records
from benchmark.report.stats import estimate
from benchmark.report.tables import ci_text, groups

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
    var key = function (r) { var t = r.cells[col].textContent.trim(), n = parseFloat(t);
                             return isNaN(n) ? t.toLowerCase() : n; };
    rows.sort(function (a, b) { var x = key(a), y = key(b);
      if (typeof x !== typeof y) { x = String(x); y = String(y); }
      return (x < y ? -1 : x > y ? 1 : 0) * (asc ? 1 : -1); });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
"""


def _table(headers: list[str], rows: list[list]) -> str:
    """A table the inline script makes sortable by clicking a column header."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f'<table class="sortable"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _svg(path: Path) -> str:
    """The SVG element of a matplotlib file, for inlining (its RDF metadata block dropped)."""
    import re
    text = path.read_text()
    return re.sub(r"<metadata>.*?</metadata>", "", text[text.index("<svg"):], flags=re.S)


def _mean(values: list) -> str:
    vals = [v for v in values if v is not None]
    return f"{sum(vals) / len(vals):.1f}" if vals else ""


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


def section(protocol: str, task: str, records: list[dict], out: Path, anchor: str) -> str:
    parts = [f'<section id="{anchor}"><h2>{html.escape(protocol)} &middot; {html.escape(task)}</h2>',
             f'<p class="note">{html.escape(_cost(protocol))}</p>']
    rows = []
    for (_, _, source, var), recs in groups(records):
        top1 = estimate([r["metrics"].get("top1") for r in recs])
        hw = recs[0].get("environment", {}).get("hardware", {})
        rows.append([source, var, len(recs), f"{top1.mean:.2f}" if top1 else "", ci_text(top1),
                     _mean([r["metrics"].get("top5") for r in recs]),
                     _mean([(r.get("pretrain") or {}).get("clips_per_s") for r in recs]),
                     _mean([(r.get("finetune") or {}).get("clips_per_s") for r in recs]),
                     hw.get("gpu") or f"{hw.get('device', '')} x{hw.get('processes', 1)}"])
    parts.append(_table(["source", "variant", "n seeds", "top-1 %", "95% CI", "top-5 %", "pretrain clips/s",
                         "finetune clips/s", "device"], rows))
    for kind in plots.KINDS:
        try:
            png, svg = plots.plot(kind, records, out / anchor, f"{protocol} / {task}")
        except BenchError:
            continue
        parts.append(f"<figure>{_svg(svg)}<figcaption class=note>{kind}: {png.name} / {svg.name}</figcaption>"
                     f"</figure>")
        if kind == "ood":
            from benchmark.report.tables import ood_table
            parts.append(_from_csv(ood_table(records, "csv")))
        if kind == "lowdata":
            from benchmark.report.tables import lowdata_table
            parts.append(_from_csv(lowdata_table(records, "csv")))
    parts.append("</section>")
    return "\n".join(parts)


def _from_csv(text: str) -> str:
    import csv
    rows = list(csv.reader(text.splitlines()))
    return _table(rows[0], rows[1:])


def papers_section(records: list[dict]) -> str:
    parts = ['<section id="papers"><h2>Papers: published vs reproduced</h2>']
    for name in papers():
        paper = load_paper(name)
        parts.append(f"<h3>{html.escape(paper.citation)}</h3>")
        if paper.provisional:
            parts.append('<p class="note">PROVISIONAL: values from a secondary summary, unchecked against the paper.'
                         "</p>")
        for r in regenerate(paper, records, table=paper.tables[0].id):
            rows = [[c.row.label, c.row.source or "-", "" if c.published is None else c.published,
                     ci_text(c.reproduced), c.reproduced.n if c.reproduced else "",
                     "" if c.gap_published is None else f"{c.gap_published:.1f}%"] for c in r.cells]
            where = (f"reproduced: {r.protocol} on {r.task}" if r.protocol else "not reproducible here")
            parts.append(f"<p><b>{html.escape(r.table.title)} &mdash; {html.escape(r.column.label)}</b> "
                         f'<span class="note">({html.escape(where)})</span></p>')
            parts.append(_table(["configuration", "source", "published", "reproduced", "n", "gap closed (pub.)"],
                                rows))
    parts.append("</section>")
    return "\n".join(parts)


def build(results: Path, out: Path) -> Path:
    records, bad = read_records(results)
    if not records:
        raise BenchError(f"no result records under {results}: run `bench run` first (or pass --results DIR)")
    out.mkdir(parents=True, exist_ok=True)
    by_pt: dict[tuple[str, str], list[dict]] = {}
    for r in records:
        by_pt.setdefault((r["protocol"], r["task"]), []).append(r)
    anchors = {k: f"{Path(k[0]).stem}-{k[1]}" for k in by_pt}
    nav = " ".join(f'<a href="#{a}">{html.escape(k[0])} / {html.escape(k[1])}</a>' for k, a in anchors.items())
    body = ["<h1>Video pretraining without natural videos: leaderboard</h1>",
            f'<p class="note">{len(records)} result records from {html.escape(str(results))}'
            + (f" ({len(bad)} unreadable files skipped)" if bad else "")
            + f", generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC by <code>bench leaderboard</code>. "
              "Top-1: mean over seeds with a 95% bootstrap confidence interval. Click a column to sort.</p>",
            f"<nav>{nav} <a href=\"#papers\">papers</a></nav>"]
    body += [section(p, t, recs, out, anchors[(p, t)]) for (p, t), recs in sorted(by_pt.items())]
    body.append(papers_section(records))
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Leaderboard</title>'
            f"<style>{STYLE}</style></head><body>{''.join(body)}<script>{SCRIPT}</script></body></html>\n")
    index = out / "index.html"
    index.write_text(page)
    return index
