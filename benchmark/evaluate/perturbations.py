"""UCF101-P / HMDB51-P perturbations (Schiappa et al., CVPR 2023), as Yu et al. evaluate them (Figure 3).

Parameters per severity 1-5 are those of the reference implementation (Maddy12/ActionRecognitionRobustnessEval,
core/video_perturb.py, vendored by Yu et al. as train_code/video_pertube.py). Two kinds:
- spatial: uint8 frames (T, H, W, 3) -> uint8 frames, applied to each test view after its resize and crop;
- temporal: a map of frame indices over the whole video sampled at the finetuning stride, applied before the
  test clips are cut (so sampling rates and jumbles act on the video, not on one 16-frame clip).

Differences from the reference, on purpose:
- pixel values stay uint8 in [0, 255] end to end (the reference feeds 0-255 floats to ToPILImage, which multiplies
  by 255 again before casting: the values wrap);
- randomness comes from a generator seeded by (run seed, video, view), so a perturbed test set is the same in every
  run, process and worker (the reference draws from the global `random` / `np.random` state);
- zoom blur resizes with OpenCV's bilinear filter (half-pixel centres) where the reference uses
  scipy.ndimage.zoom(order=1) (corner-aligned), ~20x faster: on 224^2 frames of the bundled clips 4-12% of the
  pixels differ, by 1-2 grey levels, interior pixels included (tests/test_perturbations.py bounds it);
- motion blur is ImageMagick's MotionBlurImage (which the reference calls through Wand) written out with OpenCV: a
  one-sided Gaussian of 2 ceil(radius) + 1 taps along the angle, edge pixels replicated, summed at ImageMagick's
  16-bit quantum depth and rounded as its Q16 build then writes 8-bit PNG; bit-exact against ImageMagick 6.9
  through Wand on the tests' clips.

Also registered: `freeze_padded`, the freeze of Yu et al.'s copy, which pads the shortened video back to its full
length with its last frame (Schiappa's `freeze` stays the default).
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from benchmark.registry import Entry, Registry

SEVERITIES = (1, 2, 3, 4, 5)


@dataclass(frozen=True)
class Perturbation(Entry):
    """spatial: apply(uint8 frames (T, H, W, 3), severity, rng) -> uint8 frames of the same shape;
    temporal: apply(n frames, severity, rng) -> indices into the n frames."""

    kind: Literal["spatial", "temporal"] = "spatial"
    label: str = ""  # Yu et al. Figure 3's axis label
    apply: Callable | None = None

    def check(self) -> None:
        super().check()
        if self.kind not in ("spatial", "temporal") or not self.label or not callable(self.apply):
            raise TypeError(f"perturbation {self.name}: needs kind spatial|temporal, a label and apply()")


PERTURBATIONS: Registry[Perturbation] = Registry("perturbation")


def _register(name: str, kind: str, label: str, description: str):
    def decorator(fn):
        PERTURBATIONS.add(Perturbation(name, description, kind=kind, label=label, apply=fn))
        return fn
    return decorator


def _unit(frames: np.ndarray) -> np.ndarray:
    return frames.astype(np.float32) / 255.0


def _uint8(x: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> uint8 by truncation, as np.uint8(np.clip(x, 0, 1) * 255) in the reference."""
    return (np.clip(x, 0, 1) * 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------------------------
# camera


@_register("translate", "spatial", "translate", "shift the view by one random (dy, dx) in [0, 8 sev) px, zero-fill")
def translate(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    dy, dx = (int(v) for v in rng.integers(0, 8 * sev, size=2))
    out = np.zeros_like(frames)
    h, w = frames.shape[1:3]
    if dy < h and dx < w:  # a shift past the whole view leaves it black
        out[:, :h - dy, :w - dx] = frames[:, dy:, dx:]
    return out


def _rotate(frame: np.ndarray, degrees: float) -> np.ndarray:
    from PIL import Image
    return np.asarray(Image.fromarray(frame).rotate(degrees))  # PIL's default: nearest, black corners


@_register("rotate", "spatial", "rotate", "rotate every frame by its own random integer angle in +-(6 sev + 1) deg")
def rotate(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    angles = rng.integers(-6 * sev - 1, 6 * sev + 2, size=len(frames))
    return np.stack([_rotate(f, int(a)) for f, a in zip(frames, angles, strict=True)])


@_register("static_rotate", "spatial", "imgrotate", "rotate all frames by 7.5 / 15 / 30 / 45 / 90 deg")
def static_rotate(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    degrees = (7.5, 15, 30, 45, 90)[sev - 1]
    return np.stack([_rotate(f, degrees) for f in frames])


# ---------------------------------------------------------------------------------------------------------------
# noise


@_register("shot_noise", "spatial", "shot", "Poisson noise, photons per unit 250 / 100 / 50 / 30 / 15")
def shot_noise(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    c = (250, 100, 50, 30, 15)[sev - 1]
    return _uint8(rng.poisson(_unit(frames) * c) / c)


@_register("speckle_noise", "spatial", "speckle", "x + x * N(0, c), c = .15 / .2 / .25 / .3 / .35")
def speckle_noise(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.15, 0.2, 0.25, 0.3, 0.35)[sev - 1]
    x = _unit(frames)
    return _uint8(x + x * rng.normal(scale=c, size=x.shape).astype(np.float32))


@_register("gaussian_noise", "spatial", "gauss", "x + N(0, c), c = .08 / .12 / .18 / .26 / .38")
def gaussian_noise(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    c = (0.08, 0.12, 0.18, 0.26, 0.38)[sev - 1]
    x = _unit(frames)
    return _uint8(x + rng.normal(scale=c, size=x.shape).astype(np.float32))


@_register("impulse_noise", "spatial", "impulse", "salt and pepper on a fraction .03 / .06 / .09 / .17 / .27")
def impulse_noise(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    from skimage.util import random_noise
    c = (0.03, 0.06, 0.09, 0.17, 0.27)[sev - 1]
    return _uint8(random_noise(_unit(frames), mode="s&p", amount=c, rng=rng))


# ---------------------------------------------------------------------------------------------------------------
# blur and digital


def _disk(radius: int, alias_blur: float) -> np.ndarray:
    import cv2
    r = max(8, radius)
    grid = np.arange(-r, r + 1)
    x, y = np.meshgrid(grid, grid)
    disk = (x ** 2 + y ** 2 <= radius ** 2).astype(np.float32)
    disk /= disk.sum()
    return cv2.GaussianBlur(disk, (3, 3) if radius <= 8 else (5, 5), alias_blur)


@_register("defocus_blur", "spatial", "defocus", "disk kernel, (radius, alias sigma) = (3, .1) (4, .5) (6, .5) "
           "(8, .5) (10, .5)")
def defocus_blur(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    import cv2
    radius, alias = ((3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5))[sev - 1]
    kernel = _disk(radius, alias)
    return np.stack([_uint8(cv2.filter2D(f, -1, kernel)) for f in _unit(frames)])


ZOOMS = (np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
         np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03))


def _clipped_zoom(frame: np.ndarray, factor: float) -> np.ndarray:
    """Zoom into the centre by `factor`, keeping the frame size (the reference's clipped_zoom)."""
    import cv2
    h, w = frame.shape[:2]
    ch, cw = int(np.ceil(h / factor)), int(np.ceil(w / factor))
    top, left = (h - ch) // 2, (w - cw) // 2
    zoomed = cv2.resize(frame[top:top + ch, left:left + cw], (round(cw * factor), round(ch * factor)),
                        interpolation=cv2.INTER_LINEAR)
    t, l_ = (zoomed.shape[0] - h) // 2, (zoomed.shape[1] - w) // 2
    return zoomed[t:t + h, l_:l_ + w]


@_register("zoom_blur", "spatial", "zoom", "mean of the frame and its centre zooms up to 1.10 / 1.15 / 1.20 / 1.24 "
           "/ 1.30")
def zoom_blur(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    factors = ZOOMS[sev - 1]
    out = []
    for f in _unit(frames):
        acc = f.copy()
        for z in factors:
            acc += _clipped_zoom(f, float(z))
        out.append(_uint8(acc / (len(factors) + 1)))
    return np.stack(out)


MOTION_BLUR = ((10, 3), (15, 5), (15, 8), (15, 12), (20, 15))  # (radius, sigma) per severity


def motion_kernel(radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion-blur kernel (MagickCore/effect.c MotionBlurImage, gem.c GetOptimalKernelWidth1D) as a
    2-D correlation kernel centred on the output pixel: weights exp(-i^2 / (2 sigma^2)), normalised, at offsets
    (ceil(i cos a - 1/2), ceil(i sin a - 1/2)) for i = 0 .. 2 ceil(radius), computed in ImageMagick's order of
    floating-point operations (so the rounding of the offsets is the same)."""
    width = int(2 * math.ceil(radius) + 1)
    i = np.arange(width, dtype=np.float64)
    weights = np.exp(-(i * i) / (2.0 * sigma * sigma)) / (math.sqrt(2 * math.pi) * sigma)
    weights /= weights.sum()
    a = math.pi * angle / 180.0
    px, py = width * math.sin(a), width * math.cos(a)
    dx = np.ceil(i * py / math.hypot(px, py) - 0.5).astype(np.int64)
    dy = np.ceil(i * px / math.hypot(px, py) - 0.5).astype(np.int64)
    kernel = np.zeros((2 * width + 1, 2 * width + 1))
    np.add.at(kernel, (dy + width, dx + width), weights)
    return kernel


@_register("motion_blur", "spatial", "motion", "ImageMagick's motion blur, (radius, sigma) = (10, 3) (15, 5) "
           "(15, 8) (15, 12) (20, 15), at an angle U(-45, 45) deg drawn per frame")
def motion_blur(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    import cv2
    radius, sigma = MOTION_BLUR[sev - 1]
    out = np.empty_like(frames)
    for t, angle in enumerate(rng.uniform(-45, 45, size=len(frames))):
        acc = cv2.filter2D(frames[t].astype(np.float64) * 257.0, cv2.CV_64F, motion_kernel(radius, sigma, angle),
                           borderType=cv2.BORDER_REPLICATE)
        out[t] = np.floor(acc + 0.5) // 257  # Q16 rounding, then the Q16 -> 8-bit truncation of the PNG writer
    return out


@_register("jpeg", "spatial", "jpeg", "JPEG compression at quality 25 / 18 / 15 / 10 / 7 (the reference's "
           "'compression')")
def jpeg(frames: np.ndarray, sev: int, rng: np.random.Generator) -> np.ndarray:
    from PIL import Image
    quality = (25, 18, 15, 10, 7)[sev - 1]
    out = []
    for f in frames:
        buf = io.BytesIO()
        Image.fromarray(f).save(buf, "JPEG", quality=quality)
        out.append(np.asarray(Image.open(buf).convert("RGB")))
    return np.stack(out)


# ---------------------------------------------------------------------------------------------------------------
# temporal: index maps over the n frames of the video sampled at the finetuning stride


@_register("freeze", "temporal", "freeze", "keep k = 40% / 20% / 10% / max(5%, 2) / 1 random frames, each held until "
           "the next (frames before the first kept one are dropped, as in the reference)")
def freeze(n: int, sev: int, rng: np.random.Generator) -> np.ndarray:
    k = int((0.4 * n, 0.2 * n, 0.1 * n, max(0.05 * n, 2), 1)[sev - 1])
    k = min(max(k, 1), n)
    kept = np.sort(rng.choice(n, size=k, replace=False))
    return np.repeat(kept, np.diff(np.append(kept, n)))


@_register("freeze_padded", "temporal", "freeze", "Yu et al.'s freeze (train_code/video_pertube.py): Schiappa's "
           "freeze, then the video's last frame repeated until it has its full length again")
def freeze_padded(n: int, sev: int, rng: np.random.Generator) -> np.ndarray:
    held = freeze(n, sev, rng)
    return np.concatenate([held, np.full(n - len(held), n - 1)])


@_register("box_jumble", "temporal", "boxjumble", "shuffle the order of consecutive segments of 4 / 9 / 16 / 25 / 36 "
           "frames")
def box_jumble(n: int, sev: int, rng: np.random.Generator) -> np.ndarray:
    seg = (sev + 1) ** 2
    segments = [np.arange(s, min(s + seg, n)) for s in range(0, n, seg)]
    return np.concatenate([segments[i] for i in rng.permutation(len(segments))])


@_register("jumble", "temporal", "jumble", "shuffle frames within consecutive segments of 32 / 16 / 8 / 4 / 2")
def jumble(n: int, sev: int, rng: np.random.Generator) -> np.ndarray:
    seg = 64 // 2 ** sev
    return np.concatenate([rng.permutation(np.arange(s, min(s + seg, n))) for s in range(0, n, seg)])


@_register("reverse_sampling", "temporal", "reverse", "keep every 2nd / 4th / 8th / 16th / 32nd frame, reversed")
def reverse_sampling(n: int, sev: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(0, n, 2 ** sev)[::-1].copy()


@_register("sampling", "temporal", "sampling", "keep every 2nd / 4th / 8th / 16th / 32nd frame (not in Yu et al.'s "
           "Figure 3)")
def sampling(n: int, sev: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(0, n, 2 ** sev)


# Yu et al. Figure 3's 14 perturbations, in its order
FIGURE3 = ("translate", "rotate", "static_rotate", "shot_noise", "speckle_noise", "gaussian_noise", "impulse_noise",
           "defocus_blur", "zoom_blur", "jpeg", "freeze", "box_jumble", "jumble", "reverse_sampling")
