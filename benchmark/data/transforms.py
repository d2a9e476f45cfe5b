"""Clip sampling and spatial transforms, as VideoMAE does them, on uint8 (T, H, W, 3) frames.

Every random choice takes a `numpy.random.Generator` seeded by (run seed, sample key), so a sample is the same in
any worker, on any rank and after a resume. Outputs are float tensors (C, T, S, S), normalised with the clip mean
and std. Crops are taken on the uint8 frames first and only the crop is resized (bilinear, antialiased), which
is the cheap order; VideoMAE applies RandAugment before its random-resized crop.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# ---------------------------------------------------------------------------------------------------------------
# pixels


def resize(frames: np.ndarray | torch.Tensor, out_hw: tuple[int, int]) -> torch.Tensor:
    """uint8 (T, H, W, 3) -> float (T, 3, h, w) in [0, 255], bilinear with antialiasing (like PIL)."""
    x = torch.as_tensor(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float()
    if tuple(x.shape[-2:]) == tuple(out_hw):
        return x
    return F.interpolate(x, size=out_hw, mode="bilinear", antialias=True, align_corners=False)


def crop_resize(frames: np.ndarray, box: tuple[int, int, int, int], size: int) -> torch.Tensor:
    y, x, ch, cw = box
    return resize(frames[:, y:y + ch, x:x + cw], (size, size))


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
    """Run library code that draws from Python's and NumPy's global RNGs (timm's RandAugment, RandomErasing,
    Mixup) deterministically, restoring the global state afterwards."""
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
