"""Sweeps: the grid behind a paper table as data, expanded into cells, launched and tracked.

A sweep spec (benchmark/sweeps/<name>.yaml or any YAML path, with `base:` inheritance, where a child's `sources`
replace its base's, and the strict validation of protocols) names the runs of each source (protocol, task and
overrides: a paper table's columns), the source variants (a registered source and its parameters), the seeds,
overrides for every cell, the baselines tables it reproduces, its Slurm resources and the throughput assumed for
cost estimates.

A cell is exactly one `bench run` (protocol, task, source variant, seed): the same record at the same path
(<results>/<protocol>/<task>/<source>-s<seed>-<config hash>.json) and the same stage caches under --work. So a cell
whose record exists is done, an interrupted cell resumes from its stage checkpoints, and cells that share a stage
(one pretraining finetuned on two tasks) compute it once: the stage lock makes the second wait for the first, and
no cell ever waits for a cell that waits for it (a cell only takes the locks of its own stages, one at a time).

Each cell's state is a small JSON file in <work>/sweeps/<sweep>/cells/, written by the launcher (queued, with its
job id) and by the cell's own process (running, done, failed with the one-line error), so `status` answers
without the launcher; a cell whose file says running but whose process or Slurm job is gone is shown as stopped
(launch the sweep again to resume it). `benchmark.launch` submits cells through submitit.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from benchmark import config
from benchmark.config import param
from benchmark.errors import BenchError, read_text
from benchmark.records import record_file

SWEEP_DIR = Path(__file__).parent / "sweeps"
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$")


@dataclass
class Variant:
    source: str | None = None  # a registered clip source or init; default: the variant's name
    params: dict[str, Any] = field(default_factory=dict)  # its parameters (what `--set source.KEY=...` sets)
    note: str = ""


@dataclass
class Target:
    """What each source variant and seed is run on: one column of the table the sweep fills."""

    protocol: str | None = None  # default: the spec's protocol
    task: str | None = None  # default: the protocol's task
    set: dict[str, Any] = field(default_factory=dict)  # dotted keys for this target's cells
    name: str | None = None  # in cell ids (default: <protocol>.<task>); needed when two targets share both


@dataclass
class SlurmConfig:
    """The resources of one cell (one array task) on Slurm, as submitit's slurm_* parameters."""

    partition: str | None = None
    nodes: int = param(1, gt=0)
    gpus_per_node: int = param(0, min=0)
    tasks_per_node: int | None = param(None, gt=0, doc="processes per node; default: one per GPU, else one")
    cpus_per_task: int = param(10, gt=0, doc="CPU cores per process (data loader workers + 1 or 2)")
    mem_gb: float | None = param(None, gt=0)
    time_min: int = param(24 * 60, gt=0, doc="per job; a cell that needs longer is requeued and resumes")
    account: str | None = None
    qos: str | None = None
    array_parallelism: int = param(256, gt=0, doc="cells of the array running at once")
    signal_delay_s: int = param(120, min=0, doc="USR2 this long before the time limit: submitit requeues the cell")
    max_requeues: int = param(10, min=0, doc="timeouts and preemptions after which a cell is given up")
    setup: list[str] = param([], doc="shell lines run before each cell (module load, source venv/bin/activate)")
    additional: dict[str, Any] = param({}, doc="further sbatch options, e.g. {constraint: a100, exclusive: true}")

    @property
    def tasks(self) -> int:
        return self.tasks_per_node or max(1, self.gpus_per_node)


@dataclass
class CostConfig:
    tflops_per_gpu: float = param(100.0, gt=0, doc="sustained TFLOP/s per GPU assumed for GPU-hours (an "
                                                    "assumption, not a measurement: `bench speed --protocol P` on "
                                                    "the cluster's GPU measures it)")


