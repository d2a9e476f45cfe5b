"""Tables over result records: the run table `bench run` prints, the main table, and the stages' own tables.

Records are pooled over seeds only when they are repeats of one experiment (same protocol, task, source and
experiment: everything that determines a result but the seed); a run with other --set values is another row.
Every function returns `benchmark.render.Table`s, which render in every format.
"""

from __future__ import annotations

from benchmark.inits import INITS
from benchmark.records import Group, Record, unique
from benchmark.render import Column, Table
from benchmark.sources.base import CLIP_SOURCES
from benchmark.stages.base import stages
from benchmark.stats import estimate


def source_order(source: str) -> int:
    """Inits first (scratch), then the clip sources in registry (paper) order; unknown names last."""
    names = INITS.names()[:1] + CLIP_SOURCES.names() + INITS.names()[1:]
    return names.index(source) if source in names else len(names)


def groups(records: list[Record]) -> list[Group]:
    """Repeats of one experiment together (one record per seed: the latest), in (protocol, task, registry order)
    order."""
    out: dict[tuple, list[Record]] = {}
    for r in unique(records)[0]:
        out.setdefault((r.protocol, r.task, r.source, r.variant), []).append(r)
    return [Group(*k, v) for k, v in sorted(out.items(), key=lambda kv: (kv[0][0], kv[0][1], source_order(kv[0][2]),
                                                                            kv[0][3]))]


def by_source(gs: list[Group]) -> dict[str, Group]:
    """One experiment per source (the one with the most seeds), in registry order, for plots."""
    best: dict[str, Group] = {}
    for g in gs:
        if len(g.seeds) > len(best.get(g.source, g).seeds) or g.source not in best:
            best[g.source] = g
    return best


def metric_columns(records: list[Record]):
    """(stage metric, column) for every stage metric some record has."""
    return [(m, Column(m.key.replace(".", "_"), m.header)) for s in stages() for m in s.metrics()
            if any(r.metric(m.key) is not None for r in records)]


def run_table(records: list[Record], mark_run_id: str | None = None) -> Table:
    """One row per record (same protocol and task), sources in registry order, the marked run flagged '>'."""
    cols = metric_columns(records)
    rows = []
    for r in sorted(records, key=lambda r: (source_order(r.source), r.seed, r.created)):
        pre, ft = r.pretrain or {}, r.finetune or {}
        rows.append([">" if r.run_id == mark_run_id else "", r.source, r.seed]
                    + [r.metric(m.key) for m, _ in cols]
                    + [pre.get("seconds") if pre else None, bool(pre.get("cached")) if pre else None,
                       ft.get("seconds"), r.variant, r.created[:19]])
    columns = [Column("this", ""), Column("source"), Column("seed")] + [c for _, c in cols] + [
        Column("pretrain_s", "pretrain s", 0), Column("pretrain_cached", "cached"),
        Column("finetune_s", "finetune s", 0), Column("variant"), Column("created")]
    return Table(columns, rows)


def _classes(g: Group) -> int | None:
    return next((r.task_info.get("num_classes") for r in g.records if r.task_info.get("num_classes")), None)


def main_table(records: list[Record]) -> Table:
    """One row per experiment: every stage metric as mean [95% CI] over seeds, chance levels, skipped videos.
    Top-5 is left out for tasks of 5 classes or fewer, where it is 100% by construction."""
    cols = metric_columns(records)
    rows, trivial = [], False
    for g in groups(records):
        classes = _classes(g)
        cells = []
        for m, _ in cols:
            hide = m.key.endswith("top5") and classes is not None and classes <= 5
            trivial |= hide
            cells.append(None if hide else estimate(g.values(m.key)))
        chance = (f"{100 / classes:.1f} / {min(100.0, 500 / classes):.1f}" if classes else None)
        skipped = max(len((r.skipped_videos or {}).get("test", [])) for r in g.records)
        rows.append([g.protocol, g.task, g.source, g.variant, len(g.seeds)] + cells
                    + [chance, skipped, ",".join(map(str, g.seeds))])
    columns = [Column("protocol"), Column("task"), Column("source"), Column("variant"), Column("n_seeds", "n seeds")]
    columns += [c for _, c in cols] + [Column("chance", "chance top-1 / top-5 %"),
                                       Column("skipped_test_videos", "skipped test videos"), Column("seeds")]
    notes = ["intervals: 95% Student t-interval over seeds (n=1: a single run; sd 0: all seeds equal)"]
    if trivial:
        notes.append("top-5 is not shown for tasks with 5 classes or fewer (100% by construction)")
    return Table(columns, rows, notes=notes)


def kinds() -> list[str]:
    """Table kinds: main, then every stage's own (ood, lowdata, ...)."""
    return ["main"] + [k for s in stages() for k in s.table_kinds]


def table(kind: str, records: list[Record], severity: int | None = None) -> Table | None:
    """The table of `kind` over records (None: no record has what it shows)."""
    if kind == "main":
        return main_table(records)
    gs = groups(records)
    for s in stages():
        found = s.tables(gs, severity)
        if kind in found:
            return found[kind]
    return None
