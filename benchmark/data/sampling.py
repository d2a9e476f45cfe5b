"""Sampling: which frames of a video a clip takes, which box of its frames, and which of its tokens the
pretraining masks (numpy only)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def train_indices(num_frames: int, frames: int, stride: int, rng: np.random.Generator) -> np.ndarray:
    """`frames` frames at `stride` from a random offset; a video shorter than the window repeats its last frame."""
    window = (frames - 1) * stride + 1
    start = int(rng.integers(0, num_frames - window + 1)) if num_frames >= window else 0
    return np.minimum(start + stride * np.arange(frames), num_frames - 1)


def segment_indices(num_frames: int, frames: int, stride: int, segments: int,
                    rng: np.random.Generator) -> list[np.ndarray]:
    """V-JEPA's multi-clip sampling: the video cut into `segments` equal parts and one window of `frames` frames at
    `stride` at a random offset inside each part (a part shorter than the window lets it run on, repeating the
    video's last frame at the end)."""
    window = (frames - 1) * stride + 1
    part = num_frames / segments
    out = []
    for k in range(segments):
        lo = int(k * part)
        room = max(int((k + 1) * part) - window - lo, 0)
        start = lo + int(rng.integers(0, room + 1))
        out.append(np.minimum(start + stride * np.arange(frames), num_frames - 1))
    return out


def tsn_train_indices(num_frames: int, segments: int, rng: np.random.Generator) -> np.ndarray:
    """VideoMAE's SSv2 training sampling (ssv2.py): the video cut into `segments` equal parts of n // segments
    frames and one random frame from each; a video with fewer frames than segments gets sorted random frames, or
    frame 0 repeated."""
    part = num_frames // segments
    if part > 0:
        return np.arange(segments) * part + rng.integers(0, part, segments)
    if num_frames > segments:
        return np.sort(rng.integers(0, num_frames, segments))
    return np.zeros(segments, dtype=np.int64)


def tsn_test_clips(sequence: np.ndarray, segments: int, clips: int) -> list[np.ndarray]:
    """VideoMAE's SSv2 test sampling: `clips` interleaved sets of `segments` frames, at int(tick * (x + k / clips))
    for tick = len / segments, sorted together and dealt out every `clips`-th frame (ssv2.py with
    test_num_segment = clips; for 2 clips: the part centres and the part starts)."""
    tick = len(sequence) / segments
    picks = np.sort(np.concatenate([[int(tick * x + tick * k / clips) for x in range(segments)]
                                    for k in reversed(range(clips))]))
    return [sequence[np.minimum(picks[k::clips], len(sequence) - 1)] for k in range(clips)]


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
# token masks


def tube_mask(grid: tuple[int, int, int], ratio: float, rng: np.random.Generator) -> np.ndarray:
    """Tube masking: one random spatial mask of int(ratio * H'W') patches, repeated over all T' slots.

    Returns a flat bool array of T'*H'*W' (True = masked), in the (t, h, w) token order.
    """
    t, h, w = grid
    per_frame = h * w
    n_mask = int(ratio * per_frame)
    frame = np.zeros(per_frame, dtype=bool)
    frame[rng.permutation(per_frame)[:n_mask]] = True
    return np.tile(frame, t)