@dataclass
class SweepSpec:
    name: str = ""
    description: str = ""
    protocol: str = "smoke"
    runs: list[Target] = param([], doc="the protocol/task/overrides each variant and seed runs on (empty: the "
                                       "protocol on its task)")
    sources: dict[str, Variant | None] = param({}, doc="variant name -> source and parameters")
    seeds: list[int] = param([0])
    set: dict[str, Any] = param({}, doc="dotted keys set in every cell (as `bench run --set`)")
    reproduces: list[str] = param([], doc="the baselines tables the grid fills, as paper/table (yu2024/1)")
    note: str = ""
    slurm: SlurmConfig = field(default_factory=SlurmConfig)
    cost: CostConfig = field(default_factory=CostConfig)

    def validate(self, where: str) -> None:
        if not self.sources:
            raise BenchError(f"sweep {self.name}: key sources is empty; name at least one source variant")
        for name in list(self.sources) + [t.name for t in self.runs if t.name]:
            if not NAME.match(name):
                raise BenchError(f"sweep {self.name}: name {name!r} (a variant or run) may hold only letters, "
                                 f"digits and _ . + -")
        if not self.seeds:
            raise BenchError(f"sweep {self.name}: key seeds is empty; give at least one seed")
        if len(set(self.seeds)) != len(self.seeds) or any(s < 0 for s in self.seeds):
            raise BenchError(f"sweep {self.name}: key seeds must be distinct integers >= 0, got {self.seeds}")
        for ref in self.reproduces:
            if ref.count("/") != 1 or not all(ref.split("/")):
                raise BenchError(f"sweep {self.name}: key reproduces holds {ref!r}; write paper/table, e.g. "
                                 f"yu2024/1")


def sweep_names() -> list[str]:
    return config.yaml_names(SWEEP_DIR)


def load_spec(name: str) -> SweepSpec:
    """A sweep spec by name or path, merged over its `base:` chain and validated (unknown keys, bad values and
    unknown papers or tables are one-line errors)."""
    raw = config.load_raw(name, folder=SWEEP_DIR, kind="sweep", whole=("sources",))  # a child's grid is its own
    spec = config.build(SweepSpec, raw, "")
    for ref in spec.reproduces:
        from benchmark.report.paper import load_paper
        paper, table = ref.split("/")
        if table not in {t.id for t in load_paper(paper).tables}:
            raise BenchError(f"sweep {spec.name}: key reproduces names {ref}, but {paper} has no table {table}")
    return spec


# ---------------------------------------------------------------------------------------------------------------
# cells


def _value(v: Any) -> str:
    return json.dumps(v)  # JSON is YAML: what --set parses


@dataclass(frozen=True)
class Cell:
    """One `bench run` of a sweep; small and picklable (the job resolves it again)."""

    sweep: str
    target: str  # the run's name: <protocol>.<task> unless the spec names it
    variant: str
    source: str
    protocol: str
    task: str
    seed: int
    overrides: tuple[str, ...]
    config_hash: str
    protocol_name: str  # as the record names it (the stem, or the path of a protocol file)

    @property
    def id(self) -> str:
        return f"{self.target}.{self.variant}.s{self.seed}"

    def resolve(self):
        from benchmark.run import resolve
        return resolve(self.protocol, self.source, self.task, self.seed, list(self.overrides))

    def record_path(self, results: Path) -> Path:
        return record_file(results, self.protocol_name, self.task, self.source, self.seed, self.config_hash)

    def command(self) -> str:
        """The `bench run` this cell is."""
        sets = "".join(f" --set {_shell(o)}" for o in self.overrides)
        return f"bench run --protocol {self.protocol} --task {self.task} --source {self.source} " \
               f"--seed {self.seed}{sets}"


def _shell(s: str) -> str:
    import shlex
    return shlex.quote(s)


@dataclass
class Grid:
    """A spec's cells, with their resolved runs (built once)."""

    spec: SweepSpec
    cells: list[Cell]
    runs: dict[str, Any]  # cell id -> RunSpec

    @cached_property
    def by_id(self) -> dict[str, Cell]:
        return {c.id: c for c in self.cells}


def expand(spec: SweepSpec, overrides: list[str] = ()) -> Grid:
    """Every (run, variant, seed) cell, each resolved as `bench run` resolves it: a bad source, parameter or key
    is a one-line error naming the variant before anything runs. `overrides` (`--set` of `bench sweep`) apply to
    every cell after the spec's own."""
    from benchmark.inits import source_entry
    from benchmark.run import resolve
    cells, runs = [], {}
    for target in spec.runs or [Target()]:
        protocol, task = target.protocol or spec.protocol, target.task
        common = [f"{k}={_value(v)}" for k, v in {**spec.set, **target.set}.items()] + list(overrides)
        for name, variant in spec.sources.items():
            variant = variant or Variant()
            where = f"sweep {spec.name}, variant {name} on {target.name or protocol}"
            try:
                source = source_entry(variant.source or name).name
                sets = tuple([f"source.{k}={_value(v)}" for k, v in variant.params.items()] + common)
                for seed in spec.seeds:
                    run = resolve(protocol, source, task, seed, list(sets))
                    label = target.name or f"{Path(protocol).stem}.{run.task}"
                    cell = Cell(spec.name, label, name, source, protocol, run.task, seed, sets, run.config_hash(),
                                run.protocol.name)
                    if cell.id in runs:
                        raise BenchError(f"two cells are {cell.id}; give the variants distinct names")
                    cells.append(cell)
                    runs[cell.id] = run
            except BenchError as e:
                raise BenchError(f"{where}: {e}") from None
    return Grid(spec, cells, runs)


