"""Optimizers and schedules as VideoMAE builds them (optim_factory.py, utils.cosine_scheduler), on torch.optim.

lr = base_lr * total_batch / 256, and the same scaling for min_lr and warmup_lr (run_mae_pretraining.py,
run_class_finetuning.py). The schedule is per step, VideoMAE's `cosine_scheduler`: a linear warmup
np.linspace(start, peak, W) over the first W steps (start = warmup_lr, 0 by default as in the official code, whose
start_warmup_value is never passed; the peak is reached at step W - 1), then final + (peak - final) / 2 x
(1 + cos(pi i / (T - W))) for i = 0 .. T - W - 1. A group's lr is the schedule times its layer-decay `lr_scale`.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn

from benchmark.errors import BenchError


def scaled(value: float, batch: int) -> float:
    return value * batch / 256


def layer_id(name: str, num_layers: int) -> int:
    """optim_factory.py get_num_layer_for_vit: embeddings 0, block i -> i + 1, everything else num_layers + 1."""
    if name in ("cls_token", "mask_token", "pos_embed") or name.startswith("patch_embed"):
        return 0
    if name.startswith("blocks."):
        return int(name.split(".")[1]) + 1
    return num_layers + 1


def parameter_groups(model: nn.Module, weight_decay: float, layer_decay: float | None = None) -> list[dict]:
    """optim_factory.py get_parameter_groups: no weight decay for 1-D parameters, biases and the names in
    model.no_weight_decay(); with layer decay, each group's `lr_scale` is layer_decay^(num_layers + 1 - layer)."""
    skip = model.no_weight_decay() if hasattr(model, "no_weight_decay") else set()
    num_layers = getattr(model, "num_layers", 0)
    groups: dict[tuple[int, bool], dict] = {}
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        decay = not (param.ndim <= 1 or name.endswith(".bias") or name in skip)
        layer = layer_id(name, num_layers) if layer_decay is not None else 0
        group = groups.setdefault((layer, decay), {
            "params": [], "weight_decay": weight_decay if decay else 0.0,
            **({"lr_scale": layer_decay ** (num_layers + 1 - layer)} if layer_decay is not None else {})})
        group["params"].append(param)
    return list(groups.values())


def make_optimizer(model: nn.Module, recipe, batch: int, layer_decay: float | None = None):
    """The recipe's optimizer (`adamw`; `sgd`: optim_factory.py's Nesterov momentum SGD; `momentum`: plain momentum
    SGD) over the parameters that require grad, grouped as the official code groups them. On CUDA AdamW runs
    fused."""
    layer_decay = layer_decay if layer_decay is not None and layer_decay < 1 else None
    groups = parameter_groups(model, recipe.weight_decay, layer_decay)
    lr = scaled(recipe.base_lr, batch)
    name = getattr(recipe, "optimizer", "adamw")
    if name == "adamw":
        cuda = any(p.is_cuda for g in groups for p in g["params"])
        return torch.optim.AdamW(groups, lr=lr, betas=tuple(recipe.betas), fused=cuda or None)
    return torch.optim.SGD(groups, lr=lr, momentum=recipe.momentum, nesterov=name == "sgd")


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
