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
# temporal sampling


def train_indices(num_frames: int, frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """`frames` frames at `stride` from a random offset; a video shorter than the window repeats its last frame."""
    window = (frames - 1) * stride + 1
    start = int(rng.integers(0, num_frames - window + 1)) if num_frames >= window else 0
    return np.minimum(start + stride * np.arange(frames), num_frames - 1)


def test_windows(sequence: np.ndarray, frames: int, clips: int) -> list[np.ndarray]:
    """VideoMAE's test sampling: the video is read at the finetuning stride (`sequence` holds those frame
    indices, possibly reordered by a temporal perturbation) and `clips` windows of `frames` consecutive entries
    start at int(k * (len - frames) / (clips - 1)); a short sequence repeats its last entry."""
    room = max(len(sequence) - frames, 0)
    starts = [room // 2] if clips == 1 else [int(k * room / (clips - 1)) for k in range(clips)]
    return [sequence[np.minimum(s + np.arange(frames), len(sequence) - 1)] for s in starts]


# ---------------------------------------------------------------------------------------------------------------
# crop boxes: (top, left, height, width)


def multiscale_crop_box(h: int, w: int, size: int, scales: Sequence[float], rng: np.random.Generator,
                        max_distort: int = 1) -> tuple[int, int, int, int]:
    """GroupMultiScaleCrop of TSN/VideoMAE pretraining: crop sides from base*scales (aspect distortion at most
    `max_distort` scale steps), placed at one of 13 fixed offsets (corners, centre, edge midpoints, quarters)."""
    base = min(h, w)
    sides = [int(base * s) for s in scales]
    sides = [size if abs(s - size) < 3 else s for s in sides]
    pairs = [(ch, cw) for i, ch in enumerate(sides) for j, cw in enumerate(sides) if abs(i - j) <= max_distort]
    ch, cw = pairs[int(rng.integers(len(pairs)))]
    ch, cw = min(ch, h), min(cw, w)
    hs, ws = (h - ch) // 4, (w - cw) // 4
    offsets = [(0, 0), (0, 4), (4, 0), (4, 4), (2, 2), (2, 0), (2, 4), (4, 2), (0, 2), (1, 1), (1, 3), (3, 1), (3, 3)]
    oy, ox = offsets[int(rng.integers(len(offsets)))]
    return oy * hs, ox * ws, ch, cw


def random_resized_crop_box(h: int, w: int, scale: Sequence[float], ratio: Sequence[float],
                            rng: np.random.Generator) -> tuple[int, int, int, int]:
    """torchvision's RandomResizedCrop box (area fraction in `scale`, log-uniform aspect in `ratio`)."""
    area = h * w
    log_ratio = np.log(ratio)
    for _ in range(10):
        target = area * rng.uniform(scale[0], scale[1])
        aspect = np.exp(rng.uniform(log_ratio[0], log_ratio[1]))
        cw, ch = int(round(np.sqrt(target * aspect))), int(round(np.sqrt(target / aspect)))
        if 0 < cw <= w and 0 < ch <= h:
            return int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1)), ch, cw
    in_ratio = w / h
    if in_ratio < min(ratio):
        cw, ch = w, int(round(w / min(ratio)))
    elif in_ratio > max(ratio):
        ch, cw = h, int(round(h * max(ratio)))
    else:
        cw, ch = w, h
    return (h - ch) // 2, (w - cw) // 2, ch, cw


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
