"""torch Datasets from sources and task splits. Items are keyed by integers the training loop computes from the
step, so any worker on any rank produces the same sample for the same key, and a resumed run the same batches.

Unreadable videos never crash a run: the item comes back as None with the video's name, the collate function
drops it and hands the names on, and the run counts them in its record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark.config import Protocol
from benchmark.data.transforms import (
    crop_resize,
    multiscale_crop_box,
    normalize,
    randaugment_clip,
    random_resized_crop_box,
    seeded_global_rng,
    short_side_resize,
    spatial_crops,
    test_windows,
    train_indices,
)
from benchmark.data.video import VideoError
from benchmark.models.videomae import tube_mask
from benchmark.tasks.base import VideoSplit


class PretrainClips(Dataset):
    """key -> (video (3, T, S, S), tube mask (N,)); `key` is the global clip number of the run."""

    def __init__(self, source, protocol: Protocol, seed: int, grid: tuple[int, int, int]):
        self.source, self.p, self.seed, self.grid = source, protocol, seed, grid

    def __getitem__(self, key: int) -> dict[str, Any]:
        c, pt = self.p.clip, self.p.pretrain
        frames = self.source.clip(key, c.frames, pt.stride)
        if frames.shape[0] != c.frames or frames.ndim != 4 or frames.dtype != np.uint8:
            raise RuntimeError(f"source returned {frames.shape} {frames.dtype}, expected ({c.frames}, H, W, 3) uint8")
        rng = np.random.default_rng([self.seed, key, 1])
        x = crop_resize(frames, multiscale_crop_box(*frames.shape[1:3], c.size, pt.crop_scales, rng), c.size)
        if pt.flip and rng.random() < 0.5:
            x = x.flip(-1)
        mask = tube_mask(self.grid, pt.mask_ratio, np.random.default_rng([self.seed, key, 2]))
        skipped = sorted(getattr(self.source, "skipped", ()))
        return {"video": normalize(x, c.mean, c.std), "mask": torch.from_numpy(mask), "skipped": skipped}


class FinetuneClips(Dataset):
    """(key, video index) -> `repeated_aug` augmented clips of one training video and its label."""

    def __init__(self, split: VideoSplit, protocol: Protocol, seed: int, flip_ok: bool):
        self.split, self.p, self.seed = split, protocol, seed
        self.flip = protocol.finetune.flip and flip_ok
        self.randaug = None
        if protocol.finetune.randaug:
            from timm.data.auto_augment import rand_augment_transform
            hparams = {"translate_const": int(protocol.clip.size * 0.45),
                       "img_mean": tuple(round(255 * m) for m in protocol.clip.mean)}
            self.randaug = rand_augment_transform(protocol.finetune.randaug, hparams)
        self.erase = None
        if protocol.finetune.reprob > 0:
            from timm.data.random_erasing import RandomErasing
            self.erase = RandomErasing(protocol.finetune.reprob, mode="pixel", max_count=1, device="cpu")

    def _augment(self, frames: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        c, ft = self.p.clip, self.p.finetune
        box = random_resized_crop_box(*frames.shape[1:3], ft.crop_scale, ft.crop_ratio, rng)
        x = crop_resize(frames, box, c.size)
        if self.flip and rng.random() < 0.5:
            x = x.flip(-1)
        if self.randaug is not None:
            u8 = x.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
            u8 = randaugment_clip(u8, self.randaug, int(rng.integers(2 ** 31)))
            x = torch.from_numpy(u8).permute(0, 3, 1, 2).float()
        video = normalize(x, c.mean, c.std)
        if self.erase is not None:
            # VideoMAE erases on (T, C, H, W): timm treats T as the batch, one box per frame
            with seeded_global_rng(int(rng.integers(2 ** 31))):
                video = self.erase(video.transpose(0, 1)).transpose(0, 1)
        return video

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any] | None:
        key, i = item
        c, ft = self.p.clip, self.p.finetune
        rng = np.random.default_rng([self.seed, key])
        try:
            frames = self.split.frames(i, train_indices(self.split.frame_count(i), c.frames, ft.stride, rng))
        except VideoError:
            return {"skipped": [self.split.name(i)]}
        clips = [self._augment(frames, rng) for _ in range(ft.repeated_aug)]
        return {"video": torch.stack(clips), "label": torch.full((len(clips),), self.split.label(i)),
                "skipped": []}


Condition = tuple[str, int]  # ("clean", 0) or (perturbation name, severity)
CLEAN: Condition = ("clean", 0)


class TestViews(Dataset):
    """(video index, conditions) -> every view (K clips x crops) of one test video under each condition.

    A condition is the clean video or one perturbation at one severity. Temporal perturbations reorder the video
    sampled at the finetuning stride before the clips are cut; spatial ones act on each uint8 view after its
    resize and crop; both draw from a generator seeded by (perturbation seed, video, condition, view). The decoded
    frames of the last video are cached, so the conditions of one video cost one decode.
    """

    def __init__(self, split: VideoSplit, protocol: Protocol, stride: int, conditions: list[Condition]):
        from benchmark.evaluate.perturbations import get
        self.split, self.p, self.stride = split, protocol, stride
        self.conditions = conditions
        self.perturbations = {c: get(c[0]) for c in conditions if c != CLEAN}
        self._cache: tuple[int, np.ndarray, dict[int, int]] | None = None

    def _windows(self, i: int, c: int, n: int) -> list[np.ndarray]:
        cond = self.conditions[c]
        sequence = np.arange(0, n, self.stride)
        pert = self.perturbations.get(cond)
        if pert is not None and pert.kind == "temporal":
            rng = np.random.default_rng([self.p.evaluate.perturbation_seed, i, c])
            sequence = sequence[pert.apply(len(sequence), cond[1], rng)]
        return test_windows(sequence, self.p.clip.frames, self.p.evaluate.test_clips)

    def _decoded(self, i: int) -> tuple[np.ndarray, dict[int, int]]:
        if self._cache is None or self._cache[0] != i:
            n = self.split.frame_count(i)
            wanted = np.unique(np.concatenate([w for c in range(len(self.conditions)) for w in self._windows(i, c, n)]))
            frames = self.split.frames(i, wanted)
            self._cache = (i, frames, {f: k for k, f in enumerate(wanted.tolist())})
        return self._cache[1], self._cache[2]

    def views(self, i: int, c: int) -> torch.Tensor:
        """(K x crops, 3, T, S, S) normalised views of video i under condition c."""
        cfg, ev = self.p.clip, self.p.evaluate
        decoded, position = self._decoded(i)
        cond = self.conditions[c]
        pert = self.perturbations.get(cond)
        out = []
        for window in self._windows(i, c, self.split.frame_count(i)):
            clip = short_side_resize(decoded[[position[f] for f in window.tolist()]], cfg.size)
            for crop in spatial_crops(clip, cfg.size, ev.test_crops):
                view = crop.round().clamp(0, 255).to(torch.uint8)  # frames are uint8 before any perturbation
                if pert is not None and pert.kind == "spatial":
                    rng = np.random.default_rng([ev.perturbation_seed, i, c, len(out)])
                    u8 = pert.apply(view.permute(0, 2, 3, 1).numpy(), cond[1], rng)
                    view = torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2)
                out.append(normalize(view.float(), cfg.mean, cfg.std))
        return torch.stack(out)

    def __getitem__(self, item: tuple[int, tuple[int, ...]]) -> dict[str, Any]:
        i, conds = item
        try:
            video = torch.cat([self.views(i, c) for c in conds])
        except VideoError:
            return {"skipped": [self.split.name(i)]}
        return {"video": video, "meta": [(i, c) for c in conds], "label": self.split.label(i), "skipped": []}


def collate(items: list[dict[str, Any]], cat: bool = False) -> dict[str, Any]:
    """Batch the readable items (torch.cat when each item holds several clips, else torch.stack) and pass the
    names of skipped videos on."""
    good = [it for it in items if "video" in it]
    out: dict[str, Any] = {"skipped": [name for it in items for name in it["skipped"]], "size": len(good)}
    for k in (good[0].keys() - {"skipped"}) if good else ():
        vals = [it[k] for it in good]
        if isinstance(vals[0], list):
            out[k] = [x for v in vals for x in v]
        elif not isinstance(vals[0], torch.Tensor):
            out[k] = torch.as_tensor(vals)
        else:
            out[k] = torch.cat(vals) if cat else torch.stack(vals)
    return out
