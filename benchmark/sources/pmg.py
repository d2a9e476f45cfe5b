"""`pmg`: the Pseudo Motion Generator of Ishikawa et al. 2024 ("Data Collection-free Masked Video Modeling").

One still image becomes a T-frame clip: one transformation f with one strength theta, both drawn per clip, is
applied recursively, frame t+1 = f_theta(frame t), so a constant zoom factor compounds into an exponential zoom
and a constant shift gives a constant velocity. The paper's final recipe (the default) draws f from {zoom in/out,
affine} and Mixes up two such clips frame by frame; any subset of its eight transformations can be chosen for its
ablations (Table 2: one at a time; Table 4: Mixup / VideoMix / none; Table 5: synthetic image pools).

What the paper states (arXiv 2409.06665, its abstract and Section 3): the recursion, one f and theta per clip, the eight
transformations, the final set, Mixup of two pseudo-motion clips, 16 frames at 224^2, no temporal subsampling.
Everything else is a reconstruction with a named parameter: every range, the first-frame crop of the still, border
filling, interpolation, recursion vs composed warps, one-of vs all-of the transformations, the Mixup lambda.

Geometric transformations are 3x3 matrices about the frame centre, applied with OpenCV's warpAffine /
warpPerspective on uint8 frames, so f(frame t) == frame t+1 holds exactly. `margin` > 0 runs the recursion on a
larger canvas and shows its centre, so pixels moving into view come from the image instead of the border fill.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal, get_args

import numpy as np

from benchmark.data.images import draw_image, make_pool
from benchmark.data.sampling import random_resized_crop_box
from benchmark.errors import BenchError
from benchmark.sources.base import ClipSource, register

Transform = Literal["identity", "sliding-window", "zoom", "fade", "affine", "perspective", "color-jitter", "cutmix"]
TRANSFORMS: tuple[str, ...] = get_args(Transform)

# option -> the OpenCV constant's name (OpenCV is imported where it is used)
BORDERS = {"reflect": "BORDER_REFLECT_101", "replicate": "BORDER_REPLICATE", "constant": "BORDER_CONSTANT",
           "wrap": "BORDER_WRAP"}
INTERPOLATIONS = {"bilinear": "INTER_LINEAR", "bicubic": "INTER_CUBIC", "nearest": "INTER_NEAREST"}


@dataclass
class PMGParams:
    # stated by the paper
    images: str = "bundled"  # image pool: bundled | fractal[:N] | visual-atom[:N] | an image folder
    transforms: list[Transform] = field(default_factory=lambda: ["zoom", "affine"])  # the final recipe
    video_mix: Literal["mixup", "videomix", "none"] = "mixup"  # video-level augmentation of two PMG clips
    size: int = 224  # frame side
    # reconstruction: how transforms combine, how clips mix
    choice: Literal["one", "all"] = "one"  # one transform drawn per clip, or all listed ones composed each step
    mix_prob: float = 1.0  # probability that a clip is mixed with a second one
    mix_alpha: float = 1.0  # lambda ~ Beta(alpha, alpha), one per clip (1: uniform); VideoMix box area 1 - lambda
    # reconstruction: the first frame and the warps
    crop_scale: tuple[float, float] = (0.25, 1.0)  # first frame: random-resized crop of the still (area fraction)
    crop_ratio: tuple[float, float] = (0.75, 1.3333333)  # ... and aspect ratio range, resized to size x size
    margin: float = 0.0  # recurse on a canvas (1 + 2 margin) x size wide and show its centre
    recursive: bool = True  # frame t+1 = f(frame t); False: frame t = f^t(frame 0) (composed; no blur build-up)
    border: Literal["reflect", "replicate", "constant", "wrap"] = "reflect"  # fill for pixels warped in
    interpolation: Literal["bilinear", "bicubic", "nearest"] = "bilinear"
    # reconstruction: per-step strengths, drawn once per clip (fractions are of the frame side)
    zoom: tuple[float, float] = (1.01, 1.04)  # scale factor per step; zoom in or out with equal probability
    zoom_center: float = 0.2  # fixed point of the zoom: frame centre +- this fraction (per axis)
    slide_speed: tuple[float, float] = (0.005, 0.02)  # sliding window / CutMix: shift per step, random direction
    affine_rotation: float = 2.0  # degrees per step, +-
    affine_translation: float = 0.01  # per step and axis, +-
    affine_scale: tuple[float, float] = (0.98, 1.02)  # isotropic scale per step
    affine_shear: float = 1.0  # degrees per step and axis, +-
    perspective: float = 0.01  # corner displacement per step and coordinate, +-
    fade: tuple[float, float] = (0.02, 0.06)  # |log brightness gain| per step; fade in or out equally often
    jitter: float = 0.03  # colour jitter per step: brightness, contrast, saturation factors in 1 +- jitter
    jitter_hue: float = 0.01  # hue shift per step (fraction of the hue circle), +-
    cutmix_area: tuple[float, float] = (0.1, 0.4)  # area of the box of a second still pasted into the first frame

    def validate(self, where: str) -> None:
        def check(ok: bool, key: str, what: str) -> None:
            if not ok:
                raise BenchError(f"key {where}.{key} {what}, got {getattr(self, key)!r}")

        def interval(key: str, lo: float, hi: float | None = None) -> None:
            a, b = getattr(self, key)
            check(lo <= a <= b and (hi is None or b <= hi), key,
                  f"must be [low, high] with {lo} <= low <= high" + (f" <= {hi}" if hi is not None else ""))

        check(len(self.transforms) > 0, "transforms", f"must list at least one of {', '.join(TRANSFORMS)}")
        check(len(set(self.transforms)) == len(self.transforms), "transforms", "must not repeat a transform")
        check(self.size >= 8, "size", "must be >= 8")
        check(0 <= self.mix_prob <= 1, "mix_prob", "must be in [0, 1]")
        check(self.mix_alpha > 0, "mix_alpha", "must be > 0")
        interval("crop_scale", 1e-3, 1.0)
        interval("crop_ratio", 1e-2)
        check(0 <= self.margin <= 1, "margin", "must be in [0, 1]")
        interval("zoom", 1.0)
        check(0 <= self.zoom_center <= 0.5, "zoom_center", "must be in [0, 0.5]")
        interval("slide_speed", 0.0, 0.5)
        check(0 <= self.affine_rotation <= 180, "affine_rotation", "must be in [0, 180] degrees")
        check(0 <= self.affine_translation <= 0.5, "affine_translation", "must be in [0, 0.5]")
        interval("affine_scale", 1e-2)
        check(0 <= self.affine_shear < 45, "affine_shear", "must be in [0, 45) degrees")
        check(0 <= self.perspective <= 0.2, "perspective", "must be in [0, 0.2]")
        interval("fade", 0.0, 1.0)
        check(0 <= self.jitter < 1, "jitter", "must be in [0, 1)")
        check(0 <= self.jitter_hue <= 0.5, "jitter_hue", "must be in [0, 0.5]")
        interval("cutmix_area", 0.0, 1.0)


# ---------------------------------------------------------------------------------------------------------------
# one clip's motion: a per-step warp and a per-step photometric change

Photometric = Callable[[np.ndarray, int], np.ndarray]  # (frame, n) -> the change applied n times


@dataclass
class Motion:
    """What turns frame t into frame t+1: `matrix` (3x3, pixel coordinates, None for no warp) then
    `photometric(frame, 1)`; `photometric(frame, n)` is the change of n steps at once (composed mode)."""

    names: list[str]
    matrix: np.ndarray | None = None
    photometric: Photometric | None = None


def about(point: np.ndarray, linear: np.ndarray) -> np.ndarray:
    """3x3 matrix applying the 2x2 `linear` map with `point` fixed."""
    m = np.eye(3)
    m[:2, :2] = linear
    m[:2, 2] = point - linear @ point
    return m


def shift(d: np.ndarray) -> np.ndarray:
    m = np.eye(3)
    m[:2, 2] = d
    return m


def _direction(rng: np.random.Generator) -> np.ndarray:
    a = rng.uniform(0, 2 * math.pi)
    return np.array([math.cos(a), math.sin(a)])


def fade_change(gain: float) -> Photometric:
    """Brightness times `gain` per step (saturating), on uint8 frames."""
    import cv2
    return lambda frame, n: cv2.convertScaleAbs(frame, alpha=gain ** n)


def jitter_change(brightness: float, contrast: float, saturation: float, hue: float) -> Photometric:
    """torchvision's colour-jitter operations with fixed factors, in a fixed order, per step."""
    import torch
    import torchvision.transforms.v2.functional as TF
    def change(frame: np.ndarray, n: int) -> np.ndarray:
        x = torch.from_numpy(frame).permute(2, 0, 1)
        x = TF.adjust_brightness(x, brightness ** n)
        x = TF.adjust_contrast(x, contrast ** n)
        x = TF.adjust_saturation(x, saturation ** n)
        x = TF.adjust_hue(x, (hue * n + 0.5) % 1 - 0.5)
        return np.ascontiguousarray(x.permute(1, 2, 0).numpy())
    return change


