"""`bench`: the command line. Subcommands only parse arguments and call into the package.

Every user error is one line on stderr naming what is wrong and how to fix it, with exit code 2. Building the
parser imports nothing heavy (no torch, no OpenCV), so `bench --help` and the listings start at once; each command
imports what it needs.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from pathlib import Path

from benchmark.errors import BenchError

DEFAULT_PROTOCOL = "smoke"
FORMATS = ("github", "markdown", "latex", "csv", "json", "html")  # benchmark.render.FORMATS


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, exit 2 (argparse prints the usage block too)
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def _print_json(data) -> None:
    print(json.dumps(data, indent=1))


def _wrap(text: str, width: int = 88) -> str:
    return "\n".join(textwrap.wrap(text, width))


# ---------------------------------------------------------------------------------------------------------------
# runs


def cmd_run(args) -> int:
    from benchmark.records import read_records
    from benchmark.render import render
    from benchmark.report.tables import run_table
    from benchmark.run import execute, resolve

    spec = resolve(args.protocol, args.source, args.task, args.seed, _task_overrides(args) + (args.set or []))
    record, path = execute(spec, Path(args.results), Path(args.work))
    if record is None:  # not the main process of a torchrun group
        return 0
    others, _ = read_records(Path(args.results), protocol=record.protocol, task=record.task)
    m = record.metrics
    print(f"\nrecord: {path}")
    if m.get("top1") is not None:
        print(f"{record.source} on {record.task} ({record.protocol}, seed {record.seed}): top-1 {m['top1']:.2f}%  "
              f"top-5 {m['top5']:.2f}%  ({m['test_videos']} test videos x {m['views_per_video']} views)\n")
    print(render(run_table(others, mark_run_id=record.run_id)))
    return 0


def _task_overrides(args) -> list[str]:
    """--data-root / --split are shorthands for --set task.data_root=... / --set task.split=..."""
    out = []
    if getattr(args, "data_root", None):
        out.append(f"task.data_root={json.dumps(str(args.data_root))}")
    if getattr(args, "split", None) is not None:
        out.append(f"task.split={args.split}")
    return out


def cmd_generate(args) -> int:
    from benchmark.generate import generate

    out = Path(args.out or f"previews/{args.source}")
    paths = generate(args.source, args.set or [], args.seed, args.n, args.frames, args.stride, out, args.fps)
    print(f"wrote {len(paths) - 1} clips and a contact sheet to {out}/:")
    for p in paths:
        print(f"  {p}")
    return 0


def cmd_speed(args) -> int:
    from benchmark.render import render
    from benchmark.run import resolve
    from benchmark.speed import speed, table
    spec = resolve(args.protocol, args.source, args.task, 0, _task_overrides(args) + (args.set or []))
    rows, lines = speed(spec, args.steps, args.batch, args.reference or [], args.items)
    if args.format == "json":
        import dataclasses
        _print_json({"rows": [dataclasses.asdict(r) for r in rows], "bound": lines})
        return 0
    print(render(table(rows), args.format))
    print("\n" + "\n".join(lines))
    return 0


def cmd_datasets_check(args) -> int:
    from benchmark.render import Column, Table, render
    from benchmark.tasks.check import check_task
    problems, total = check_task(args.task, _task_overrides(args) + (args.set or []), args.workers)
    if problems:
        print(render(Table([Column("split"), Column("video"), Column("problem")],
                           [[p["split"], p["video"], p["problem"]] for p in problems])))
    print(f"{total - len(problems)} of {total} videos readable; {len(problems)} unreadable or truncated"
          + (" (runs skip them and count them in their records)" if problems else ""))
    return 1 if problems else 0


# ---------------------------------------------------------------------------------------------------------------
# reading records


def _records(args, need_protocol: bool = False) -> list:
    from benchmark.records import read_records, unique
    protocol, task = args.protocol, args.task
    if need_protocol and protocol is None:
        protocol = DEFAULT_PROTOCOL
    if protocol is not None and task is None and need_protocol:
        from benchmark.config import load_raw
        task = load_raw(protocol).get("task", "embedded")
    records, _ = read_records(Path(args.results), protocol=protocol, task=task)
    if getattr(args, "source", None):
        records = [r for r in records if r.source in args.source]
    if getattr(args, "seed", None) is not None:
        records = [r for r in records if r.seed in args.seed]
    if not records:
        where = " ".join(f"{k} {v}" for k, v in (("protocol", protocol), ("task", task)) if v)
        raise BenchError(f"no result records under {args.results}{' for ' + where if where else ''}: run "
                         f"`bench run` first, or pass --results DIR")
    kept, ignored = unique(records)
    if ignored:
        print(f"bench: note: {len(ignored)} record(s) ignored, a later record of the same experiment and seed "
              f"kept: {', '.join(str(r.path) for r in ignored[:3])}" + (" ..." if len(ignored) > 3 else ""),
              file=sys.stderr)
    return kept


def cmd_table(args) -> int:
    from benchmark.render import render
    from benchmark.report import tables
    kinds = tables.kinds()
    if args.kind not in kinds:
        raise BenchError(f"--kind {args.kind!r} is not a table: choose one of {', '.join(kinds)}")
    table = tables.table(args.kind, _records(args), args.severity)
    if table is None:
        raise BenchError(f"no records with {args.kind} results under {args.results} for this selection: run a "
                         f"protocol that has them (see `bench stages`)")
    print(render(table, args.format))
    return 0


def cmd_plot(args) -> int:
    from benchmark.report.plots import kinds, plot
    from benchmark.runtime import check_writable
    if args.kind not in kinds():
        raise BenchError(f"unknown plot {args.kind!r}: choose one of {', '.join(kinds())}")
    check_writable(Path(args.out), "--out")
    records = _records(args, need_protocol=True)
    title = f"{records[0].protocol} / {records[0].task}"
    for path in plot(args.kind, records, Path(args.out), title, args.severity):
        print(path)
    return 0


def cmd_paper(args) -> int:
    from benchmark.config import load_raw
    from benchmark.records import read_records
    from benchmark.render import render
    from benchmark.report.paper import load_paper, regenerate, tables
    from benchmark.tasks.base import TASKS
    paper = load_paper(args.paper)
    if args.protocol is not None:
        load_raw(args.protocol)  # an unknown protocol is an error, not an empty column
    if args.task is not None:
        TASKS.canonical(args.task)
    records, _ = read_records(Path(args.results))
    print(render(tables(paper, regenerate(paper, records, args.table, args.protocol, args.task, args.column)),
                 args.format))
    if args.format != "json":
        from benchmark.sweep import missing_note, specs_for
        print()
        for t in paper.tables:
            if args.table is None or t.id == args.table:
                specs = specs_for(paper.paper, t.id)
                notes = [missing_note(s, Path(args.results)) for s in specs] or ["no sweep spec fills it"]
                print(f"{paper.paper} table {t.id}: " + "\n".join(notes))
    return 0


def cmd_leaderboard(args) -> int:
    from benchmark.report.leaderboard import build
    from benchmark.runtime import check_writable
    check_writable(Path(args.out), "--out")
    print(build(Path(args.results), Path(args.out)))
    return 0


def cmd_check(args) -> int:
    from benchmark.render import render
    from benchmark.report.check import compare, report
    comparisons = compare(Path(args.results), Path(args.against), args.metric, args.tolerance, args.alpha,
                          args.strict)
    print(render(report(comparisons, args.metric), args.format))
    bad = [c for c in comparisons if c.regression]
    warned = [c for c in comparisons if c.status == "WARNING"]
    compared = sum(c.status != "no reference" for c in comparisons)
    print(f"\n{len(bad)} regression(s), {len(warned)} warning(s) in {compared} compared experiment(s)",
          file=sys.stderr if args.format == "json" else sys.stdout)
    return 1 if bad else 0


# ---------------------------------------------------------------------------------------------------------------
# listings: one line per entry; `NAME` for one entry's details


def _defaults(params_cls) -> dict:
    from benchmark.config import to_dict
    return to_dict(params_cls()) if params_cls is not None else {}


def _listing(args, entries: list, kind: str, extra: dict) -> int:
    """Print registry entries: JSON (every field), one entry in full, or one line each."""
    if args.name:
        entries = [e for e in entries if args.name == e.name or args.name in e.aliases]
        if not entries:
            raise BenchError(f"no {kind} called {args.name!r}: `bench {kind}s` lists them")
    if args.format == "json":
        _print_json([{"name": e.name, "aliases": list(e.aliases), **extra.get(e.name, {}),
                      "description": e.description, "params": _defaults(e.params)} for e in entries])
        return 0
    if args.name:
        e = entries[0]
        print(f"{e.name}" + (f" (also: {', '.join(e.aliases)})" if e.aliases else ""))
        for k, v in extra.get(e.name, {}).items():
            print(f"{k}: {v}")
        print(_wrap(e.description))
        params = _defaults(e.params)
        if params:
            print(f"parameters (--set {e.name if kind == 'stage' else kind}.KEY=VALUE):")
            for k, v in params.items():
                print(f"  {k} = {json.dumps(v)}")
        return 0
    width = max(len(e.name) for e in entries)
    tags = {e.name: " ".join(str(v) for v in extra.get(e.name, {}).values()) for e in entries}
    tag_width = max(len(t) for t in tags.values())
    for e in entries:
        aliases = f" (alias: {', '.join(e.aliases)})" if e.aliases else ""
        print(f"{e.name:<{width}}  " + (f"{tags[e.name]:<{tag_width}}  " if tag_width else "") + e.summary + aliases)
    return 0


def cmd_sources(args) -> int:
    from benchmark.inits import INITS
    from benchmark.sources.base import CLIP_SOURCES
    inits, clips = list(INITS), list(CLIP_SOURCES)
    extra = {e.name: {"kind": e.cls.kind} for e in inits}
    extra.update({e.name: {"kind": "clips"} | ({"level": e.level} if e.level else {}) for e in clips})
    return _listing(args, inits[:1] + clips + inits[1:], "source", extra)


def cmd_tasks(args) -> int:
    from benchmark.tasks.base import TASKS
    return _listing(args, list(TASKS), "task", {e.name: {"needs": e.needs} for e in TASKS} if args.format == "json"
                    or args.name else {})


def cmd_perturbations(args) -> int:
    from benchmark.evaluate.perturbations import PERTURBATIONS
    return _listing(args, list(PERTURBATIONS), "perturbation",
                    {e.name: {"kind": e.kind, "figure_label": e.label} for e in PERTURBATIONS})


def cmd_stages(args) -> int:
    from benchmark.stages.base import STAGES
    extra = {e.name: {"needs": ",".join(e.stage.needs) or "-"} for e in STAGES}
    if args.name or args.format == "json":
        for e in STAGES:
            extra[e.name]["example"] = " ".join(f"--set {x!r}" for x in e.stage.example) or "(always on)"
    return _listing(args, list(STAGES), "stage", extra)


def cmd_protocols(args) -> int:
    from benchmark.config import protocol_names, to_dict
    from benchmark.stages.base import load_protocol
    names = [args.name] if args.name else protocol_names()
    protocols = [load_protocol(n) for n in names]
    if args.format == "json":
        _print_json([to_dict(p) for p in protocols])
        return 0
    if args.name:
        import yaml
        print(yaml.safe_dump(to_dict(protocols[0]), sort_keys=False, width=118).rstrip())
        return 0
    width = max(len(p.name) for p in protocols)
    for p in protocols:
        c, pt = p.clip, p.pretrain
        print(f"{p.name:<{width}}  {p.model.size:<5} {c.frames}x{c.size}^2  {pt.epochs:>4} x {pt.epoch_size:<5}  "
              f"{p.task:<8}  {p.description}")
    return 0


def cmd_export(args) -> int:
    from benchmark.export import export
    out = export(Path(args.target), args.format, Path(args.out), Path(args.work), args.stage)
    print(f"wrote {out}/: " + ", ".join(sorted(p.name for p in out.iterdir())))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# dataset analysis


def cmd_analyze(args) -> int:
    if args.what == "correlate":
        return _correlate(args)
    if args.what is not None:
        raise BenchError(f"bench analyze takes `correlate` or --source S, got {args.what!r}")
    if not args.source:
        raise BenchError("bench analyze needs --source S (or `bench analyze correlate`)")
    from benchmark.analyze.compute import analyze
    sets, refs = [], []
    for item in args.set or []:
        (refs if item.startswith("reference.") else sets).append(item)
    record, path, cached = analyze(args.protocol, args.source, sets, args.reference, refs, args.n, args.seed,
                                   Path(args.results), Path(args.work), args.inception, args.i3d, args.features)
    if args.format == "json":
        _print_json(record)
        return 0
    p, r = record["properties"], record["reference_properties"]
    print(f"{'read back' if cached else 'wrote'} {path}")
    print(f"{record['source']} vs {record['config']['reference']['name']} ({record['config']['n']} clips each, "
          f"protocol {record['config']['protocol']}):")
    rows = [(p["fd_frames"]["metric"] + " (frames)", p["fd_frames"]["value"], None),
            (p["fd_clips"]["metric"] + " (clips)", p["fd_clips"]["value"], None),
            ("diversity: log volume of 16 frames", p["diversity"]["log_volume"], r["diversity"]["log_volume"]),
            ("spectrum slope alpha (mean)", p["spectrum_alpha"]["mean"], r["spectrum_alpha"]["mean"]),
            ("colour symmetric KL to the reference", p["colour_kl"]["value"], None),
            ("optical flow, px/frame (mean)", p["flow"]["mean"], r["flow"]["mean"]),
            ("temporal-difference energy (mean)", p["temporal_energy"]["mean"], r["temporal_energy"]["mean"])]
    for name, value, ref in rows:
        shown = f"{value:10.4f}" if value is not None else f"{'none':>10}"  # e.g. every group had a frame twice
        print(f"  {name:<44} {shown}" + (f"   (reference {ref:.4f})" if ref is not None else ""))
    return 0


def _correlate(args) -> int:
    from benchmark.analyze import correlate as C
    from benchmark.render import render
    protocol = args.protocol
    pts, nets, notes = C.points(Path(args.results), protocol, args.task, args.metric)
    if len(pts) < 3:
        raise BenchError(f"{len(pts)} sources have both analysis and accuracy records for {protocol}; a "
                         f"correlation needs at least 3 (bench analyze --source S and bench run --source S)")
    rows = C.correlations(pts)
    print(render(C.tables(pts, nets, rows, protocol, args.task, args.metric, notes), args.format))
    if args.format != "json":
        paths = C.plot(pts, nets, rows, Path(args.out), f"{protocol}: properties vs {args.metric} "
                                                          f"(features: {nets['frames']['name']})")
        print("plots: " + ", ".join(map(str, paths)))
    return 0


# ---------------------------------------------------------------------------------------------------------------
# sweeps


def cmd_sweep(args) -> int:
    from benchmark import sweep as S
    from benchmark.render import render
    if args.spec == "status":
        if not args.target:
            raise BenchError("bench sweep status needs the sweep: bench sweep status SPEC (see `bench sweeps`)")
        return _sweep_status(args, args.target)
    if args.target:
        raise BenchError(f"bench sweep takes one sweep, got {args.spec} and {args.target}; for the state of a "
                         f"sweep: bench sweep status SPEC")
    spec = S.load_spec(args.spec)
    slurm = _slurm_config(args, spec.slurm)
    grid = S.expand(spec, args.set or [])
    results, work = Path(args.results), Path(args.work)
    statuses = S.status(grid, results, work)
    if args.dry_run:
        tflops = args.tflops or spec.cost.tflops_per_gpu
        print(render(S.cost_table(grid, S.estimate(grid), statuses, tflops), args.format))
        return 0
    if args.jobs < 1:
        raise BenchError(f"--jobs must be at least 1, got {args.jobs}")
    from benchmark.launch import launch_inline, launch_local, launch_slurm
    from benchmark.runtime import check_writable
    todo = [st.cell for st in statuses if st.state in ("not started", "failed", "stopped")]
    busy = sum(st.state in ("running", "queued") for st in statuses)
    done = sum(st.state == "done" for st in statuses)
    print(f"sweep {spec.name}: {len(grid.cells)} cells, {done} done, {busy} running or queued, "
          f"{len(todo)} to launch ({args.executor})", flush=True)
    if not todo:
        return 0
    check_writable(results, "--results")
    check_writable(work, "--work")
    S.validate_cells(grid, todo)
    if args.executor == "inline":
        failed = launch_inline(todo, results, work)
    elif args.executor == "local":
        failed = launch_local(grid, todo, results, work, args.jobs, slurm.time_min)
    else:
        ids = launch_slurm(grid, todo, results, work, slurm)
        print(f"submitted {len(ids)} cells as Slurm job array {ids[0].split('_')[0]}; follow it with "
              f"`bench sweep status {args.spec}`", flush=True)
        if not args.wait:
            return 0
        import time
        while True:
            time.sleep(args.poll)
            statuses = S.status(grid, results, work)
            if not any(st.state in ("running", "queued") for st in statuses):
                break
        failed = [st.cell for st in statuses if st.state in ("failed", "stopped")]
    print(S.summary(S.status(grid, results, work)))
    return 1 if failed else 0


def _slurm_config(args, slurm):
    """The spec's Slurm section with the flags given on top, validated as the spec is."""
    from benchmark.config import build, to_dict
    from benchmark.sweep import SlurmConfig
    raw = to_dict(slurm)
    flags = {"partition": args.partition, "nodes": args.nodes, "gpus_per_node": args.gpus_per_node,
             "tasks_per_node": args.tasks_per_node, "cpus_per_task": args.cpus_per_task, "mem_gb": args.mem_gb,
             "time_min": args.time_min, "account": args.account, "qos": args.qos,
             "array_parallelism": args.array_parallelism}
    raw.update({k: v for k, v in flags.items() if v is not None})
    for item in args.sbatch or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise BenchError(f"--sbatch {item!r} must look like KEY=VALUE (e.g. --sbatch constraint=a100)")
        raw["additional"][key.replace("-", "_")] = value
    return build(SlurmConfig, raw, "slurm")


