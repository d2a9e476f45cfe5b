"""Spatial transforms, as VideoMAE does them, on uint8 (T, H, W, 3) frames.

Every random choice takes a `numpy.random.Generator` seeded by (run seed, sample key), so a sample is the same in
any worker, on any rank and after a resume. Outputs are float tensors (C, T, S, S), normalised with the clip mean
and std. Crops are taken on the uint8 frames first and only the crop is resized (bilinear, antialiased), which
is the cheap order.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# ---------------------------------------------------------------------------------------------------------------
# pixels


def resize(frames: np.ndarray | torch.Tensor, out_hw: tuple[int, int], antialias: bool = True) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, h, w) in [0, 255], bilinear; with antialiasing as PIL's BILINEAR
    (VideoMAE's GroupMultiScaleCrop and test resize), without as F.interpolate (its random_resized_crop)."""
    x = torch.as_tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    if tuple(x.shape[-2:]) == tuple(out_hw):
        return x
    return F.interpolate(x, size=out_hw, mode="bilinear", antialias=antialias, align_corners=False)


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int, antialias: bool = True) -> torch.Tensor:
    y, x, ch, cw = box
    return resize(frames[:, y:y + ch, x:x + cw], (size, size), antialias)


def normalize(x: torch.Tensor, mean: Sequence[float], std: Sequence[float]) -> torch.Tensor:
    """float (T, 3, H, W) in [0, 255] -> normalised (3, T, H, W)."""
    m = torch.tensor(mean).view(1, 3, 1, 1) * 255
    s = torch.tensor(std).view(1, 3, 1, 1) * 255
    return ((x - m) / s).permute(1, 0, 2, 3).contiguous()


def short_side_resize(frames: np.ndarray, size: int) -> torch.Tensor:
    h, w = frames.shape[1:3]
    scale = size / min(h, w)
    return resize(frames, (max(size, round(h * scale)), max(size, round(w * scale))))


def spatial_crops(x: torch.Tensor, size: int, crops: int) -> list[torch.Tensor]:
    """`crops` square crops (1: centre; 3: start/centre/end of the long side) of a short-side-resized clip."""
    h, w = x.shape[-2:]
    long_room, along_w = (w - size, True) if w >= h else (h - size, False)
    starts = [long_room // 2] if crops == 1 else [round(i * long_room / (crops - 1)) for i in range(crops)]
    short_off = ((h if along_w else w) - size) // 2
    out = []
    for s in starts:
        y, x0 = (short_off, s) if along_w else (s, short_off)
        out.append(x[..., y:y + size, x0:x0 + size])
    return out


@contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Run library code that draws from Python's and NumPy's global RNGs (timm's RandAugment, Mixup)
    deterministically, restoring the global state afterwards."""
    py_state, np_state = random.getstate(), np.random.get_state()
    random.seed(seed)
    np.random.seed(seed % 2 ** 32)
    try:
        yield
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)


def randaugment_clip(frames: np.ndarray, augment, seed: int) -> np.ndarray:
    """Apply one timm RandAugment draw (same ops, same magnitudes) to every frame of a uint8 clip."""
    with seeded_global_rng(seed):
        py_state, np_state = random.getstate(), np.random.get_state()
        out = []
        for frame in frames:
            random.setstate(py_state)
            np.random.set_state(np_state)
            out.append(np.asarray(augment(Image.fromarray(frame))))
    return np.stack(out)


def erase_cube(video: torch.Tensor, probability: float, rng: np.random.Generator, min_area: float = 0.02,
               max_area: float = 1 / 3, min_aspect: float = 0.3) -> torch.Tensor:
    """VideoMAE's random erasing (random_erasing.py with cube=True, mode 'pixel', one box), on a normalised clip
    (C, T, H, W): with `probability` per clip, one box of area U(min_area, max_area) x H W and aspect ratio
    log-uniform in [min_aspect, 1 / min_aspect] (up to 100 tries for one inside the frame), the same box in every
    frame, filled with N(0, 1) noise drawn anew per pixel, channel and frame."""
    if rng.random() > probability:
        return video
    c, t, h, w = video.shape
    for _ in range(100):
        area = rng.uniform(min_area, max_area) * h * w
        aspect = math.exp(rng.uniform(math.log(min_aspect), math.log(1 / min_aspect)))
        bh, bw = round(math.sqrt(area * aspect)), round(math.sqrt(area / aspect))
        if bw < w and bh < h:
            top, left = int(rng.integers(0, h - bh + 1)), int(rng.integers(0, w - bw + 1))
            noise = torch.Generator().manual_seed(int(rng.integers(2 ** 62)))
            video = video.clone()
            video[:, :, top:top + bh, left:left + bw] = torch.randn((c, t, bh, bw), generator=noise,
                                                                    dtype=video.dtype)
            break
    return video