def validate_cells(grid: Grid, cells: list[Cell]) -> None:
    """What `bench run` checks before work (the task's files, the source's folders), for every cell to launch."""
    for cell in cells:
        run = grid.runs[cell.id]
        try:
            for stage in run.plan():
                stage.validate(run)
        except BenchError as e:
            raise BenchError(f"sweep {cell.sweep}, cell {cell.id}: {e}") from None


# ---------------------------------------------------------------------------------------------------------------
# cell states


def sweep_dir(work: Path, spec: SweepSpec) -> Path:
    return work / "sweeps" / Path(spec.name).stem


def _state_path(work: Path, cell: Cell) -> Path:
    return work / "sweeps" / Path(cell.sweep).stem / "cells" / f"{cell.id}.json"


def write_state(work: Path, cell: Cell, state: str, **info: Any) -> None:
    from benchmark.runtime import atomic_write_json
    atomic_write_json(_state_path(work, cell), {
        "cell": cell.id, "state": state, "config_hash": cell.config_hash,
        "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"), **info})


def read_state(work: Path, cell: Cell) -> dict[str, Any]:
    path = _state_path(work, cell)
    try:
        data = json.loads(read_text(path, "cell state"))
    except (BenchError, json.JSONDecodeError):
        return {}
    return data if isinstance(data, dict) and data.get("config_hash") == cell.config_hash else {}


def one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0] if text else ''}" if not isinstance(e, BenchError) else text[0]


def run_cell(cell: Cell, results: Path, work: Path, executor: str = "inline", job: str | None = None,
             log: str | None = None) -> dict[str, Any]:
    """Run one cell as `bench run` would, keeping its state file; returns {top1, record}. Every process of a
    multi-process cell calls this (ranks come from the environment); the main one writes the state. A failure is
    recorded and raised again; an exit (submitit's requeue on timeout or preemption) leaves the cell running, and
    the requeued job resumes it."""
    from benchmark.run import execute
    from benchmark.runtime import world_from_env
    main = world_from_env()[0] == 0
    info = {"executor": executor, "job": job, "log": log, "host": socket.gethostname(), "pid": os.getpid()}
    if main:
        write_state(work, cell, "running", **info)
    try:
        record, path = execute(cell.resolve(), results, work)
    except Exception as e:
        if main:
            write_state(work, cell, "failed", **info, error=one_line(e))
        raise
    if record is None:
        return {}
    top1 = record.metrics.get("top1")
    write_state(work, cell, "done", **info, top1=top1, record=str(path))
    return {"top1": top1, "record": str(path)}


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def slurm_states(jobs: list[str]) -> dict[str, str] | None:
    """Job id -> Slurm state (PENDING, RUNNING, ...) of the jobs squeue still knows; None without squeue."""
    if not jobs or shutil.which("squeue") is None:
        return None
    try:
        out = subprocess.run(["squeue", "--noheader", "--array", "--format=%i %T", "--jobs", ",".join(jobs)],
                             capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0 and "Invalid job id" not in out.stderr:
        return None
    states = {}
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) == 2:
            states[parts[0]] = parts[1]
    return states


@dataclass
class CellStatus:
    cell: Cell
    state: str  # done, running, queued, failed, stopped, not started
    top1: float | None = None
    stage: str | None = None
    step: int | None = None
    of: int | None = None
    job: str | None = None
    error: str | None = None
    log: str | None = None
    record: str | None = None

    def line(self) -> str:
        c = self.cell
        what = f"{c.target:<22} {c.variant:<22} s{c.seed:<3}"
        if self.state == "done":
            return f"done        {what} top-1 {self.top1:.2f}%" if self.top1 is not None else f"done        {what}"
        progress = f" {self.stage} step {self.step}/{self.of}" if self.stage and self.step is not None else \
            (f" {self.stage}" if self.stage else "")
        job = f" (job {self.job})" if self.job else ""
        if self.state == "running":
            return f"running     {what}{progress}{job}"
        if self.state == "queued":
            return f"queued      {what}{job}"
        if self.state == "failed":
            return f"failed      {what} {self.error}" + (f"; log: {self.log}" if self.log else "")
        if self.state == "stopped":
            return f"stopped     {what}{progress}{job}: its process ended; launch the sweep again to resume"
        return f"not started {what}"

    def as_json(self) -> dict[str, Any]:
        c = self.cell
        return {"cell": c.id, "run": c.target, "protocol": c.protocol, "task": c.task, "variant": c.variant,
                "source": c.source, "seed": c.seed, "config_hash": c.config_hash, "state": self.state,
                "top1": self.top1, "stage": self.stage, "step": self.step, "of": self.of, "job": self.job,
                "error": self.error, "log": self.log, "record": self.record}