def draw_motion(name: str, p: PMGParams, side: int, rng: np.random.Generator) -> Motion:
    """Draw theta of transformation `name` for a frame (canvas) `side` pixels wide."""
    centre = np.full(2, (side - 1) / 2)
    if name == "identity":
        return Motion([name])
    if name in ("sliding-window", "cutmix"):  # CutMix: a pasted box, then the sliding window moves both
        return Motion([name], shift(rng.uniform(*p.slide_speed) * side * _direction(rng)))
    if name == "zoom":
        s = rng.uniform(*p.zoom)
        s = s if rng.random() < 0.5 else 1 / s
        return Motion([name], about(centre + rng.uniform(-p.zoom_center, p.zoom_center, 2) * side, s * np.eye(2)))
    if name == "affine":
        a = math.radians(rng.uniform(-p.affine_rotation, p.affine_rotation))
        sx, sy = np.tan(np.radians(rng.uniform(-p.affine_shear, p.affine_shear, 2)))
        rotate = np.array([[math.cos(a), -math.sin(a)], [math.sin(a), math.cos(a)]])
        linear = rng.uniform(*p.affine_scale) * rotate @ np.array([[1, sx], [sy, 1]])
        t = rng.uniform(-p.affine_translation, p.affine_translation, 2) * side
        return Motion([name], shift(t) @ about(centre, linear))
    if name == "perspective":
        import cv2
        corners = np.array([[0, 0], [side - 1, 0], [side - 1, side - 1], [0, side - 1]], np.float32)
        moved = corners + rng.uniform(-p.perspective, p.perspective, (4, 2)).astype(np.float32) * side
        return Motion([name], cv2.getPerspectiveTransform(corners, moved))
    if name == "fade":
        g = math.exp(rng.uniform(*p.fade))
        return Motion([name], photometric=fade_change(g if rng.random() < 0.5 else 1 / g))
    if name == "color-jitter":
        b, c, s = rng.uniform(1 - p.jitter, 1 + p.jitter, 3)
        return Motion([name], photometric=jitter_change(b, c, s, rng.uniform(-p.jitter_hue, p.jitter_hue)))
    raise ValueError(name)


