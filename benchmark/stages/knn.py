"""The knn stage: a k-nearest-neighbour classifier on frozen features, DINO's evaluation (Caron et al. 2021,
facebookresearch/dino eval_knn.py, knn_classifier) on this harness's encoder.

A video's feature is the mean over the tokens of the frozen encoder (blocks and final norm), averaged over its
`clips` x `crops` views at VideoMAE's test offsets and L2-normalised; training and test videos alike. A test video's
k nearest training videos by cosine similarity vote for their labels with weight exp(similarity / temperature);
the class with the largest summed vote is the prediction (top-5: the five largest). DINO's defaults: k = 20,
temperature 0.07; its one centre crop per image becomes one clip x one crop per video here by default.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from benchmark.config import param
from benchmark.errors import BenchError
from benchmark.stages.base import Context, Cost, Metric, Size, Stage, register


@dataclass
class KnnConfig:
    enabled: bool = param(False, doc="run the k-NN evaluation")
    k: int = param(20, gt=0, doc="neighbours that vote")
    temperature: float = param(0.07, gt=0, doc="votes weigh exp(cosine similarity / temperature)")
    clips: int = param(1, gt=0, doc="clips per video at VideoMAE's test offsets; features averaged over views")
    crops: int = param(1, gt=0, doc="spatial crops per clip (1: centre, 3: along the long side)")
    stride: int = param(4, gt=0, doc="frame step within a clip")

    def validate(self, where: str) -> None:
        if self.crops not in (1, 3):
            raise BenchError(f"key {where}.crops must be 1 or 3, got {self.crops}")


def knn_predict(train: Any, train_labels: Any, test: Any, classes: int, k: int, temperature: float) -> Any:
    """Class scores (N_test, classes) of DINO's weighted k-NN vote; features L2-normalised, rows are videos."""
    import torch
    sim = test @ train.T
    k = min(k, len(train))
    top, idx = sim.topk(k, dim=1)
    votes = torch.zeros(len(test), classes, dtype=sim.dtype)
    return votes.scatter_add_(1, train_labels[idx], (top / temperature).exp())


@register
class Knn(Stage):
    """k-NN (DINO) on frozen mean-pooled encoder features."""

    name = "knn"
    Config = KnnConfig
    needs = ("pretrain",)
    example = ("knn.enabled=true",)

    def enabled(self, spec) -> bool:
        return spec.protocol.knn.enabled

    def key(self, spec) -> dict[str, Any]:
        from benchmark.stages.finetune import task_key
        return {**task_key(spec), "knn": spec.protocol.knn}

    def cost(self, spec, size: Size) -> Cost:
        cfg = spec.protocol.knn
        return Cost(0, size.forward_flops((size.train + size.test) * cfg.clips * cfg.crops))

    def run(self, ctx: Context) -> dict[str, Any]:
        import time

        import numpy as np
        import torch

        from benchmark.models.build import frozen_encoder
        from benchmark.stages.pretrain import encoder_weights
        spec, task, dist = ctx.spec, ctx.task, ctx.dist
        p, cfg = spec.protocol, spec.protocol.knn
        t0 = time.perf_counter()
        encoder = frozen_encoder(p.model, p.clip, encoder_weights(ctx.inputs["pretrain"], spec)).to(dist.device)
        train, train_skipped = self.features(encoder, task.train, spec, dist)
        test, test_skipped = self.features(encoder, task.test, spec, dist)
        if not train or not test:
            raise BenchError("k-NN: no readable training or test video: check the data with `bench datasets check`")
        tr = sorted(train)
        bank = torch.from_numpy(np.stack([train[i] for i in tr]))
        labels = torch.tensor([task.train.label(i) for i in tr])
        te = sorted(test)
        scores = knn_predict(bank, labels, torch.from_numpy(np.stack([test[i] for i in te])), task.num_classes,
                             cfg.k, cfg.temperature)
        rank = scores.argsort(dim=1, descending=True).numpy()
        y = np.array([task.test.label(i) for i in te])
        k5 = min(5, task.num_classes)
        return {"top1": round(100.0 * float((rank[:, 0] == y).mean()), 4),
                "top5": round(100.0 * float((rank[:, :k5] == y[:, None]).any(1).mean()), 4),
                "test_videos": len(te), "train_videos": len(tr), "k": min(cfg.k, len(tr)),
                "temperature": cfg.temperature, "views_per_video": cfg.clips * cfg.crops,
                "skipped_train_videos": train_skipped, "skipped_test_videos": test_skipped,
                "seconds": round(time.perf_counter() - t0, 3)}

    @staticmethod
    def features(encoder, split, spec, dist) -> tuple[dict[int, Any], list[str]]:
        """{video: L2-normalised mean feature over its views} (every rank's share, on every rank), skipped names."""
        from dataclasses import replace
        from functools import partial

        import torch
        import torch.nn.functional as F
        from torch.utils.data import DataLoader

        from benchmark.data.datasets import collate
        from benchmark.evaluate.views import CLEAN, TestViews
        from benchmark.runtime import autocast
        p, cfg = spec.protocol, spec.protocol.knn
        ev = replace(p.evaluate, test_clips=cfg.clips, test_crops=cfg.crops, perturbations=[])
        items = [(i, (0,)) for i in range(dist.rank, len(split), dist.world)]
        per = max(1, p.evaluate.batch_size)
        loader = DataLoader(TestViews(split, p.clip, ev, cfg.stride, [CLEAN]), num_workers=p.runtime.workers,
                            batch_sampler=[items[k:k + per] for k in range(0, len(items), per)],
                            collate_fn=partial(collate, cat=True))
        out, skipped = {}, set()
        views = cfg.clips * cfg.crops
        with torch.inference_mode():
            for batch in loader:
                skipped.update(batch["skipped"])
                if batch["size"] == 0:
                    continue
                with autocast(dist.device, p.runtime.amp):
                    tokens = encoder(batch["video"].to(dist.device))
                feats = tokens.float().mean(1).reshape(batch["size"], views, -1).mean(1)
                for (i, _), f in zip(batch["meta"], F.normalize(feats, dim=1).cpu().numpy(), strict=True):
                    out[i] = f
        merged: dict[int, Any] = {}
        for part in dist.gather(out):
            merged.update(part)
        return merged, sorted(set().union(*dist.gather(skipped)))

    def fill(self, record, output, spec) -> None:
        record.metrics["knn"] = {**output.result, "cached": output.cached}

    def metrics(self) -> list[Metric]:
        return [Metric("knn.top1", "k-NN top-1 %", primary=True)]