def _progress(run, work: Path) -> tuple[str | None, int | None, int | None]:
    """The stage a cell is in (the first without a result) and its last logged step of its total."""
    from benchmark.stages.base import cache_hash
    for stage in run.plan():
        key = run.keys[stage.name]
        if key is None or not stage.cache(run):
            continue
        folder = work / stage.name / cache_hash(key, run.seed)
        if (folder / "result.json").is_file():
            continue
        step = of = None
        try:
            lines = (folder / "log.jsonl").read_text().splitlines()
            last = json.loads(lines[-1]) if lines else {}
            step, of = last.get("step"), last.get("of")
        except (OSError, ValueError):
            pass
        return stage.name, step, of
    return None, None, None


def status(grid: Grid, results: Path, work: Path) -> list[CellStatus]:
    """Every cell's state: done from its record; else what its state file says, checked against the process or
    Slurm job it names."""
    states = {c.id: read_state(work, c) for c in grid.cells}
    jobs = sorted({s["job"] for s in states.values() if s.get("executor") == "slurm" and s.get("job")
                   and s.get("state") in ("queued", "running")})
    slurm = slurm_states(jobs)
    host = socket.gethostname()
    out = []
    for cell in grid.cells:
        path = cell.record_path(results)
        if path.is_file():
            try:
                top1 = json.loads(path.read_text()).get("metrics", {}).get("top1")
            except (OSError, ValueError):
                top1 = None
            out.append(CellStatus(cell, "done", top1=top1, record=str(path)))
            continue
        s = states[cell.id]
        state = s.get("state") or "not started"
        if state == "done":  # its record was removed
            state = "not started"
        if state in ("queued", "running"):
            if s.get("executor") == "slurm" and slurm is not None:
                sl = slurm.get(str(s.get("job")))
                if sl is None:
                    state = "stopped"
                elif sl in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "CONFIGURING"):
                    state = "queued"
                else:
                    state = "running" if state == "running" or sl == "RUNNING" else state
            elif s.get("host") == host:
                pid = s.get("pid") if state == "running" else s.get("launcher")
                if isinstance(pid, int) and not _alive(pid):
                    state = "stopped"
        st = CellStatus(cell, state, job=s.get("job"), error=s.get("error"), log=s.get("log"))
        if state in ("running", "stopped"):
            st.stage, st.step, st.of = _progress(grid.runs[cell.id], work)
        out.append(st)
    return out


def summary(statuses: list[CellStatus]) -> str:
    counts: dict[str, int] = {}
    for s in statuses:
        counts[s.state] = counts.get(s.state, 0) + 1
    order = ("done", "running", "queued", "failed", "stopped", "not started")
    return f"{len(statuses)} cells: " + ", ".join(f"{counts[k]} {k}" for k in order if counts.get(k))


# ---------------------------------------------------------------------------------------------------------------
# cost


@dataclass
class CellCost:
    cell: Cell
    steps: int
    gflops: float
    shared: list[str]  # stages another cell of the grid computes (counted there)
    sizes: str  # where the task's sizes come from


def _task_sizes(run) -> tuple[tuple[int, int, int], str]:
    """(classes, train, test) of the run's task: from its files when they are there, else the official split's."""
    from benchmark.tasks.base import TASKS
    try:
        t = run.task_object
        return (t.num_classes, len(t.train), len(t.test)), "files"
    except BenchError:
        sizes = TASKS.get(run.task).sizes
        if sizes is None:
            raise BenchError(f"task {run.task}: its files are needed to estimate the cost (set its data root, e.g. "
                             f"--set tasks.{run.task}.data_root=DIR)") from None
        return sizes, "published split 1"