def compose(motions: list[Motion]) -> Motion:
    """All motions in one step: warps multiplied in list order, then the photometric changes in list order."""
    if len(motions) == 1:
        return motions[0]
    matrices = [m.matrix for m in motions if m.matrix is not None]
    changes = [m.photometric for m in motions if m.photometric is not None]
    matrix = None
    for m in matrices:
        matrix = m if matrix is None else m @ matrix

    def photometric(frame: np.ndarray, n: int) -> np.ndarray:
        for change in changes:
            frame = change(frame, n)
        return frame
    return Motion([n for m in motions for n in m.names], matrix, photometric if changes else None)


def warp(frame: np.ndarray, matrix: np.ndarray, interpolation: str = "bilinear",
         border: str = "reflect") -> np.ndarray:
    """One warp of a uint8 frame by a 3x3 matrix (affine when its last row is (0, 0, 1))."""
    import cv2
    interpolation, border = getattr(cv2, INTERPOLATIONS[interpolation]), getattr(cv2, BORDERS[border])
    h, w = frame.shape[:2]
    if matrix[2, 0] == 0 and matrix[2, 1] == 0 and matrix[2, 2] == 1:  # what the affine motions build exactly
        return cv2.warpAffine(frame, matrix[:2], (w, h), flags=interpolation, borderMode=border)
    return cv2.warpPerspective(frame, matrix, (w, h), flags=interpolation, borderMode=border)


def render(first: np.ndarray, motion: Motion, frames: int, recursive: bool = True,
           interpolation: str = "bilinear", border: str = "reflect") -> np.ndarray:
    """uint8 (H, W, 3) first frame -> uint8 (frames, H, W, 3): frame t+1 = motion(frame t), or with
    `recursive=False` frame t = motion^t(frame 0) (warp matrices raised to the power t, one warp per frame)."""
    out = np.empty((frames, *first.shape), np.uint8)
    out[0] = first
    for t in range(1, frames):
        x, n = (out[t - 1], 1) if recursive else (first, t)
        if motion.matrix is not None:
            x = warp(x, motion.matrix if recursive else np.linalg.matrix_power(motion.matrix, t), interpolation,
                     border)
        if motion.photometric is not None:
            x = motion.photometric(x, n)
        out[t] = x
    return out


# ---------------------------------------------------------------------------------------------------------------
# video-level mixing of two pseudo-motion clips


def mixup(a: np.ndarray, b: np.ndarray, lam: float) -> np.ndarray:
    """Frame-wise pixel blend round(lam * a + (1 - lam) * b) of two uint8 clips of one shape (OpenCV: 13x faster
    than NumPy in float32)."""
    import cv2
    flat = (-1, a.shape[-2] * a.shape[-1])
    return cv2.addWeighted(a.reshape(flat), lam, b.reshape(flat), 1 - lam, 0).reshape(a.shape)


