"""VideoMAE pretraining on a source's clips (run_mae_pretraining.py + engine_for_pretraining.py)."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader

from benchmark.config import ClipConfig, ModelConfig, PretrainConfig, RuntimeConfig
from benchmark.data.datasets import PretrainClips, collate
from benchmark.models.build import pretrain_model
from benchmark.models.videomae import pretrain_targets
from benchmark.runtime import Dist, atomic_save, autocast, maybe_compile
from benchmark.train.loop import StepBatches, run_steps
from benchmark.train.optim import cosine_schedule, make_optimizer, steps_per_epoch


def pretrain(model_cfg: ModelConfig, clip: ClipConfig, pt: PretrainConfig, runtime: RuntimeConfig, source,
             seed: int, dist: Dist, workdir: Path) -> dict:
    """Pretrain on `source`; writes workdir/final.pt ({"model": state dict}) and returns loop statistics."""
    torch.manual_seed(seed)
    module = pretrain_model(model_cfg, clip).to(dist.device)
    spe = steps_per_epoch(pt.epoch_size, pt.batch_size, dist.world, "pretrain")
    total, warmup = pt.epochs * spe, round(pt.warmup_epochs * spe)
    optimizer = make_optimizer(module, pt, pt.batch_size)
    scheduler = cosine_schedule(optimizer, pt, pt.batch_size, total, warmup)
    model = module if dist.world == 1 else DistributedDataParallel(module)
    model = maybe_compile(model, runtime.compile, dist.device)

    per_rank = pt.batch_size // dist.world
    dataset = PretrainClips(source, clip, pt, seed, module.grid)

    def keys_of_step(step: int) -> list[int]:
        first = step * pt.batch_size + dist.rank * per_rank
        return list(range(first, first + per_rank))

    def make_loader(start: int):
        return DataLoader(dataset, batch_sampler=StepBatches(start, total, keys_of_step),
                          num_workers=runtime.workers, collate_fn=collate, pin_memory=dist.device.type == "cuda")

    skipped: set[str] = set()

    def step_fn(batch, step):
        video = batch["video"].to(dist.device, non_blocking=True)
        mask = batch["mask"].to(dist.device, non_blocking=True)
        with autocast(dist.device, runtime.amp):
            pred = model(video, mask)
        target = pretrain_targets(video, mask, clip.mean, clip.std, model_cfg.patch_size, model_cfg.tubelet_size)
        loss = F.mse_loss(pred.float(), target)
        loss.backward()
        skipped.update(batch["skipped"])
        return loss.detach(), batch["size"]

    stats = run_steps(desc=f"pretrain {workdir.name[:8]}", workdir=workdir, model=model, optimizer=optimizer,
                      scheduler=scheduler, total_steps=total, make_loader=make_loader, step_fn=step_fn, dist=dist,
                      runtime=runtime, seed=seed, clip_grad=pt.clip_grad)
    skipped_all = sorted(set().union(*dist.gather(skipped)))
    if dist.is_main:
        atomic_save({"model": module.state_dict()}, workdir / "final.pt")
    dist.barrier()
    return {**stats.as_dict(dist.world), "skipped_videos": skipped_all}
