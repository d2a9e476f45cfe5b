"""The attentive_probe stage: V-JEPA's frozen evaluation (Bardes et al. 2024; facebookresearch/jepa,
evals/video_classification_frozen/eval.py and src/models/attentive_pooler.py) on this harness's encoder.

The pretrained encoder is frozen and left in eval mode; every token of every clip goes through its blocks and final
norm. A video gives `clips` clips (one at a random offset in each of `clips` equal parts of the video, V-JEPA's
sampling), whose tokens are concatenated (V-JEPA's attend_across_segments) and pooled by one cross-attention block
with one learnable query (q + attention(q, LN(tokens)), then q + MLP(LN(q))), followed by a linear head. As in the
released code the cross-attention has no output projection (its `proj` is built but never applied), the query and
the pooler's linear layers start at truncated-normal std 0.02 (the MLP's second layer divided by sqrt 2), the head
at PyTorch's default. Training: AdamW on the pooler and head (no weight decay on biases and norms), lr cosine from
`lr` to `final_lr` without warmup and not scaled by the batch, weight decay cosine from `weight_decay` to
`final_weight_decay`, gradients clipped at 1, RandAugment + random-resized crop + random erasing per clip, no
flip, no Mixup. Test: the same clips at the test offsets x 3 spatial crops, softmax averaged over the crops.
Defaults are V-JEPA's K400/SSv2 ViT-L configs except `clips` (2: their SSv2 value; K400 uses 8); V-JEPA runs fp16
autocast where this harness runs bf16 on CUDA.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from benchmark.config import param
from benchmark.errors import BenchError
from benchmark.runtime import world_from_env
from benchmark.stages.base import Context, Cost, Metric, Size, Stage, register


@dataclass
class AttentiveProbeConfig:
    enabled: bool = param(False, doc="run the attentive probe")
    epochs: int = param(20, gt=0)
    batch_size: int = param(256, gt=0, doc="videos per optimizer step, summed over all processes (4 x 64 GPUs)")
    lr: float = param(1e-3, gt=0, doc="peak learning rate (not scaled by the batch, as in V-JEPA)")
    final_lr: float = param(0.0, min=0)
    weight_decay: float = param(0.01, min=0, doc="start of the cosine weight-decay schedule")
    final_weight_decay: float = param(1e-6, min=0, doc="its end (V-JEPA's init_opt default)")
    clip_grad: float | None = param(1.0, gt=0)
    clips: int = param(2, gt=0, doc="clips per video, tokens concatenated (V-JEPA: 8 for K400, 2 for SSv2)")
    stride: int = param(4, gt=0, doc="frame step within a clip")
    depth: int = param(1, gt=0, doc="cross-attention blocks (one, then self-attention on the query past one)")
    mlp_ratio: float = param(4.0, gt=0)
    test_crops: int = param(3, gt=0, doc="spatial crops per test clip; the softmax is averaged over them")
    # the training augmentation (V-JEPA's video transform), per clip
    randaug: str | None = "rand-m7-n4-mstd0.5-inc1"
    reprob: float = param(0.25, min=0, max=1, doc="random erasing probability")
    crop_scale: tuple[float, float] = (0.08, 1.0)
    crop_ratio: tuple[float, float] = (0.75, 1.3333333)
    flip: bool = False
    repeated_aug: int = 1

    def validate(self, where: str) -> None:
        if self.test_crops not in (1, 3):
            raise BenchError(f"key {where}.test_crops must be 1 or 3, got {self.test_crops}")
        if self.repeated_aug != 1:
            raise BenchError(f"key {where}.repeated_aug must be 1 (V-JEPA draws one clip set per video)")


def probe_steps(cfg: AttentiveProbeConfig, videos: int, world: int) -> int:
    if cfg.batch_size % world:
        raise BenchError(f"attentive_probe.batch_size ({cfg.batch_size}) must be divisible by the number of "
                         f"processes ({world})")
    return cfg.epochs * max(1, videos // cfg.batch_size)


def build_probe(dim: int, heads: int, classes: int, cfg: AttentiveProbeConfig):
    """The pooler (a learnable query, cross-attention blocks) and the linear head, initialised as V-JEPA does."""
    import torch
    import torch.nn as nn
    import torch.nn.functional as F
    from timm.layers import Mlp, trunc_normal_
    from timm.models.vision_transformer import Block

    class CrossAttention(nn.Module):
        def __init__(self):
            super().__init__()
            self.heads = heads
            self.q, self.kv = nn.Linear(dim, dim), nn.Linear(dim, 2 * dim)

        def forward(self, q, x):
            B, n, _ = q.shape
            q = self.q(q).reshape(B, n, heads, -1).transpose(1, 2)
            k, v = self.kv(x).reshape(B, x.shape[1], 2, heads, -1).permute(2, 0, 3, 1, 4)
            return F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(B, n, dim)

    class Probe(nn.Module):
        def __init__(self):
            super().__init__()
            self.query = nn.Parameter(torch.zeros(1, 1, dim))
            self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
            self.xattn = CrossAttention()
            self.mlp = Mlp(dim, int(dim * cfg.mlp_ratio), act_layer=nn.GELU)
            self.blocks = nn.ModuleList(Block(dim, heads, cfg.mlp_ratio, qkv_bias=True) for _ in range(cfg.depth - 1))
            trunc_normal_(self.query, std=0.02)
            for m in self.modules():
                if isinstance(m, nn.Linear):
                    trunc_normal_(m.weight, std=0.02)
                    nn.init.zeros_(m.bias)
                elif isinstance(m, nn.LayerNorm):
                    nn.init.ones_(m.weight)
                    nn.init.zeros_(m.bias)
            with torch.no_grad():
                self.mlp.fc2.weight.div_(math.sqrt(2.0))
                for i, blk in enumerate(self.blocks, start=2):
                    blk.attn.proj.weight.div_(math.sqrt(2.0 * i))
                    blk.mlp.fc2.weight.div_(math.sqrt(2.0 * i))
            self.head = nn.Linear(dim, classes)  # PyTorch's default init, as in V-JEPA's AttentiveClassifier

        def forward(self, tokens):
            q = self.query.expand(len(tokens), -1, -1)
            q = q + self.xattn(q, self.norm1(tokens))
            q = q + self.mlp(self.norm2(q))
            for blk in self.blocks:
                q = blk(q)
            return self.head(q[:, 0])

    return Probe()


def _classifier(encoder, probe, clips: int):
    """encoder (frozen) + probe on (B x clips, C, T, H, W) -> logits (B, classes)."""
    import torch
    import torch.nn as nn

    class Classifier(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder, self.probe = encoder, probe

        def train(self, mode: bool = True):
            super().train(mode)
            self.encoder.eval()  # frozen: always in eval mode
            return self

        def forward(self, video):
            with torch.no_grad():
                tokens = self.encoder(video)
            n, d = tokens.shape[1:]
            return self.probe(tokens.reshape(-1, clips * n, d))

    return Classifier()


@register
class AttentiveProbe(Stage):
    """Attentive probe (V-JEPA) on the frozen encoder: a cross-attention pooler and a linear head."""

    name = "attentive_probe"
    Config = AttentiveProbeConfig
    needs = ("pretrain",)
    example = ("attentive_probe.enabled=true", "attentive_probe.epochs=1", "attentive_probe.batch_size=8")

    def enabled(self, spec) -> bool:
        return spec.protocol.attentive_probe.enabled

    def key(self, spec) -> dict[str, Any]:
        from benchmark.stages.finetune import task_key
        return {**task_key(spec), "attentive_probe": spec.protocol.attentive_probe}

    def validate(self, spec) -> None:
        probe_steps(spec.protocol.attentive_probe, len(spec.task_object.train), world_from_env()[1])

    def cost(self, spec, size: Size) -> Cost:
        """The frozen encoder's forward passes (the pooler and head are small beside it)."""
        cfg = spec.protocol.attentive_probe
        steps = probe_steps(cfg, size.train, 1)
        return Cost(steps, size.forward_flops((steps * cfg.batch_size + size.test * cfg.test_crops) * cfg.clips))

    def run(self, ctx: Context) -> dict[str, Any]:
        import time
        from functools import partial

        import numpy as np
        import torch
        from timm.optim import create_optimizer_v2
        from timm.scheduler import CosineLRScheduler
        from torch.nn.parallel import DistributedDataParallel
        from torch.utils.data import DataLoader

        from benchmark.data.datasets import FinetuneClips, collate
        from benchmark.data.sampling import segment_indices
        from benchmark.data.video import VideoError
        from benchmark.models.build import frozen_encoder
        from benchmark.models.videomae import SIZES
        from benchmark.runtime import atomic_save, autocast
        from benchmark.stages.pretrain import encoder_weights
        from benchmark.train.loop import StepBatches, derive_seed, run_steps

        spec, dist, task = ctx.spec, ctx.dist, ctx.task
        p, cfg = spec.protocol, spec.protocol.attentive_probe
        size = SIZES[p.model.size]
        torch.manual_seed(derive_seed(spec.seed, 5))
        encoder = frozen_encoder(p.model, p.clip, encoder_weights(ctx.inputs["pretrain"], spec))
        probe = build_probe(size.embed_dim, size.num_heads, task.num_classes, cfg)
        model = _classifier(encoder, probe, cfg.clips).to(dist.device)
        n, total = len(task.train), probe_steps(cfg, len(task.train), dist.world)
        optimizer = create_optimizer_v2(probe, "adamw", lr=cfg.lr, weight_decay=cfg.weight_decay)
        scheduler = CosineLRScheduler(optimizer, t_initial=total, lr_min=cfg.final_lr, t_in_epochs=False)
        trained = model if dist.world == 1 else DistributedDataParallel(model)
        augment = FinetuneClips(task.train, p.clip, cfg, spec.seed, flip_ok=task.flip_keeps_label)

        class Clips(torch.utils.data.Dataset):  # (key, video) -> `clips` augmented clips of one training video
            def __getitem__(self, item):
                key, i = item
                rng = np.random.default_rng([spec.seed, key, 5])
                try:
                    windows = segment_indices(task.train.frame_count(i), p.clip.frames, cfg.stride, cfg.clips, rng)
                    frames = task.train.frames(i, np.concatenate(windows))
                except VideoError:
                    return {"skipped": [task.train.name(i)]}
                t = p.clip.frames
                video = torch.stack([augment.augment(frames[k * t:(k + 1) * t], rng) for k in range(cfg.clips)])
                return {"video": video, "label": task.train.label(i), "skipped": []}

        per_rank = cfg.batch_size // dist.world
        orders: dict[int, np.ndarray] = {}

        def keys_of_step(step: int) -> list[tuple[int, int]]:
            first = step * cfg.batch_size + dist.rank * per_rank
            out = []
            for g in range(first, first + per_rank):
                if g // n not in orders:
                    orders[g // n] = np.random.default_rng([spec.seed, g // n, 8]).permutation(n)
                out.append((g, int(orders[g // n][g % n])))
            return out

        def make_loader(start: int):
            return DataLoader(Clips(), batch_sampler=StepBatches(start, total, keys_of_step),
                              num_workers=p.runtime.workers, collate_fn=partial(collate, cat=True))

        criterion = torch.nn.CrossEntropyLoss()
        skipped: set[str] = set()
        decayed = [g for g in optimizer.param_groups if g["weight_decay"] > 0]

        def step_fn(batch, step):
            skipped.update(batch["skipped"])
            if batch["size"] == 0:
                raise BenchError(f"every video of an attentive-probe batch was unreadable (e.g. "
                                 f"{batch['skipped'][0]}): check the data with `bench datasets check`")
            wd = cfg.final_weight_decay + 0.5 * (cfg.weight_decay - cfg.final_weight_decay) * (
                1 + math.cos(math.pi * step / total))
            for g in decayed:
                g["weight_decay"] = wd
            video = batch["video"].to(dist.device, non_blocking=True)
            with autocast(dist.device, p.runtime.amp):
                logits = trained(video)
            loss = criterion(logits.float(), batch["label"].to(dist.device))
            loss.backward()
            return loss.detach(), batch["size"]

        stats = run_steps(desc=f"attentive probe {ctx.workdir.name[:8]}", workdir=ctx.workdir, model=trained,
                          optimizer=optimizer, scheduler=scheduler, total_steps=total, make_loader=make_loader,
                          step_fn=step_fn, dist=dist, runtime=p.runtime, seed=spec.seed, clip_grad=cfg.clip_grad)
        if dist.is_main:
            atomic_save({"model": probe.state_dict()}, ctx.workdir / "final.pt")
        t0 = time.perf_counter()
        metrics = self.evaluate(model, spec, task, dist)
        return {**metrics, "seconds": round(time.perf_counter() - t0, 3),
                "train": {**stats.as_dict(dist.world), "skipped_videos": sorted(set().union(*dist.gather(skipped)))}}

    @staticmethod
    def evaluate(model, spec, task, dist) -> dict[str, Any]:
        """The clips at VideoMAE's test offsets x `test_crops` crops; softmax averaged over the crops."""
        from dataclasses import replace
        from functools import partial

        import torch
        from torch.utils.data import DataLoader

        from benchmark.data.datasets import collate
        from benchmark.evaluate.multiview import accuracy
        from benchmark.evaluate.views import CLEAN, TestViews
        from benchmark.runtime import autocast
        p, cfg = spec.protocol, spec.protocol.attentive_probe
        ev = replace(p.evaluate, test_clips=cfg.clips, test_crops=cfg.test_crops, perturbations=[])
        views = TestViews(task.test, p.clip, ev, cfg.stride, [CLEAN])
        items = [(i, (0,)) for i in range(dist.rank, len(task.test), dist.world)]
        per = max(1, p.evaluate.batch_size)
        loader = DataLoader(views, batch_sampler=[items[k:k + per] for k in range(0, len(items), per)],
                            num_workers=p.runtime.workers, collate_fn=partial(collate, cat=True))
        model.eval()
        probs, skipped = {}, set()
        with torch.inference_mode():
            for batch in loader:
                skipped.update(batch["skipped"])
                if batch["size"] == 0:
                    continue
                b, k, c = batch["size"], cfg.clips, cfg.test_crops
                video = batch["video"].to(dist.device)  # (b * k * c, ...), window-major within a video
                video = video.reshape(b, k, c, *video.shape[1:]).transpose(1, 2).reshape(b * c * k, *video.shape[1:])
                with autocast(dist.device, p.runtime.amp):
                    logits = model(video)  # (b * c, classes): one per spatial crop
                mean = logits.float().softmax(-1).reshape(b, c, -1).mean(1).cpu().numpy()
                for (i, _), pr in zip(batch["meta"], mean, strict=True):
                    probs[i] = pr
        merged: dict = {}
        for part in dist.gather(probs):
            merged.update(part)
        return {**accuracy(merged, task.test), "views_per_video": cfg.clips * cfg.test_crops,
                "skipped_test_videos": sorted(set().union(*dist.gather(skipped)))}

    def fill(self, record, output, spec) -> None:
        record.metrics["attentive_probe"] = {**output.result, "cached": output.cached}

    def metrics(self) -> list[Metric]:
        return [Metric("attentive_probe.top1", "attentive probe top-1 %", primary=True)]
