"""Multi-view evaluation: K clips x crops per test video, softmax averaged per video (VideoMAE's `merge`)."""

from __future__ import annotations

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset

from benchmark.config import Protocol
from benchmark.data.datasets import TestViews, collate
from benchmark.tasks.base import VideoSplit
from benchmark.train.distributed import Dist
from benchmark.train.loop import autocast


@torch.inference_mode()
def video_probabilities(model: torch.nn.Module, split: VideoSplit, p: Protocol, stride: int,
                        dist: Dist) -> tuple[dict[int, np.ndarray], list[str]]:
    """{video index: mean softmax over its views} for every readable test video (all ranks' shares, on every
    rank), and the names of unreadable ones."""
    model.eval()
    views = TestViews(split, p, stride)
    mine = Subset(views, range(dist.rank, len(views), dist.world))
    loader = DataLoader(mine, batch_size=p.evaluate.batch_size, num_workers=p.runtime.workers,
                        collate_fn=collate)
    probs: dict[int, np.ndarray] = {}
    skipped: list[str] = []
    for batch in loader:
        skipped += batch["skipped"]
        if batch["size"] == 0:
            continue
        video = batch["video"].to(dist.device, non_blocking=True)
        B, V = video.shape[:2]
        with autocast(dist.device, p.runtime):
            logits = model(video.flatten(0, 1))
        mean = logits.float().softmax(-1).view(B, V, -1).mean(1).cpu().numpy()
        for i, pr in zip(batch["index"].tolist(), mean, strict=True):
            probs[i] = pr
    merged: dict[int, np.ndarray] = {}
    for part in dist.gather(probs):
        merged.update(part)
    return merged, sorted(n for part in dist.gather(skipped) for n in part)


def accuracy(probs: dict[int, np.ndarray], split: VideoSplit) -> dict:
    """Top-1 / top-5 accuracy in percent over the evaluated videos."""
    if not probs:
        return {"top1": None, "top5": None, "test_videos": 0}
    idx = sorted(probs)
    p = np.stack([probs[i] for i in idx])
    y = np.array([split.label(i) for i in idx])
    rank = (-p).argsort(axis=1)
    k5 = min(5, p.shape[1])
    return {"top1": round(100.0 * float((rank[:, 0] == y).mean()), 4),
            "top5": round(100.0 * float((rank[:, :k5] == y[:, None]).any(1).mean()), 4),
            "test_videos": len(idx)}


def evaluate(model: torch.nn.Module, split: VideoSplit, p: Protocol, dist: Dist) -> dict:
    probs, skipped = video_probabilities(model, split, p, p.finetune.stride, dist)
    return {**accuracy(probs, split), "views_per_video": p.evaluate.test_clips * p.evaluate.test_crops,
            "skipped_test_videos": skipped}
