"""The optimizer-step loop shared by pretraining and finetuning.

Exact resume without saving RNG states: the data of step s are a pure function of (seed, s), the learning rate
is a pure function of s, and the global torch/NumPy RNGs (dropout, drop path, timm's Mixup) are reseeded from
(seed, s, rank) at every step. A checkpoint therefore only holds the model, the optimizer and the next step, and
a run killed at any point and started again ends bit-identical to one that was never interrupted (on CPU).
"""

from __future__ import annotations

import json
import math
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn as nn
from torch.utils.data import Sampler
from tqdm import tqdm

from benchmark.config import RuntimeConfig
from benchmark.errors import BenchError
from benchmark.runtime import Dist, atomic_save, atomic_write_text, unwrap


def derive_seed(*parts: int) -> int:
    """A 63-bit seed from integers (numpy's SeedSequence hashing; no collisions between nearby tuples)."""
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0] >> np.uint64(1))


class StepBatches(Sampler):
    """Yields the sample keys of steps start..stop-1 for this rank; `keys_of_step(s)` must be pure."""

    def __init__(self, start: int, stop: int, keys_of_step: Callable[[int], list]):
        self.start, self.stop, self.keys_of_step = start, stop, keys_of_step

    def __iter__(self) -> Iterator[list]:
        for step in range(self.start, self.stop):
            yield self.keys_of_step(step)

    def __len__(self) -> int:
        return self.stop - self.start


def trim_log(path: Path, step: int) -> None:
    """Keep the log lines of steps up to `step` (where a resumed run goes on from), dropping a torn last line."""
    if not path.is_file():
        return
    kept = []
    for line in path.read_text().splitlines():
        try:
            if json.loads(line)["step"] <= step:
                kept.append(line)
        except (ValueError, KeyError, TypeError):
            continue
    atomic_write_text(path, "".join(k + "\n" for k in kept))


@dataclass
class LoopStats:
    steps: int  # steps run by this call (after a resume: only the remaining ones)
    total_steps: int
    resumed_from: int
    seconds: float
    samples: int  # clips seen by this process during this call

    def as_dict(self, world: int) -> dict:
        return {"steps": self.steps, "total_steps": self.total_steps, "resumed_from_step": self.resumed_from,
                "seconds": round(self.seconds, 3),
                "clips_per_s": round(self.samples * world / self.seconds, 2) if self.seconds > 0 else None}


def run_steps(*, desc: str, workdir: Path, model: nn.Module, optimizer: torch.optim.Optimizer, scheduler,
              total_steps: int, make_loader: Callable[[int], Iterable], step_fn: Callable[[Any, int], tuple],
              dist: Dist, runtime: RuntimeConfig, seed: int, clip_grad: float | None) -> LoopStats:
    """Run optimizer steps [resume point, total_steps); `step_fn(batch, step) -> (loss, n_samples)` does the
    forward and backward. Writes workdir/checkpoint.pt every runtime.checkpoint_every steps and log.jsonl."""
    ckpt_path = workdir / "checkpoint.pt"
    start = 0
    if ckpt_path.is_file():
        state = torch.load(ckpt_path, map_location="cpu", weights_only=False)
        unwrap(model).load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start = int(state["step"])
        if dist.is_main:
            print(f"{desc}: resuming from {ckpt_path} at step {start}/{total_steps}", file=sys.stderr, flush=True)
    log = board = None
    if dist.is_main:
        trim_log(workdir / "log.jsonl", start)  # a killed run logged steps past its last checkpoint
        log = (workdir / "log.jsonl").open("a")
        if runtime.tensorboard:
            from torch.utils.tensorboard import SummaryWriter  # events past the checkpoint go, as in log.jsonl
            board = SummaryWriter(str(workdir / "tensorboard"), purge_step=start or None)
    report = dist.is_main and runtime.progress
    terminal = sys.stderr.isatty()
    bar = tqdm(total=total_steps, initial=start, desc=desc, unit="step", dynamic_ncols=True,
               disable=not (report and terminal))
    model.train()
    t0, samples, running, count = time.perf_counter(), 0, 0.0, 0
    done = start
    try:
        for step, batch in zip(range(start, total_steps), make_loader(start), strict=False):
            torch.manual_seed(derive_seed(seed, step, dist.rank))
            scheduler.step_update(num_updates=step)
            loss, n = step_fn(batch, step)
            value = loss.item()
            if not math.isfinite(value):
                raise BenchError(f"{desc}: loss is {value} at step {step}; lower the learning rate or set "
                                 f"runtime.amp=off (the last good checkpoint is {ckpt_path})")
            logged = (step + 1) % runtime.log_every == 0 or step + 1 == total_steps
            grad_norm = None
            if clip_grad:
                grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), clip_grad)
            elif logged:
                grad_norm = torch.nn.utils.get_total_norm([p.grad for p in model.parameters() if p.grad is not None])
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            samples += n
            running, count = running + value, count + 1
            bar.update(1)
            done = step + 1
            lr = max(g["lr"] for g in optimizer.param_groups)
            if done % runtime.log_every == 0 or done == total_steps:
                elapsed = time.perf_counter() - t0
                bar.set_postfix(loss=f"{running / count:.4f}", lr=f"{lr:.2e}")
                rate = samples * dist.world / elapsed if elapsed > 0 else 0.0
                gn = float(grad_norm) if grad_norm is not None else None
                if log is not None:
                    log.write(json.dumps({"step": done, "of": total_steps, "loss": running / count, "lr": lr,
                                          "grad_norm": gn, "clips_per_s": round(rate, 2),
                                          "elapsed_s": round(elapsed, 3)}) + "\n")
                    log.flush()
                if board is not None:
                    for name, value in (("loss", running / count), ("lr", lr), ("grad_norm", gn),
                                        ("clips_per_s", rate)):
                        if value is not None:
                            board.add_scalar(f"{desc.split()[0]}/{name}", value, done)
                    board.flush()
                if report and not terminal:  # CI and Slurm logs: one line per log_every steps
                    eta = elapsed / (done - start) * (total_steps - done)
                    print(f"{desc}: step {done}/{total_steps} loss {running / count:.4f} {rate:.1f} clips/s ETA "
                          f"{eta // 60:.0f}m{eta % 60:02.0f}s", file=sys.stderr, flush=True)
                running, count = 0.0, 0
            if runtime.checkpoint_every and done % runtime.checkpoint_every == 0 and done < total_steps:
                if dist.is_main:
                    atomic_save({"model": unwrap(model).state_dict(), "optimizer": optimizer.state_dict(),
                                 "step": done}, ckpt_path)
                dist.barrier()
    finally:
        bar.close()
        if log is not None:
            log.close()
        if board is not None:
            board.close()
    if done != total_steps:
        raise RuntimeError(f"{desc}: the data loader ended at step {done} of {total_steps}")
    seconds = time.perf_counter() - t0
    return LoopStats(total_steps - start, total_steps, start, seconds, samples)
