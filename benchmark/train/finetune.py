"""End-to-end finetuning of a VideoMAE classifier (run_class_finetuning.py + engine_for_finetuning.py).

Layer-wise lr decay (timm), Mixup/CutMix (timm, on the (B, C*T, H, W) view so CutMix boxes cover every frame),
label smoothing, drop path, repeated augmentation, RandAugment and random erasing.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
from timm.data import Mixup
from timm.loss import LabelSmoothingCrossEntropy, SoftTargetCrossEntropy
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from benchmark.config import Protocol
from benchmark.data.datasets import FinetuneClips, collate
from benchmark.data.transforms import seeded_global_rng
from benchmark.errors import BenchError
from benchmark.models.checkpoints import encoder_state, load_strict
from benchmark.models.videomae import VideoMAEClassifier
from benchmark.tasks.base import Task
from benchmark.train.distributed import Dist
from benchmark.train.loop import StepBatches, atomic_save, autocast, derive_seed, run_steps
from benchmark.train.optim import adamw, cosine_schedule, steps_per_epoch
from benchmark.train.pretrain import maybe_compile


def build_classifier(p: Protocol, num_classes: int) -> VideoMAEClassifier:
    m, c, ft = p.model, p.clip, p.finetune
    return VideoMAEClassifier(m.size, num_classes, c.frames, c.size, m.patch_size, m.tubelet_size,
                              drop_path=ft.drop_path, fc_dropout=ft.fc_dropout)


def init_from(model: VideoMAEClassifier, state: dict[str, torch.Tensor], what: str) -> None:
    """Encoder weights from a pretraining (or finetuned) checkpoint; fc_norm/head start fresh if absent."""
    enc = encoder_state(state)
    enc = {k: v for k, v in enc.items() if not k.startswith("head.")}  # another task's classes
    load_strict(model, enc, what, allow_missing=("fc_norm.", "head."))


def finetune(p: Protocol, task: Task, init_state: dict | None, seed: int, dist: Dist, workdir: Path) -> dict:
    """Finetune on task.train; writes workdir/final.pt and returns loop statistics."""
    ft = p.finetune
    torch.manual_seed(derive_seed(seed, 1))
    module = build_classifier(p, task.num_classes)
    if init_state is not None:
        init_from(module, init_state, "pretrained checkpoint")
    module.to(dist.device)
    n = len(task.train)
    spe = steps_per_epoch(n, ft.batch_size, dist.world, "finetune")
    total, warmup = ft.epochs * spe, round(ft.warmup_epochs * spe)
    optimizer = adamw(module, ft, ft.batch_size, layer_decay=ft.layer_decay)
    scheduler = cosine_schedule(optimizer, ft, ft.batch_size, total, warmup)
    model = module if dist.world == 1 else DistributedDataParallel(module)
    model = maybe_compile(model, p, dist.device)

    per_rank = ft.batch_size // dist.world
    use_mixup = (ft.mixup > 0 or ft.cutmix > 0) and ft.mixup_prob > 0
    if use_mixup and (per_rank * ft.repeated_aug) % 2:
        raise BenchError(f"Mixup/CutMix needs an even number of clips per process, got finetune.batch_size / "
                         f"processes x repeated_aug = {per_rank * ft.repeated_aug}")
    mixup = Mixup(mixup_alpha=ft.mixup, cutmix_alpha=ft.cutmix, prob=ft.mixup_prob,
                  switch_prob=ft.mixup_switch_prob, mode="batch", label_smoothing=ft.label_smoothing,
                  num_classes=task.num_classes) if use_mixup else None
    if mixup is not None:
        criterion: nn.Module = SoftTargetCrossEntropy()
    elif ft.label_smoothing > 0:
        criterion = LabelSmoothingCrossEntropy(ft.label_smoothing)
    else:
        criterion = nn.CrossEntropyLoss()

    dataset = FinetuneClips(task.train, p, seed, flip_ok=task.flip_keeps_label)

    def keys_of_step(step: int) -> list[tuple[int, int]]:
        epoch, pos = divmod(step, spe)
        order = np.random.default_rng([seed, epoch, 7]).permutation(n)
        first = pos * ft.batch_size + dist.rank * per_rank
        return [(epoch * n + int(i), int(i)) for i in order[first:first + per_rank]]

    def make_loader(start: int):
        return DataLoader(dataset, batch_sampler=StepBatches(start, total, keys_of_step),
                          num_workers=p.runtime.workers, collate_fn=partial(collate, cat=True),
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
        with autocast(dist.device, p.runtime):
            logits = model(video)
        loss = criterion(logits.float(), target)
        loss.backward()
        return loss.detach(), len(video)

    stats = run_steps(desc=f"finetune {workdir.name[:8]}", workdir=workdir, model=model, optimizer=optimizer,
                      scheduler=scheduler, total_steps=total, make_loader=make_loader, step_fn=step_fn, dist=dist,
                      runtime=p.runtime, seed=seed, clip_grad=ft.clip_grad)
    skipped_all = sorted(set().union(*dist.gather(skipped)))
    if dist.is_main:
        atomic_save({"model": module.state_dict(), "classes": task.classes}, workdir / "final.pt")
    dist.barrier()
    return {**stats.as_dict(dist.world), "skipped_videos": skipped_all}
