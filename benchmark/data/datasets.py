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

from benchmark.config import ClipConfig, FinetuneConfig, PretrainConfig
from benchmark.data.sampling import (
    multiscale_crop_box,
    random_resized_crop_box,
    train_indices,
    tsn_train_indices,
    tube_mask,
)
from benchmark.data.splits import VideoSplit
from benchmark.data.transforms import crop_resize, erase_cube, normalize, randaugment_clip
from benchmark.data.video import VideoError


class PretrainClips(Dataset):
    """key -> (video (3, T, S, S), tube mask (N,)); `key` is the global clip number of the run."""

    def __init__(self, source, clip: ClipConfig, recipe: PretrainConfig, seed: int, grid: tuple[int, int, int]):
        self.source, self.clip, self.recipe, self.seed, self.grid = source, clip, recipe, seed, grid

    def view(self, key: int) -> torch.Tensor:
        """The clip as the model sees it before normalisation: float (T, 3, S, S) in [0, 255]."""
        c, pt = self.clip, self.recipe
        frames = self.source.clip(key, c.frames, pt.stride)
        if frames.shape[0] != c.frames or frames.ndim != 4 or frames.dtype != np.uint8:
            raise RuntimeError(f"source returned {frames.shape} {frames.dtype}, expected ({c.frames}, H, W, 3) uint8")
        rng = np.random.default_rng([self.seed, key, 1])
        x = crop_resize(frames, multiscale_crop_box(*frames.shape[1:3], c.size, pt.crop_scales, rng), c.size)
        if pt.flip and rng.random() < 0.5:
            x = x.flip(-1)
        return x

    def __getitem__(self, key: int) -> dict[str, Any]:
        c, pt = self.clip, self.recipe
        x = self.view(key)
        mask = tube_mask(self.grid, pt.mask_ratio, np.random.default_rng([self.seed, key, 2]))
        skipped = sorted(self.source.skipped)
        return {"video": normalize(x, c.mean, c.std), "mask": torch.from_numpy(mask), "skipped": skipped}


class FinetuneClips(Dataset):
    """(key, video index) -> `repeated_aug` augmented clips of one training video and its label."""

    def __init__(self, split: VideoSplit, clip: ClipConfig, recipe: FinetuneConfig, seed: int, flip_ok: bool):
        self.split, self.clip, self.recipe, self.seed = split, clip, recipe, seed
        self.flip = recipe.flip and flip_ok
        self.randaug = None
        if recipe.randaug:
            from PIL import Image
            from timm.data.auto_augment import rand_augment_transform
            # VideoMAE's create_random_augment: bicubic resampling and timm's grey fill (128, 128, 128), as no
            # img_mean is passed; translate_const is unused by the relative translations of the `inc1` ops
            hparams = {"translate_const": int(clip.size * 0.45), "interpolation": Image.BICUBIC}
            self.randaug = rand_augment_transform(recipe.randaug, hparams)

    def augment(self, frames: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        """One augmented clip (C, T, S, S) of uint8 frames, in VideoMAE's order (kinetics.py `_aug_frame`):
        RandAugment on the full frames (one draw for the clip), the random-resized crop, flip, normalisation, and
        random erasing of one box through the whole clip."""
        c, ft = self.clip, self.recipe
        if self.randaug is not None:
            frames = randaugment_clip(frames, self.randaug, int(rng.integers(2 ** 31)))
        box = random_resized_crop_box(*frames.shape[1:3], ft.crop_scale, ft.crop_ratio, rng)
        x = crop_resize(frames, box, c.size, antialias=False)  # video_transforms.random_resized_crop: plain bilinear
        if self.flip and rng.random() < 0.5:
            x = x.flip(-1)
        video = normalize(x, c.mean, c.std)
        if ft.reprob > 0:
            video = erase_cube(video, ft.reprob, rng)
        return video

    def __getitem__(self, item: tuple[int, int]) -> dict[str, Any] | None:
        key, i = item
        c, ft = self.clip, self.recipe
        rng = np.random.default_rng([self.seed, key])
        try:
            n = self.split.frame_count(i)
            indices = tsn_train_indices(n, c.frames, rng) if getattr(self.split, "sampling", "window") == "segments" \
                else train_indices(n, c.frames, ft.stride, rng)
            frames = self.split.frames(i, indices)
        except VideoError:
            return {"skipped": [self.split.name(i)]}
        clips = [self.augment(frames, rng) for _ in range(ft.repeated_aug)]
        return {"video": torch.stack(clips), "label": torch.full((len(clips),), self.split.label(i)),
                "skipped": []}


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
