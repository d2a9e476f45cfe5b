"""Optimizers and schedules as VideoMAE builds them, through timm.

lr = base_lr * total_batch / 256, and the same scaling for min_lr and warmup_lr (run_mae_pretraining.py,
run_class_finetuning.py). The schedule is per step: linear warmup from warmup_lr, then cosine to min_lr.
"""

from __future__ import annotations

import torch.nn as nn
from timm.optim import create_optimizer_v2
from timm.scheduler import CosineLRScheduler

from benchmark.errors import BenchError


def scaled(value: float, batch: int) -> float:
    return value * batch / 256


def make_optimizer(model: nn.Module, recipe, batch: int, layer_decay: float | None = None):
    """AdamW (or SGD with momentum where the recipe says `optimizer: sgd`) over the parameters that require
    grad; no weight decay on 1-D params and model.no_weight_decay(); layer-wise lr decay when < 1."""
    layer_decay = layer_decay if layer_decay is not None and layer_decay < 1 else None
    common = {"lr": scaled(recipe.base_lr, batch), "weight_decay": recipe.weight_decay, "layer_decay": layer_decay}
    if getattr(recipe, "optimizer", "adamw") == "sgd":
        return create_optimizer_v2(model, "momentum", momentum=recipe.momentum, **common)
    return create_optimizer_v2(model, "adamw", betas=tuple(recipe.betas), **common)


def check_schedule(what: str, total_steps: int, warmup_steps: int) -> None:
    if total_steps <= warmup_steps:
        raise BenchError(f"{what}: the warmup ({warmup_steps} steps) must be shorter than training ({total_steps} "
                         f"steps): lower {what}.warmup_epochs or raise {what}.epochs")


def cosine_schedule(optimizer, recipe, batch: int, total_steps: int, warmup_steps: int,
                    what: str = "training") -> CosineLRScheduler:
    check_schedule(what, total_steps, warmup_steps)
    return CosineLRScheduler(optimizer, t_initial=total_steps - warmup_steps, lr_min=scaled(recipe.min_lr, batch),
                             warmup_t=warmup_steps, warmup_lr_init=scaled(recipe.warmup_lr, batch),
                             warmup_prefix=True, t_in_epochs=False)


def steps_per_epoch(items_per_epoch: int, batch: int, world: int, what: str) -> int:
    """Optimizer steps per epoch (drop_last) and a check that the batch splits evenly over processes."""
    if batch % world:
        raise BenchError(f"{what}.batch_size ({batch}) must be divisible by the number of processes ({world})")
    steps = items_per_epoch // batch
    if steps == 0:
        raise BenchError(f"{what}.batch_size ({batch}) is larger than an epoch ({items_per_epoch} items): "
                         f"lower the batch size")
    return steps
