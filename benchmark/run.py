"""A run: (source, protocol, task, seed) -> the protocol's stages, in order -> one result record.

`resolve` turns the command line into a validated `RunSpec`; `execute` checks everything that can be checked
before any work (every stage's own validation, writable output folders), then runs the stages one after another.
Each stage with a result lives in <work>/<stage>/<hash>/, the hash covering everything that determines it, so a
second run with the same source/protocol/seed reuses the pretrained checkpoint (and a second evaluation the
finetuned one), and a stage killed midway resumes from its checkpoint.pt when started again.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path
from typing import Any

from benchmark import config
from benchmark.config import Protocol, stable_hash, to_dict
from benchmark.errors import BenchError
from benchmark.inits import INITS, source_entry
from benchmark.records import Record, new_run_id, write_record
from benchmark.runtime import check_writable, processes, remove_stale_temps
from benchmark.sources.base import CLIP_SOURCES
from benchmark.stages.base import Context, Output, Stage, cache_hash, cached, experiment_hash, identity, sections
from benchmark.stages.base import stages as registered_stages
from benchmark.tasks.base import TASKS, make_task, task_params


@dataclass
class RunSpec:
    protocol: Protocol
    source: str  # canonical name: an init (scratch, checkpoint) or a clip source
    source_params: Any
    task: str
    task_params: Any
    seed: int

    @property
    def clips(self) -> bool:
        """Whether the encoder is pretrained on a clip source (else it starts from an init)."""
        return self.source in CLIP_SOURCES

    @property
    def source_kind(self) -> str:
        return "clips" if self.clips else INITS.get(self.source).cls.kind

    @cached_property
    def source_object(self):
        """The clip source, built once (building it checks its folders and files)."""
        from benchmark.sources.base import make_source
        return make_source(self.source, self.source_params, self.seed, self.protocol.clip.size)

    @cached_property
    def task_object(self):
        """The downstream task, built once (building it reads its split files)."""
        return make_task(self.task, self.task_params)

    @cached_property
    def init(self):
        """The Init (scratch, checkpoint file) the encoder starts from, or None when it is pretrained on clips."""
        return None if self.clips else INITS.get(self.source).cls(self.source_params)

    def resolved(self) -> dict:
        """The full configuration of the run, as written into its record."""
        p = to_dict(self.protocol)
        for k in ("sources", "tasks"):
            p.pop(k)
        return {**p, "source": {"name": self.source, "params": to_dict(self.source_params)},
                "task": {"name": self.task, "params": to_dict(self.task_params)}, "seed": self.seed}

    def plan(self) -> list[Stage]:
        """The stages this run executes: the enabled ones whose needed stages run too."""
        out: list[Stage] = []
        for stage in registered_stages():
            if stage.enabled(self) and all(n in {s.name for s in out} for n in stage.needs):
                out.append(stage)
        return out

    @cached_property
    def keys(self) -> dict[str, dict | None]:
        """Stage name -> its experiment key (config slice + the needed stages' experiment hashes, no seed)."""
        keys: dict[str, dict | None] = {}
        hashes: dict[str, str | None] = {}
        for stage in self.plan():
            keys[stage.name] = identity(stage, self, hashes)
            hashes[stage.name] = experiment_hash(keys[stage.name])
        return keys

    def experiment(self) -> str:
        """What the run is without its seed: records of repeats share it (and only they pool over seeds)."""
        return stable_hash({name: experiment_hash(key) for name, key in self.keys.items()})

    def config_hash(self) -> str:
        return stable_hash({"experiment": self.experiment(), "seed": self.seed})


def resolve(protocol: str, source: str, task: str | None = None, seed: int = 0,
            overrides: list[str] = ()) -> RunSpec:
    """Protocol + CLI choices -> a validated RunSpec. `--set source.x=v` / `--set task.x=v` set the chosen
    source's / task's parameters; other keys address the protocol."""
    if seed < 0 or seed >= 2 ** 63:
        raise BenchError(f"--seed must be an integer in 0..2^63-1, got {seed}")
    entry = source_entry(source)
    source = entry.name
    raw = config.load_raw(protocol)
    task_name = TASKS.canonical(task or raw.get("task", "embedded"))
    for item in overrides:
        path, value = config.parse_override(item)
        if path[0] == "source" and len(path) > 1:
            path = ["sources", source] + path[1:]
        elif path[0] == "task" and len(path) > 1:
            path = ["tasks", task_name] + path[1:]
        elif path[0] in ("source", "task"):
            raise BenchError(f"--set {item}: choose the {path[0]} with --{path[0]}, set its parameters with "
                             f"--set {path[0]}.<key>=<value>")
        config.set_path(raw, path, value)
    raw["task"] = task_name
    proto = config.build_protocol(raw, sections())
    src_raw: dict = {}
    for name, params in proto.sources.items():  # validate every source section, not only the one used
        other = source_entry(name)
        if other.name == source:
            src_raw.update(params)
        else:
            config.build(other.params, params, "source")
    for name in proto.tasks:
        TASKS.canonical(name)
    sp = config.build(entry.params, src_raw, "source")
    tp = task_params(task_name, proto.tasks.get(task_name, {}))
    if getattr(sp, "task", None) == task_name and getattr(sp, "data_root", "") is None:
        # natural video from the task's own training split: same data root and split unless given
        sp = dataclasses.replace(sp, data_root=getattr(tp, "data_root", None), split=getattr(tp, "split", sp.split))
    return RunSpec(proto, source, sp, task_name, tp, seed)


def _record(spec: RunSpec, plan: list[Stage], outputs: dict[str, Output], started: datetime, seconds: float,
            environment: dict) -> Record:
    """The one place a record is assembled: identity and provenance here, each stage's part by its `fill`."""
    chash = spec.config_hash()
    record = Record(protocol=spec.protocol.name, source=spec.source, task=spec.task, seed=spec.seed,
                    config_hash=chash, experiment=spec.experiment(), run_id=new_run_id(chash),
                    created=started.isoformat(timespec="seconds"), config=spec.resolved(), environment=environment,
                    task_info=spec.task_object.describe(), skipped_videos={"pretrain": [], "finetune": [], "test": []})
    for stage in plan:
        out = outputs[stage.name]
        stage.fill(record, out, spec)
        record.stages[stage.name] = {"hash": out.hash, "cached": out.cached, "seconds": round(out.seconds, 3)}
    record.timings = {"total_s": round(seconds, 3)}
    return record


def execute(spec: RunSpec, results: Path, work: Path) -> tuple[Record | None, Path | None]:
    """Run every stage of the plan; returns (record, path) on the main process and (None, None) on the others."""
    from benchmark.data.video import use_decoder
    from benchmark.environment import environment

    plan = spec.plan()
    for stage in plan:  # everything that can fail before work, fails before work
        stage.validate(spec)
    use_decoder(spec.protocol.runtime.decoder)
    check_writable(results, "--results")
    check_writable(work, "--work")
    t0, started = time.perf_counter(), datetime.now(timezone.utc)
    keys = spec.keys
    with processes(spec.protocol.runtime.device) as dist:
        task = spec.task_object
        outputs: dict[str, Output] = {}
        for stage in plan:
            key = keys[stage.name]
            h = cache_hash(key, spec.seed) if key is not None else None
            workdir = work / stage.name / h if h is not None and stage.cache(spec) else None
            if workdir is not None and dist.is_main:
                remove_stale_temps(workdir)
            ctx = Context(spec, dist, work, workdir, {n: outputs[n] for n in stage.needs}, task,
                          {**key, "seed": spec.seed} if key is not None else {})
            ts = time.perf_counter()
            if workdir is not None:
                result, reused = cached(workdir, ctx.identity, dist, lambda ctx=ctx, stage=stage: stage.run(ctx))
            else:
                result, reused = stage.run(ctx), False
            outputs[stage.name] = Output(result, h, workdir, reused, time.perf_counter() - ts)
        if not dist.is_main:
            return None, None
        record = _record(spec, plan, outputs, started, time.perf_counter() - t0, environment(dist.device, dist.world))
        path = write_record(results, record, rescue=(work,))
    return record, path