def estimate(grid: Grid) -> list[CellCost]:
    """Optimizer steps and GFLOPs per cell (fvcore's forward MACs x 2, x 3 where a backward pass follows); a stage
    that several cells share (the same cache folder) is counted in the first."""
    from benchmark.report.flops import model_cost
    from benchmark.stages.base import Size, cache_hash
    macs: dict[str, dict] = {}
    sizes: dict[str, tuple] = {}
    seen: set[str] = set()
    out = []
    for cell in grid.cells:
        run = grid.runs[cell.id]
        tk = f"{run.task}:{config.stable_hash(run.task_params)}"
        if tk not in sizes:
            sizes[tk] = _task_sizes(run)
        (classes, train, test), where = sizes[tk]
        mk = config.stable_hash({"model": run.protocol.model, "clip": run.protocol.clip,
                                 "mask": run.protocol.pretrain.mask_ratio, "classes": classes})
        if mk not in macs:
            macs[mk] = model_cost(run.protocol, classes)
        m = macs[mk]
        size = Size(m["pretrain_gmacs_per_clip"], m["gmacs_per_view"], classes, train, test)
        steps, gflops, shared = 0, 0.0, []
        for stage in run.plan():
            key = run.keys[stage.name]
            if key is not None:
                folder = f"{stage.name}/{cache_hash(key, run.seed)}"
                if folder in seen:
                    shared.append(stage.name)
                    continue
                seen.add(folder)
            c = stage.cost(run, size)
            steps, gflops = steps + c.steps, gflops + c.gflops
        out.append(CellCost(cell, steps, gflops, shared, where))
    return out


def cost_table(grid: Grid, costs: list[CellCost], statuses: list[CellStatus], tflops: float):
    from benchmark.render import Column, Table
    state = {s.cell.id: s.state for s in statuses}
    rows = [[c.cell.id, c.cell.protocol, c.cell.source, c.cell.seed, state.get(c.cell.id, ""), c.steps,
             c.gflops / 1e6, c.gflops / (tflops * 1e3) / 3600, ", ".join(c.shared)] for c in costs]
    total = sum(c.gflops for c in costs)
    todo = sum(c.gflops for c in costs if state.get(c.cell.id) != "done")
    notes = [f"{len(costs)} cells, {sum(c.steps for c in costs):,} optimizer steps, {total / 1e6:,.1f} PFLOP: "
             f"{total / (tflops * 1e3) / 3600:,.1f} GPU-hours at an assumed {tflops:g} TFLOP/s per GPU "
             f"({todo / (tflops * 1e3) / 3600:,.1f} GPU-hours for the cells not done)",
             "FLOPs: fvcore's forward MACs per clip (with attention) x 2, x 3 for training steps; a stage shared "
             "with an earlier cell is counted there (`shared`); data loading and evaluation overheads are not "
             "counted. Task sizes: " + ", ".join(sorted({c.sizes for c in costs})) + "."]
    return Table([Column("cell"), Column("protocol"), Column("source"), Column("seed"), Column("state"),
                  Column("steps", "optimizer steps"), Column("pflop", "PFLOP", 3),
                  Column("gpu_hours", "GPU-h", 2), Column("shared", "shared stages")],
                 rows, title=f"sweep {grid.spec.name}: {grid.spec.description}", notes=notes)


# ---------------------------------------------------------------------------------------------------------------
# sweeps behind paper tables


def specs_for(paper: str, table: str) -> list[SweepSpec]:
    out = []
    for name in sweep_names():
        try:
            spec = load_spec(name)
        except BenchError:
            continue
        if f"{paper}/{table}" in spec.reproduces:
            out.append(spec)
    return out


def missing_note(spec: SweepSpec, results: Path) -> str:
    """Which cells of the spec have no record yet: a head line, then one line per run with missing cells."""
    grid = expand(spec)
    missing: dict[str, dict[str, list[int]]] = {}
    for cell in grid.cells:
        if not cell.record_path(results).is_file():
            missing.setdefault(cell.target, {}).setdefault(cell.variant, []).append(cell.seed)
    done = len(grid.cells) - sum(len(seeds) for run in missing.values() for seeds in run.values())
    lines = [f"filled by `bench sweep {spec.name}`: {done} of {len(grid.cells)} cells done"]
    for target, variants in missing.items():
        if len(variants) == len(spec.sources) and all(len(v) == len(spec.seeds) for v in variants.values()):
            lines.append(f"  missing {target}: every cell")
            continue
        parts = [v if len(seeds) == len(spec.seeds) else f"{v} (seed {', '.join(map(str, seeds))})"
                 for v, seeds in variants.items()]
        lines.append(f"  missing {target}: " + ", ".join(parts))
    return "\n".join(lines)
