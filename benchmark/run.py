"""A run: (source, protocol, task, seed) -> pretrain -> finetune -> evaluate -> one result record.

Data flows one way. Pretraining and finetuning are cached stages: each lives in <work>/<stage>/<hash>/ where the
hash covers everything that determines its weights, so a second run with the same source/protocol/seed reuses the
pretrained checkpoint (and a second evaluation the finetuned one). A stage killed midway resumes from its
checkpoint.pt when started again.
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import time
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from benchmark import config
from benchmark.config import Protocol, stable_hash, to_dict
from benchmark.errors import BenchError
from benchmark.models.checkpoints import read_checkpoint
from benchmark.report.environment import environment
from benchmark.report.records import SCHEMA_VERSION, new_run_id, write_record
from benchmark.sources import SOURCES, make_source, source_params
from benchmark.tasks import TASKS, make_task, task_params
from benchmark.train import distributed
from benchmark.train.loop import atomic_write_text

# Bump when a change to generators or training code makes old cached checkpoints wrong.
CACHE_VERSION = 2  # 2: the bundled image pool leaves out the embedded task's test images


@dataclass
class RunSpec:
    protocol: Protocol
    source: str
    source_params: Any
    task: str
    task_params: Any
    seed: int

    @property
    def source_kind(self) -> str:
        return SOURCES.get(self.source).extra["kind"]

    def resolved(self) -> dict:
        """The full configuration of the run, as written into its record."""
        p = to_dict(self.protocol)
        for k in ("sources", "tasks"):
            p.pop(k)
        return {**p, "source": {"name": self.source, "params": to_dict(self.source_params)},
                "task": {"name": self.task, "params": to_dict(self.task_params)}, "seed": self.seed}

    def config_hash(self) -> str:
        """Hash of everything that determines the results (not the protocol's name nor how it runs)."""
        r = self.resolved()
        for k in ("name", "description", "runtime"):
            r.pop(k)
        return stable_hash(r)

    def pretrain_hash(self) -> str | None:
        if self.source_kind == "none" or (self.source_kind == "clips" and self.protocol.pretrain.epochs == 0):
            return None
        if self.source_kind == "checkpoint":
            return "file-" + file_digest(Path(self.source_params.path))
        p = self.protocol
        return stable_hash({"v": CACHE_VERSION, "source": self.source, "params": self.source_params,
                            "model": p.model, "clip": p.clip, "pretrain": p.pretrain, "seed": self.seed})

    def finetune_hash(self) -> str:
        p = self.protocol
        return stable_hash({"v": CACHE_VERSION, "init": self.pretrain_hash(), "task": self.task,
                            "params": self.task_params, "model": p.model, "clip": p.clip, "finetune": p.finetune,
                            "seed": self.seed})


def file_digest(path: Path) -> str:
    if not path.is_file() and not path.is_dir():
        raise BenchError(f"source.path {path} does not exist: give an official VideoMAE .pth or a Hugging Face "
                         f"model folder")
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    h = hashlib.sha256()
    for f in files:
        with f.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def resolve(protocol: str, source: str, task: str | None = None, seed: int = 0,
            overrides: list[str] = ()) -> RunSpec:
    """Protocol + CLI choices -> a validated RunSpec. `--set source.x=v` / `--set task.x=v` set the chosen
    source's / task's parameters; other keys address the protocol."""
    source = SOURCES.canonical(source)
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
    proto = config.build(Protocol, raw, "")
    src_raw: dict = {}
    for name, params in proto.sources.items():  # validate every source section, not only the one used
        if SOURCES.canonical(name) == source:
            src_raw.update(params)
        else:
            source_params(SOURCES.canonical(name), params)
    for name in proto.tasks:
        TASKS.canonical(name)
    sp = source_params(source, src_raw)
    tp = task_params(task_name, proto.tasks.get(task_name, {}))
    if getattr(sp, "task", None) == task_name and getattr(sp, "data_root", "") is None:
        # natural video from the task's own training split: same data root and split unless given
        sp = dataclasses.replace(sp, data_root=getattr(tp, "data_root", None), split=getattr(tp, "split", sp.split))
    return RunSpec(proto, source, sp, task_name, tp, seed)


@contextmanager
def stage_lock(workdir: Path, enabled: bool):
    """Exclusive lock on a stage folder, so two runs never train the same checkpoint at once."""
    if not enabled:
        yield
        return
    with (workdir / ".lock").open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def cached_stage(workdir: Path, key: dict, dist: distributed.Dist, train) -> dict:
    """Run `train()` unless workdir already holds its result; returns the stage summary (+ cached flag)."""
    workdir.mkdir(parents=True, exist_ok=True)
    summary_path = workdir / "summary.json"
    with stage_lock(workdir, dist.is_main):
        done = dist.broadcast(summary_path.is_file() and (workdir / "final.pt").is_file())
        if done:
            return {**json.loads(summary_path.read_text()), "cached": True}
        if dist.is_main:
            atomic_write_text(workdir / "config.json", json.dumps(to_dict(key), indent=1))
        summary = train()
        if dist.is_main:
            atomic_write_text(summary_path, json.dumps(summary, indent=1))
            (workdir / "checkpoint.pt").unlink(missing_ok=True)
        dist.barrier()
    return {**summary, "cached": False}


def load_classifier(p: Protocol, task, workdir: Path, dist: distributed.Dist) -> torch.nn.Module:
    from benchmark.models.checkpoints import load_strict
    from benchmark.train.finetune import build_classifier
    model = build_classifier(p, task.num_classes)
    state = torch.load(workdir / "final.pt", map_location="cpu", weights_only=False)["model"]
    load_strict(model, state, f"finetuned checkpoint {workdir / 'final.pt'}")
    return model.to(dist.device)


def run_lowdata(spec: RunSpec, task, init_state: dict | None, fhash: str, work: Path,
                dist: distributed.Dist) -> list[dict]:
    """One finetuning and clean evaluation per (subset seed, point); each is a cached stage of its own."""
    from dataclasses import replace

    from benchmark.evaluate.lowdata import class_orders, points, subset
    from benchmark.evaluate.multiview import evaluate
    from benchmark.tasks.base import SubsetSplit
    from benchmark.train.finetune import finetune

    p = spec.protocol
    clean_only = replace(p, evaluate=replace(p.evaluate, perturbations=[]))
    labels = [task.train.label(i) for i in range(len(task.train))]
    curve = []
    for subset_seed in p.lowdata.subset_seeds:
        orders = class_orders(labels, task.num_classes, subset_seed)
        for point in points(p.lowdata):
            indices = subset(orders, **point)
            key = {"base": fhash, "subset_seed": subset_seed, **point, "steps": p.lowdata.steps}
            wd = work / "finetune" / stable_hash(key)
            train = SubsetSplit(task.train, indices)
            summary = cached_stage(wd, key, dist, lambda wd=wd, train=train: finetune(
                clean_only, task, init_state, spec.seed, dist, wd, train=train, steps=p.lowdata.steps))
            metrics = evaluate(load_classifier(p, task, wd, dist), task.test, clean_only, dist)
            curve.append({**point, "subset_seed": subset_seed, "train_videos": len(indices),
                          "videos_per_class": round(len(indices) / task.num_classes, 3),
                          "top1": metrics["top1"], "top5": metrics["top5"], "finetune_steps": summary["total_steps"],
                          "cached": summary["cached"]})
    return curve


def lowdata_points(cfg) -> bool:
    return bool(cfg.per_class or cfg.fractions)


def execute(spec: RunSpec, results: Path, work: Path) -> tuple[dict | None, Path | None]:
    """Run every stage; returns (record, path) on the main process and (None, None) on the others."""
    from benchmark.evaluate.multiview import evaluate
    from benchmark.train.finetune import finetune
    from benchmark.train.pretrain import pretrain

    t0 = time.perf_counter()
    started = datetime.now(timezone.utc)
    p = spec.protocol
    dist = distributed.init(p.runtime.device)
    try:
        entry = SOURCES.get(spec.source)
        task = make_task(spec.task, spec.task_params)
        phash = spec.pretrain_hash()
        pre_summary, init_state, source_info = None, None, {}
        if spec.source_kind == "clips" and phash is not None:
            source = make_source(spec.source, spec.source_params, spec.seed, p.clip.size)
            source_info = source.info()
            wd = work / "pretrain" / phash
            pre_summary = cached_stage(wd, {"source": spec.source, "params": spec.source_params,
                                            "protocol": p, "seed": spec.seed}, dist,
                                       lambda: pretrain(p, source, spec.seed, dist, wd))
            init_state = torch.load(wd / "final.pt", map_location="cpu", weights_only=True)["model"]
        elif spec.source_kind == "checkpoint":
            init_state = read_checkpoint(spec.source_params.path)
            source_info = {"checkpoint": str(spec.source_params.path), "sha256_16": phash.removeprefix("file-")}

        fhash = spec.finetune_hash()
        wd = work / "finetune" / fhash
        ft_summary = cached_stage(wd, {"init": phash, "task": spec.task, "params": spec.task_params,
                                       "protocol": p, "seed": spec.seed}, dist,
                                  lambda: finetune(p, task, init_state, spec.seed, dist, wd))
        t_eval = time.perf_counter()
        metrics = evaluate(load_classifier(p, task, wd, dist), task.test, p, dist)
        eval_seconds = time.perf_counter() - t_eval
        lowdata = run_lowdata(spec, task, init_state, fhash, work, dist) if lowdata_points(p.lowdata) else None
    except BaseException:
        distributed.shutdown()
        raise
    if not dist.is_main:
        distributed.shutdown()
        return None, None
    chash = spec.config_hash()
    record = {
        "schema_version": SCHEMA_VERSION,
        "run_id": new_run_id(chash),
        "created": started.isoformat(timespec="seconds"),
        "protocol": p.name, "source": spec.source, "task": spec.task, "seed": spec.seed,
        "config_hash": chash, "pretrain_hash": phash, "finetune_hash": fhash,
        "metrics": {k: v for k, v in metrics.items() if k != "skipped_test_videos"} | (
            {"lowdata": lowdata} if lowdata is not None else {}),
        "source_info": {"name": spec.source, "kind": entry.extra["kind"], "description": entry.description,
                        "params": to_dict(spec.source_params), **source_info},
        "task_info": task.describe(),
        "skipped_videos": {"pretrain": (pre_summary or {}).get("skipped_videos", []),
                           "finetune": ft_summary.get("skipped_videos", []),
                           "test": metrics["skipped_test_videos"]},
        "pretrain": {k: v for k, v in (pre_summary or {}).items() if k != "skipped_videos"} or None,
        "finetune": {k: v for k, v in ft_summary.items() if k != "skipped_videos"},
        "evaluate": {"seconds": round(eval_seconds, 3)},
        "timings": {"total_s": round(time.perf_counter() - t0, 3)},
        "config": spec.resolved(),
        "environment": environment(dist.device, dist.world),
    }
    path = write_record(results, record)
    distributed.shutdown()
    return record, path
