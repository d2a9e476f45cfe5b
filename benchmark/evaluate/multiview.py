"""Multi-view evaluation: K clips x crops per test video, softmax averaged per video (VideoMAE's `merge`), on
the clean test set and, when the protocol lists perturbations, on each perturbation x severity (UCF101-P style).

All conditions of a video are evaluated in one pass over the test set, so each video is decoded once.
"""

from __future__ import annotations

from functools import partial

import numpy as np
import torch
from torch.utils.data import DataLoader

from benchmark.config import ClipConfig, EvaluateConfig, RuntimeConfig
from benchmark.data.datasets import collate
from benchmark.data.splits import VideoSplit
from benchmark.evaluate.views import CLEAN, Condition, TestViews
from benchmark.runtime import Dist, autocast

ROBUSTNESS = {
    "relative": "1 - (clean top1 - perturbed top1) / clean top1; higher is more robust, 1 = no drop "
                "(Schiappa et al.'s relative robustness)",
    "absolute": "1 - (clean top1 - perturbed top1) / 100; higher is more robust, 1 = no drop "
                "(Schiappa et al.'s absolute robustness)",
}


def conditions(ev: EvaluateConfig) -> list[Condition]:
    return [CLEAN] + [(name, sev) for name in ev.perturbations for sev in ev.severities]


@torch.inference_mode()
def condition_probabilities(model: torch.nn.Module, split: VideoSplit, clip: ClipConfig, ev: EvaluateConfig,
                            stride: int, runtime: RuntimeConfig, dist: Dist,
                            conds: list[Condition]) -> tuple[list[dict[int, np.ndarray]], list[str]]:
    """Per condition, {video index: mean softmax over its views} for every readable test video (every rank's
    share, on every rank), and the names of unreadable videos."""
    model.eval()
    views = TestViews(split, clip, ev, stride, conds)
    per_forward = max(1, ev.batch_size)  # video-conditions per forward pass
    chunk = min(len(conds), per_forward)
    items = [(i, tuple(range(c, min(c + chunk, len(conds)))))
             for i in range(dist.rank, len(split), dist.world) for c in range(0, len(conds), chunk)]
    step = max(1, per_forward // chunk)
    batches = [items[k:k + step] for k in range(0, len(items), step)]
    loader = DataLoader(views, batch_sampler=batches, num_workers=runtime.workers,
                        collate_fn=partial(collate, cat=True))
    probs: list[dict[int, np.ndarray]] = [{} for _ in conds]
    skipped: set[str] = set()
    for batch in loader:
        skipped.update(batch["skipped"])
        if batch["size"] == 0:
            continue
        video = batch["video"].to(dist.device, non_blocking=True)
        with autocast(dist.device, runtime.amp):
            logits = model(video)
        mean = logits.float().softmax(-1).view(len(batch["meta"]), -1, logits.shape[-1]).mean(1).cpu().numpy()
        for (i, c), pr in zip(batch["meta"], mean, strict=True):
            probs[c][i] = pr
    merged: list[dict[int, np.ndarray]] = [{} for _ in conds]
    for part in dist.gather(probs):
        for c, d in enumerate(part):
            merged[c].update(d)
    return merged, sorted(set().union(*dist.gather(skipped)))


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


def robustness(clean: float | None, perturbed: float | None) -> dict:
    if clean is None or perturbed is None:
        return {"relative_robustness": None, "absolute_robustness": None}
    return {"relative_robustness": round(1 - (clean - perturbed) / clean, 6) if clean else None,
            "absolute_robustness": round(1 - (clean - perturbed) / 100, 6)}


def evaluate(model: torch.nn.Module, split: VideoSplit, clip: ClipConfig, ev: EvaluateConfig, stride: int,
             runtime: RuntimeConfig, dist: Dist) -> dict:
    """Top-1/top-5 on the clean test views and, per listed perturbation x severity, on the perturbed ones."""
    conds = conditions(ev)
    probs, skipped = condition_probabilities(model, split, clip, ev, stride, runtime, dist, conds)
    clean = accuracy(probs[0], split)
    out = {**clean, "views_per_video": ev.test_clips * ev.test_crops, "skipped_test_videos": skipped}
    if len(conds) > 1:
        perturbed: dict[str, dict[str, dict]] = {}
        for c, (name, sev) in enumerate(conds[1:], start=1):
            acc = accuracy(probs[c], split)
            perturbed.setdefault(name, {})[str(sev)] = {"top1": acc["top1"], "top5": acc["top5"],
                                                        **robustness(clean["top1"], acc["top1"])}
        out["perturbed"] = perturbed
        out["robustness"] = ROBUSTNESS
    return out
