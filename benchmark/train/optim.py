"""Optimizers and schedules as VideoMAE builds them (optim_factory.py, utils.cosine_scheduler), through timm.

lr = base_lr * total_batch / 256, and the same scaling for min_lr and warmup_lr (run_mae_pretraining.py,
run_class_finetuning.py). The schedule is per step, VideoMAE's `cosine_scheduler`: a linear warmup
np.linspace(start, peak, W) over the first W steps (start = warmup_lr, 0 by default as in the official code, whose
start_warmup_value is never passed; the peak is reached at step W - 1), then final + (peak - final) / 2 x
(1 + cos(pi i / (T - W))) for i = 0 .. T - W - 1. A group's lr is the schedule times its layer-decay `lr_scale`.
"""

from __future__ import annotations

import math

import torch.nn as nn
from timm.optim import create_optimizer_v2

from benchmark.errors import BenchError

# recipe.optimizer -> timm's name: sgd is optim_factory.py's 'sgd' (Nesterov momentum), momentum its plain
# momentum SGD, adamw AdamW (also what DeepSpeed's "Adam" with adam_w_mode runs)
OPTIMIZERS = {"adamw": "adamw", "sgd": "sgd", "momentum": "momentum"}


def scaled(value: float, batch: int) -> float:
    return value * batch / 256


def make_optimizer(model: nn.Module, recipe, batch: int, layer_decay: float | None = None):
    """The recipe's optimizer over the parameters that require grad; no weight decay on 1-D params and
    model.no_weight_decay(); layer-wise lr decay when < 1."""
    layer_decay = layer_decay if layer_decay is not None and layer_decay < 1 else None
    common = {"lr": scaled(recipe.base_lr, batch), "weight_decay": recipe.weight_decay, "layer_decay": layer_decay}
    name = getattr(recipe, "optimizer", "adamw")
    if name == "adamw":
        return create_optimizer_v2(model, "adamw", betas=tuple(recipe.betas), **common)
    return create_optimizer_v2(model, OPTIMIZERS[name], momentum=recipe.momentum, **common)


def check_schedule(what: str, total_steps: int, warmup_steps: int) -> None:
    if total_steps <= warmup_steps:
        raise BenchError(f"{what}: the warmup ({warmup_steps} steps) must be shorter than training ({total_steps} "
                         f"steps): lower {what}.warmup_epochs or raise {what}.epochs")


class CosineSchedule:
    """VideoMAE's utils.cosine_scheduler, one value per optimizer step (module docstring)."""

    def __init__(self, optimizer, peak: float, final: float, total_steps: int, warmup_steps: int,
                 start: float = 0.0):
        self.optimizer, self.peak, self.final, self.start = optimizer, peak, final, start
        self.total, self.warmup = total_steps, warmup_steps

    def value(self, step: int) -> float:
        if step < self.warmup:
            return self.peak if self.warmup == 1 else self.start + (self.peak - self.start) * step / (self.warmup - 1)
        i, n = step - self.warmup, self.total - self.warmup
        return self.final + 0.5 * (self.peak - self.final) * (1 + math.cos(math.pi * i / n))

    def step_update(self, num_updates: int) -> None:
        lr = self.value(num_updates)
        for group in self.optimizer.param_groups:
            group["lr"] = lr * group.get("lr_scale", 1.0)


def cosine_schedule(optimizer, recipe, batch: int, total_steps: int, warmup_steps: int,
                    what: str = "training") -> CosineSchedule:
    check_schedule(what, total_steps, warmup_steps)
    return CosineSchedule(optimizer, scaled(recipe.base_lr, batch), scaled(recipe.min_lr, batch), total_steps,
                          warmup_steps, scaled(recipe.warmup_lr, batch))


def steps_per_epoch(items_per_epoch: int, batch: int, world: int, what: str) -> int:
    """Optimizer steps per epoch (drop_last) and a check that the batch splits evenly over processes."""
    if batch % world:
        raise BenchError(f"{what}.batch_size ({batch}) must be divisible by the number of processes ({world})")
    steps = items_per_epoch // batch
    if steps == 0:
        raise BenchError(f"{what}.batch_size ({batch}) is larger than an epoch ({items_per_epoch} items): "
                         f"lower the batch size")
    return steps
