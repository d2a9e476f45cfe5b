"""End-to-end finetuning of a VideoMAE classifier (run_class_finetuning.py + engine_for_finetuning.py).

Layer-wise lr decay, Mixup/CutMix (timm, on the (B, C*T, H, W) view so CutMix boxes cover every frame), label
smoothing, drop path, repeated augmentation, RandAugment and random erasing. timm is imported only when Mixup or
RandAugment is on.
"""

from __future__ import annotations

from functools import lru_cache, partial
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from benchmark.config import ClipConfig, FinetuneConfig, ModelConfig, RuntimeConfig
from benchmark.data.datasets import FinetuneClips, collate
from benchmark.data.splits import VideoSplit
from benchmark.data.transforms import seeded_global_rng
from benchmark.errors import BenchError
from benchmark.models.build import classifier
from benchmark.models.checkpoints import encoder_state, load_strict
from benchmark.models.videomae import VideoMAEClassifier
from benchmark.runtime import Dist, atomic_save, autocast, maybe_compile
from benchmark.train.loop import StepBatches, derive_seed, run_steps
from benchmark.train.optim import check_schedule, cosine_schedule, make_optimizer


def init_from(model: VideoMAEClassifier, state: dict[str, torch.Tensor], what: str) -> str:
    """Encoder weights from a pretraining (or finetuned) checkpoint, as run_class_finetuning.py loads them: the
    head is kept when the checkpoint has one of the model's shape (a finetuned checkpoint of the same task) and
    starts fresh otherwise; fc_norm starts fresh when absent. Returns "checkpoint" or "new" (the head's origin)."""
    enc = encoder_state(state)
    own = model.state_dict()
    head = [k for k in own if k.startswith("head.")]
    keep = all(k in enc and enc[k].shape == own[k].shape for k in head)
    if not keep:
        enc = {k: v for k, v in enc.items() if not k.startswith("head.")}  # another task's classes, or none
    load_strict(model, enc, what, allow_missing=("fc_norm.", "head."))
    return "checkpoint" if keep else "new"