def _sweep_status(args, name: str) -> int:
    from benchmark import sweep as S
    spec = S.load_spec(name)
    grid = S.expand(spec, args.set or [])
    statuses = S.status(grid, Path(args.results), Path(args.work))
    if args.format == "json":
        _print_json({"sweep": spec.name, "summary": S.summary(statuses), "cells": [s.as_json() for s in statuses]})
    else:
        for st in statuses:
            print(st.line())
        print(S.summary(statuses))
    return 0


def cmd_sweeps(args) -> int:
    from benchmark import sweep as S
    names = [args.name] if args.name else S.sweep_names()
    specs = [S.load_spec(n) for n in names]
    if args.format == "json":
        from benchmark.config import to_dict
        _print_json([to_dict(s) for s in specs])
        return 0
    width = max(len(s.name) for s in specs)
    for s in specs:
        cells = len(s.runs or [None]) * len(s.sources) * len(s.seeds)
        print(f"{s.name:<{width}}  {cells:>4} cells  {s.description}")
    return 0


# ---------------------------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="bench", description="Benchmark harness for video pretraining without natural videos.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser, metavar="COMMAND")

    run = sub.add_parser("run", help="pretrain on a source, finetune, evaluate, write a result record",
                         description="Run the protocol's stages (pretrain on a source, finetune, evaluate, and any "
                                     "enabled probe) and write one result record; print the table of records for "
                                     "the protocol and task. Runs unchanged under `torchrun --nproc_per_node N "
                                     "$(which bench) run ...`.")
    run.add_argument("--source", required=True, help="pretraining source or init (see `bench sources`)")
    run.add_argument("--protocol", default=DEFAULT_PROTOCOL,
                     help=f"protocol name or YAML file (default: {DEFAULT_PROTOCOL}; see `bench protocols`)")
    run.add_argument("--task", default=None, help="downstream task (default: the protocol's; see `bench tasks`)")
    run.add_argument("--seed", type=int, default=0, help="run seed (default: 0)")
    run.add_argument("--data-root", default=None, help="the task's files (same as --set task.data_root=DIR)")
    run.add_argument("--split", type=int, default=None, help="the task's official split (--set task.split=N)")
    run.add_argument("--set", action="append", metavar="KEY=VALUE",
                     help="override a protocol key (pretrain.epochs=5), a source parameter (source.KEY=...) or a "
                          "task parameter (task.KEY=...); repeatable")
    run.add_argument("--results", default="runs/results", help="result record folder (default: runs/results)")
    run.add_argument("--work", default="runs", help="checkpoint cache and logs (default: runs)")
    run.set_defaults(func=cmd_run)

    gen = sub.add_parser("generate", help="write a source's clips as mp4 files plus a contact sheet",
                         description="Write clips 0..n-1 of a source (as a run with the same seed sees them, "
                                     "before the training crop) as mp4 files and one contact-sheet PNG.")
    gen.add_argument("--source", required=True, help="clip source (see `bench sources`)")
    gen.add_argument("-n", type=int, default=8, help="number of clips (default: 8)")
    gen.add_argument("--out", default=None, help="output folder (default: previews/<source>)")
    gen.add_argument("--frames", type=int, default=16, help="frames per clip (default: 16)")
    gen.add_argument("--stride", type=int, default=4, help="temporal stride in source frames (default: 4)")
    gen.add_argument("--fps", type=int, default=25, help="frame rate of the mp4 files (default: 25)")
    gen.add_argument("--seed", type=int, default=0, help="seed (default: 0)")
    gen.add_argument("--set", action="append", metavar="source.KEY=VALUE", help="a source parameter; repeatable")
    gen.set_defaults(func=cmd_generate)

    results_help = "result record folder (default: runs/results)"
    table = sub.add_parser("table", help="tables over result records (mean and 95%% CI over seeds)",
                           description="main: one row per source (and configuration variant) with every stage's "
                                       "metrics as mean [95% CI] over seeds; ood: per-perturbation accuracy and "
                                       "difference from clean; lowdata: the low-data curve.")
    table.add_argument("--kind", default="main", help="main (default), ood or lowdata (see `bench stages`)")
    table.add_argument("--severity", type=int, default=None, help="ood: one severity (default: mean over all)")
    plot = sub.add_parser("plot", help="plots over result records (PNG and SVG)",
                          description="progression: top-1 per source in the registry (paper) order; lowdata: "
                                      "accuracy vs training videos per class with CI bands; ood: accuracy per "
                                      "perturbation.")
    plot.add_argument("kind", help="progression, lowdata or ood")
    plot.add_argument("--out", default="runs/plots", help="output folder (default: runs/plots)")
    plot.add_argument("--severity", type=int, default=None, help="ood: one severity (default: mean over all)")
    for p, func in ((table, cmd_table), (plot, cmd_plot)):
        p.add_argument("--protocol", default=None, help="only this protocol (plot default: smoke)")
        p.add_argument("--task", default=None, help="only this task")
        p.add_argument("--source", action="append", help="only these sources (repeatable)")
        p.add_argument("--seed", type=int, action="append", help="only these seeds (repeatable)")
        p.add_argument("--results", default="runs/results", help=results_help)
        p.set_defaults(func=func)
    table.add_argument("--format", choices=FORMATS, default="github")

    paper = sub.add_parser("paper", help="a paper's tables: published beside reproduced",
                           description="Regenerate a paper's tables from baselines/<paper>.yaml: the published "
                                       "value beside the reproduced one (mean [95% CI], n seeds), the share of the "
                                       "scratch-to-natural gap closed, and Spearman's rank correlation.")
    paper.add_argument("paper", help="yu2024, ishikawa2024 or videomae")
    paper.add_argument("--table", default=None, help="one table (e.g. 1)")
    paper.add_argument("--protocol", default=None, help="reproduce with records of this protocol instead")
    paper.add_argument("--task", default=None, help="... and this task")
    paper.add_argument("--column", default=None, help="with --protocol/--task: the column they reproduce "
                                                      "(default: each table's first)")
    paper.add_argument("--results", default="runs/results", help=results_help)
    paper.add_argument("--format", choices=FORMATS, default="github")
    paper.set_defaults(func=cmd_paper)

    board = sub.add_parser("leaderboard", help="a static, self-contained HTML leaderboard",
                           description="Write DIR/index.html (no network needed to view it) with sortable tables, "
                                       "plots, parameter/MAC counts, throughput and the papers' tables.")
    board.add_argument("--out", default="runs/leaderboard", help="output folder (default: runs/leaderboard)")
    board.add_argument("--results", default="runs/results", help=results_help)
    board.set_defaults(func=cmd_leaderboard)

    check_ = sub.add_parser("check", help="fail (exit 1) when fresh records regress against references",
                            description="Compare fresh records with reference records of the same experiment: a "
                                        "drop larger than --tolerance points fails; a statistically clear drop "
                                        "within it (paired t-test on shared seeds, else Welch) is a warning, a "
                                        "failure with --strict.")
    check_.add_argument("--against", required=True, help="folder of reference records (e.g. results/reference)")
    check_.add_argument("--results", default="runs/results", help="fresh records (default: runs/results)")
    check_.add_argument("--metric", default="top1", help="the metric compared (default: top1; e.g. knn.top1)")
    check_.add_argument("--tolerance", type=float, default=1.0, help="points below the reference (default: 1.0)")
    check_.add_argument("--alpha", type=float, default=0.05, help="level of the one-sided test (default: 0.05)")
    check_.add_argument("--strict", action="store_true", help="a clear drop within the tolerance fails too")
    check_.add_argument("--format", choices=FORMATS, default="github")
    check_.set_defaults(func=cmd_check)

    sp = sub.add_parser("speed", help="measure model steps and data throughput; say what bounds a run",
                        description="Model-step throughput of pretraining and finetuning (clips/s, GMACs, TFLOP/s, "
                                    "MFU on CUDA, peak memory) on the protocol's geometry, data throughput of one "
                                    "loader worker for the source and the task, and which one bounds each stage.")
    sp.add_argument("--protocol", default=DEFAULT_PROTOCOL, help=f"protocol (default: {DEFAULT_PROTOCOL})")
    sp.add_argument("--source", default="pmg", help="clip source whose data is measured (default: pmg)")
    sp.add_argument("--task", default=None, help="downstream task (default: the protocol's)")
    sp.add_argument("--data-root", default=None, help="the task's files")
    sp.add_argument("--steps", type=int, default=10, help="timed model steps after 3 warm-up steps (default: 10)")
    sp.add_argument("--batch", type=int, default=None, help="clips per model step (default: the protocol's, at "
                                                            "most 16 on CPU and 64 on a GPU)")
    sp.add_argument("--items", type=int, default=32, help="data items timed per loader (default: 32)")
    sp.add_argument("--reference", action="append", metavar="official=DIR|hf",
                    help="also time the official MCG-NJU code (a checkout) or Hugging Face's; repeatable")
    sp.add_argument("--set", action="append", metavar="KEY=VALUE", help="a protocol, source or task key")
    sp.add_argument("--format", choices=["github", "markdown", "csv", "json"], default="github")
    sp.set_defaults(func=cmd_speed)

    ex = sub.add_parser("export", help="a pretrained or finetuned encoder as a transformers folder or an official .pth",
                        description="Write the weights of a stage folder (<work>/pretrain/<hash>, "
                                    "<work>/finetune/<hash>) or of a result record's stage as a Hugging Face "
                                    "transformers VideoMAE folder (config.json + model.safetensors) or an official "
                                    "MCG-NJU .pth ({'model': state dict}).")
    ex.add_argument("target", help="a stage folder or a result record (.json)")
    ex.add_argument("--format", choices=["hf", "official"], required=True)
    ex.add_argument("--out", required=True, help="the folder to write (must not exist or be empty)")
    ex.add_argument("--stage", choices=["pretrain", "finetune"], default=None,
                    help="for a record: which stage's weights (default: finetune when it has one)")
    ex.add_argument("--work", default="runs", help="for a record: the --work its run used (default: runs)")
    ex.set_defaults(func=cmd_export)

    an = sub.add_parser("analyze", help="dataset properties of a source (FID/FVD, diversity, spectrum, colour, "
                                        "motion); `correlate`: against accuracy",
                        description="Sample N clips of a source as its pretraining sees them and compute, against "
                                    "a reference set of natural clips: Frechet distances of frame and clip features "
                                    "(FID / FVD with --inception / --i3d weights files, else on the VideoMAE encoder, "
                                    "named for it), diversity, spectrum slope, colour KL, optical flow and temporal "
                                    "energy; writes an analysis record. `bench analyze correlate`: each property "
                                    "against top-1 over the sources that have both.")
    an.add_argument("what", nargs="?", default=None, help="`correlate`, or nothing with --source")
    an.add_argument("--source", default=None, help="clip source (see `bench sources`)")
    an.add_argument("--protocol", default=DEFAULT_PROTOCOL, help=f"clip geometry and view (default: "
                                                                  f"{DEFAULT_PROTOCOL})")
    an.add_argument("--task", default=None, help="correlate: the task of the accuracy records")
    an.add_argument("--metric", default="top1", help="correlate: the accuracy metric (default: top1)")
    an.add_argument("--reference", default="natural", help="reference clip source (default: natural, the bundled "
                                                           "natural clips; --set reference.videos=DIR for yours)")
    an.add_argument("-n", type=int, default=64, help="clips of each set (default: 64)")
    an.add_argument("--seed", type=int, default=0, help="which clips (default: 0)")
    an.add_argument("--inception", default=None, metavar="FILE", help="pytorch-fid's FID Inception weights "
                                                                       "(pt_inception-2015-12-05-6726825d.pth)")
    an.add_argument("--i3d", default=None, metavar="FILE", help="the FVD I3D TorchScript (i3d_torchscript.pt)")
    an.add_argument("--features", default=None, metavar="CHECKPOINT",
                    help="without --inception/--i3d: the VideoMAE encoder's weights (default: its random init)")
    an.add_argument("--set", action="append", metavar="KEY=VALUE",
                    help="source.KEY=... / reference.KEY=... parameters, or a protocol key; repeatable")
    an.add_argument("--results", default="runs/results", help=results_help)
    an.add_argument("--work", default="runs", help="reference-set cache (default: runs)")
    an.add_argument("--out", default="runs/plots", help="correlate: plot folder (default: runs/plots)")
    an.add_argument("--format", choices=FORMATS, default="github")
    an.set_defaults(func=cmd_analyze)

    sw = sub.add_parser("sweep", help="run a sweep's grid of cells (Slurm, local processes or inline)",
                        description="Expand a sweep spec (see `bench sweeps`) into cells, each one `bench run`, and "
                                    "launch those without a record: as one Slurm job array, as local processes or "
                                    "in this process. Launching again skips done and running cells and resumes "
                                    "interrupted ones from their checkpoints. `bench sweep status SPEC`: one line "
                                    "per cell. Exit 1 if a cell failed.")
    sw.add_argument("spec", help="sweep name or YAML file, or `status`")
    sw.add_argument("target", nargs="?", default=None, help="with `status`: the sweep")
    sw.add_argument("--executor", choices=["local", "slurm", "inline"], default="local",
                    help="local: processes on this machine (default); slurm: one job array; inline: this process")
    sw.add_argument("--jobs", type=int, default=1, help="local: cells at once (default: 1)")
    sw.add_argument("--dry-run", action="store_true", help="list the cells and their estimated cost; run nothing")
    sw.add_argument("--tflops", type=float, default=None, help="dry run: sustained TFLOP/s per GPU assumed for "
                                                                "GPU-hours (default: the spec's cost.tflops_per_gpu)")
    sw.add_argument("--wait", action="store_true", help="slurm: wait until every cell has ended")
    sw.add_argument("--poll", type=float, default=10.0, help="slurm --wait: seconds between checks (default: 10)")
    sw.add_argument("--set", action="append", metavar="KEY=VALUE", help="a key set in every cell, as in bench run")
    for flag, tp, text in [("--partition", str, "partition"), ("--nodes", int, "nodes per cell"),
                           ("--gpus-per-node", int, "GPUs per node"),
                           ("--tasks-per-node", int, "processes per node (default: one per GPU)"),
                           ("--cpus-per-task", int, "CPU cores per process"), ("--mem-gb", float, "memory per node"),
                           ("--time-min", int, "time limit per job in minutes (a cell past it is requeued)"),
                           ("--account", str, "account"), ("--qos", str, "QoS"),
                           ("--array-parallelism", int, "array tasks running at once")]:
        sw.add_argument(flag, type=tp, default=None, help=f"slurm: {text} (default: the spec's slurm section)")
    sw.add_argument("--sbatch", action="append", metavar="KEY=VALUE", help="slurm: another sbatch option "
                                                                           "(e.g. constraint=a100); repeatable")
    sw.add_argument("--results", default="runs/results", help=results_help)
    sw.add_argument("--work", default="runs", help="checkpoint cache, logs and cell states (default: runs)")
    sw.add_argument("--format", choices=FORMATS, default="github", help="dry run and status (json) output")
    sw.set_defaults(func=cmd_sweep)

    datasets = sub.add_parser("datasets", help="check downstream datasets",
                              description="Dataset tools.").add_subparsers(dest="datasets_command", required=True,
                                                                           parser_class=Parser, metavar="COMMAND")
    check = datasets.add_parser("check", help="list unreadable or truncated videos of a task",
                                description="Decode every video of a task's train and test splits and list the "
                                            "unreadable or truncated ones; exit 1 if any.")
    check.add_argument("--task", required=True, help="downstream task (see `bench tasks`)")
    check.add_argument("--data-root", default=None, help="the task's files")
    check.add_argument("--split", type=int, default=None, help="the task's official split")
    check.add_argument("--set", action="append", metavar="task.KEY=VALUE", help="a task parameter; repeatable")
    check.add_argument("--workers", type=int, default=2, help="decoding processes (default: 2)")
    check.set_defaults(func=cmd_datasets_check)

    for name, func, text in [("sources", cmd_sources, "the pretraining sources and inits"),
                             ("protocols", cmd_protocols, "the protocols"),
                             ("tasks", cmd_tasks, "the downstream tasks"),
                             ("perturbations", cmd_perturbations, "the test-time perturbations (UCF101-P)"),
                             ("stages", cmd_stages, "the stages a run can have"),
                             ("sweeps", cmd_sweeps, "the sweep specs (grids of runs)")]:
        p = sub.add_parser(name, help=f"list {text}", description=f"List {text}, one line each; NAME: one in full.")
        p.add_argument("name", nargs="?", default=None, help="show this one in full")
        p.add_argument("--format", choices=["table", "json"], default="table", help="output format")
        p.set_defaults(func=func)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as e:  # argparse: --help (0) or a usage error (2, already printed)
        return int(e.code or 0)
    try:
        return args.func(args)
    except BenchError as e:
        print(f"bench: error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `bench sources | head -1`: the reader left; say nothing more
        import os
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