def videomix_box(h: int, w: int, lam: float, rng: np.random.Generator) -> tuple[int, int, int, int]:
    """CutMix's box (top, left, height, width): area (1 - lam) of the frame, uniform centre, clipped."""
    cut = math.sqrt(1 - lam)
    ch, cw = round(h * cut), round(w * cut)
    cy, cx = int(rng.integers(h)), int(rng.integers(w))
    top, left = max(cy - ch // 2, 0), max(cx - cw // 2, 0)
    return top, left, min(cy + ch - ch // 2, h) - top, min(cx + cw - cw // 2, w) - left


def videomix(a: np.ndarray, b: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    """VideoMix: clip b's box pasted into clip a, the same box in every frame."""
    y, x, h, w = box
    out = a.copy()
    out[:, y:y + h, x:x + w] = b[:, y:y + h, x:x + w]
    return out


# ---------------------------------------------------------------------------------------------------------------
# the source


@register("pmg", "Pseudo Motion Generator (Ishikawa et al. 2024): a still image becomes a clip by one "
          "transformation applied recursively (frame t+1 = f(frame t)); default the paper's final recipe (zoom "
          "in/out or affine, Mixup of two clips, 224^2, bundled natural stills). The 8 transforms, pools (bundled, "
          "folder, fractal, visual-atom) and VideoMix/none are parameters. Parameter ranges, first-frame crop, "
          "borders, interpolation and the Mixup lambda are a reconstruction (not in the paper's retrievable text).",
          params=PMGParams, aliases=("pseudo-motion",))
class PseudoMotion(ClipSource):
    def __init__(self, params: PMGParams, seed: int, clip_size: int = 0):
        self.p, self.seed = params, seed
        self.pool = make_pool(params.images, 0)  # the image set is fixed across run seeds, like a real dataset
        self.canvas = params.size + 2 * round(params.margin * params.size)
        self.skipped: set[str] = set()

    def still(self, rng: np.random.Generator) -> np.ndarray:
        """A random-resized crop of a still from the pool, canvas x canvas (the first frame before cropping)."""
        import cv2
        img = draw_image(self.pool, rng, self.skipped)
        y, x, h, w = random_resized_crop_box(*img.shape[:2], self.p.crop_scale, self.p.crop_ratio, rng)
        shrink = h > self.canvas and w > self.canvas
        return cv2.resize(img[y:y + h, x:x + w], (self.canvas, self.canvas),
                          interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def draw(self, rng: np.random.Generator) -> tuple[np.ndarray, Motion]:
        """(first frame on the canvas, its motion) for one pseudo-motion clip."""
        p = self.p
        first = self.still(rng)
        names = [p.transforms[int(rng.integers(len(p.transforms)))]] if p.choice == "one" else p.transforms
        motion = compose([draw_motion(n, p, self.canvas, rng) for n in names])
        if "cutmix" in names:  # a box of a second still pasted into the first frame (then it slides)
            other = self.still(rng)
            area = rng.uniform(*p.cutmix_area)
            y, x, h, w = videomix_box(self.canvas, self.canvas, 1 - area, rng)
            first = first.copy()
            first[y:y + h, x:x + w] = other[y:y + h, x:x + w]
        return first, motion

    def motion_clip(self, index: int, part: int, frames: int) -> np.ndarray:
        """Pseudo-motion clip `part` (0 or 1) of clip `index`, before mixing: uint8 (frames, size, size, 3)."""
        first, motion = self.draw(np.random.default_rng([self.seed, index, part]))
        clip = render(first, motion, frames, self.p.recursive, self.p.interpolation, self.p.border)
        m = (self.canvas - self.p.size) // 2
        return clip[:, m:m + self.p.size, m:m + self.p.size] if m else clip

    def mix_plan(self, index: int) -> tuple[str, float, tuple[int, int, int, int] | None]:
        """("none" | "mixup" | "videomix", lambda, VideoMix box) of clip `index`."""
        p = self.p
        rng = np.random.default_rng([self.seed, index, 2])
        if p.video_mix == "none" or rng.random() >= p.mix_prob:
            return "none", 1.0, None
        lam = float(rng.beta(p.mix_alpha, p.mix_alpha))
        box = videomix_box(p.size, p.size, lam, rng) if p.video_mix == "videomix" else None
        return p.video_mix, lam, box

    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        """uint8 (frames, size, size, 3); `stride` is ignored: each frame is one recursion step."""
        kind, lam, box = self.mix_plan(index)
        a = self.motion_clip(index, 0, frames)
        if kind == "none":
            return a
        b = self.motion_clip(index, 1, frames)
        return mixup(a, b, lam) if kind == "mixup" else videomix(a, b, box)

    def info(self) -> dict:
        p = self.p
        return {"pool": self.pool.info(), "transforms": list(p.transforms), "choice": p.choice,
                "video_mix": p.video_mix, "frame_size": p.size, "recursive": p.recursive,
                "stride": "ignored: one recursion step per frame"}