def schedule(ft: FinetuneConfig, videos: int, world: int, steps: int | None = None,
             what: str = "finetune") -> tuple[int, int]:
    """(optimizer steps, warmup steps) of a finetuning on `videos` training videos, after the checks that can
    fail before any work: the batch splits over the processes, Mixup gets pairs, the warmup is shorter."""
    if ft.batch_size % world:
        raise BenchError(f"{what}.batch_size ({ft.batch_size}) must be divisible by the number of processes "
                         f"({world})")
    per_rank = ft.batch_size // world
    if uses_mixup(ft) and (per_rank * ft.repeated_aug) % 2:
        raise BenchError(f"Mixup/CutMix needs an even number of clips per process, got {what}.batch_size / "
                         f"processes x repeated_aug = {per_rank * ft.repeated_aug}")
    spe = max(1, videos // ft.batch_size)
    total = steps or ft.epochs * spe
    warmup = round(ft.warmup_epochs * spe) if steps is None else round(steps * ft.warmup_epochs / ft.epochs)
    check_schedule(what, total, warmup)
    return total, warmup


def uses_mixup(ft: FinetuneConfig) -> bool:
    return (ft.mixup > 0 or ft.cutmix > 0) and ft.mixup_prob > 0


def finetune(model_cfg: ModelConfig, clip: ClipConfig, ft: FinetuneConfig, runtime: RuntimeConfig, task,
             init_state: dict | None, seed: int, dist: Dist, workdir: Path, train: VideoSplit | None = None,
             steps: int | None = None) -> dict:
    """Finetune on `train` (default task.train) with the recipe `ft` (a full finetuning or, with mode linear, a
    linear probe) for ft.epochs, or for `steps` optimizer steps; writes workdir/final.pt and returns loop
    statistics.

    Videos are drawn as a stream of shuffled passes over the training set: sample g of the run is video
    perm_(g // n)[g % n], so a training set smaller than a batch (low-data points) still fills every batch.
    """
    train = train if train is not None else task.train
    torch.manual_seed(derive_seed(seed, 1))
    module = classifier(model_cfg, clip, task.num_classes, ft)
    head = init_from(module, init_state, "pretrained checkpoint") if init_state is not None else "new"
    if ft.mode == "linear":  # only the head learns; the frozen encoder stays in train mode, as in Yu et al.'s code
        for name, param in module.named_parameters():
            param.requires_grad = name.startswith("head.")
    module.to(dist.device)
    n = len(train)
    total, warmup = schedule(ft, n, dist.world, steps)
    optimizer = make_optimizer(module, ft, ft.batch_size, layer_decay=ft.layer_decay)
    scheduler = cosine_schedule(optimizer, ft, ft.batch_size, total, warmup)
    model = module if dist.world == 1 else DistributedDataParallel(module)
    model = maybe_compile(model, runtime.compile, dist.device)

    per_rank = ft.batch_size // dist.world
    mixup = None
    if uses_mixup(ft):
        from timm.data import Mixup
        from timm.loss import SoftTargetCrossEntropy
        mixup = Mixup(mixup_alpha=ft.mixup, cutmix_alpha=ft.cutmix, prob=ft.mixup_prob,
                      switch_prob=ft.mixup_switch_prob, mode="batch", label_smoothing=ft.label_smoothing,
                      num_classes=task.num_classes)
        criterion: nn.Module = SoftTargetCrossEntropy()
    else:  # torch's label smoothing is timm's LabelSmoothingCrossEntropy: (1 - s) nll + s mean(-log p)
        criterion = nn.CrossEntropyLoss(label_smoothing=ft.label_smoothing)

    dataset = FinetuneClips(train, clip, ft, seed, flip_ok=task.flip_keeps_label)

    @lru_cache(maxsize=4)
    def order(pass_: int) -> np.ndarray:
        return np.random.default_rng([seed, pass_, 7]).permutation(n)

    def keys_of_step(step: int) -> list[tuple[int, int]]:
        first = step * ft.batch_size + dist.rank * per_rank
        return [(g, int(order(g // n)[g % n])) for g in range(first, first + per_rank)]

    def make_loader(start: int):
        return DataLoader(dataset, batch_sampler=StepBatches(start, total, keys_of_step),
                          num_workers=runtime.workers, collate_fn=partial(collate, cat=True),
                          pin_memory=dist.device.type == "cuda")

    skipped: set[str] = set()

    def step_fn(batch, step):
        skipped.update(batch["skipped"])
        if batch["size"] == 0:
            raise BenchError(f"every video of a finetuning batch was unreadable (e.g. {batch['skipped'][0]}): "
                             f"check the data with `bench datasets check`")
        video = batch["video"].to(dist.device, non_blocking=True)
        target = batch["label"].to(dist.device, non_blocking=True)
        if mixup is not None:
            if len(video) % 2:  # a skipped video left an odd batch
                video, target = video[:-1], target[:-1]
            B, C, T, H, W = video.shape
            with seeded_global_rng(derive_seed(seed, step, dist.rank, 3)):
                flat, target = mixup(video.reshape(B, C * T, H, W), target)
            video = flat.reshape(B, C, T, H, W)
        with autocast(dist.device, runtime.amp):
            logits = model(video)
        loss = criterion(logits.float(), target)
        loss.backward()
        return loss.detach(), len(video)

    stats = run_steps(desc=f"finetune {workdir.name[:8]}", workdir=workdir, model=model, optimizer=optimizer,
                      scheduler=scheduler, total_steps=total, make_loader=make_loader, step_fn=step_fn, dist=dist,
                      runtime=runtime, seed=seed, clip_grad=ft.clip_grad)
    skipped_all = sorted(set().union(*dist.gather(skipped)))
    if dist.is_main:
        atomic_save({"model": module.state_dict(), "classes": task.classes}, workdir / "final.pt")
    dist.barrier()
    return {**stats.as_dict(dist.world), "head": head, "skipped_videos": skipped_all}
