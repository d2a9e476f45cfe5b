"""The embedded downstream task: a small motion-defined video classification set, generated on the fly.

Each video shows a square patch cut from one natural image moving in a straight line, at constant speed, over a
background cut from another natural image, blurred and darkened so that the patch reads as the foreground (a
sharp, lit object before a dim, out-of-focus backdrop). Images are the ones bundled in scikit-image and
scikit-learn. The class is the direction of motion, one of 8 compass directions; directions come in reversed
pairs (left/right, up/down, ...) and a video played backwards is a video of the opposite class, so the set of
frames alone cannot tell the class: a model has to see their order. Train and test videos are cut from disjoint
sets of source images.

This is a smoke-scale task: it exists so that every part of the harness runs offline in minutes on a CPU, and so
that a broken pipeline (shuffled frames, a model that ignores time, labels off by one) shows as chance accuracy
(12.5%). It is not a benchmark of video understanding; accuracies on it are not comparable to UCF101 or HMDB51.

How hard it is was tuned on the `smoke` protocol (tiny ViT from scratch, 512 finetuning steps of 16 clips):
a patch over a sharp natural background, and a camera pan over a natural image, both stayed near chance (the
ViT loss plateau outlasts the budget); a white square over black reached 98%. On this design scratch reaches
30.9 / 84.8 / 68.0% (seeds 0-2) and every pretrained source measured 77-95% (README leaderboard): a scratch ViT
leaves its loss plateau at a seed-dependent step (150-320 here), pretrained ones earlier (80-170).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.images import BUNDLED_IMAGE_NAMES, EMBEDDED_TEST_IMAGES, bundled_image
from benchmark.errors import BenchError
from benchmark.tasks.base import Task, register

CLASSES = ["right", "down-right", "down", "down-left", "left", "up-left", "up", "up-right"]
TEST_IMAGES = EMBEDDED_TEST_IMAGES  # the `bundled` image pool leaves these out
TRAIN_IMAGES = tuple(n for n in BUNDLED_IMAGE_NAMES if n not in TEST_IMAGES)


@dataclass
class EmbeddedParams:
    train_videos: int = 1024
    test_videos: int = 256
    frames: int = 16
    size: int = 72  # frame side in pixels
    patch: tuple[int, int] = (24, 32)  # side of the moving patch in pixels, uniform
    speed: tuple[float, float] = (2.0, 2.6)  # px/frame along the direction, uniform
    patch_blur: float = 2.0  # Gaussian sigma in pixels (a smoother object is easier to follow)
    background_blur: float = 4.0  # Gaussian sigma in pixels
    background_brightness: float = 0.35  # the background's pixel values are scaled by this
    seed: int = 0  # the task's own data seed: the same videos for every run seed

    def validate(self, where: str) -> None:
        if min(self.train_videos, self.test_videos) < len(CLASSES):
            raise BenchError(f"{where}.train_videos and {where}.test_videos must be >= {len(CLASSES)}")
        if self.frames < 2:
            raise BenchError(f"{where}.frames must be >= 2 (motion needs two frames), got {self.frames}")
        if not 1 <= self.patch[0] <= self.patch[1] < self.size:
            raise BenchError(f"{where}.patch must be [min, max] px with 1 <= min <= max < size ({self.size})")
        if not 0 <= self.speed[0] <= self.speed[1]:
            raise BenchError(f"{where}.speed must be [min, max] px/frame with 0 <= min <= max, got {self.speed}")
        if self.speed[1] * (self.frames - 1) > self.size - self.patch[1]:
            raise BenchError(f"{where}: a {self.patch[1]} px patch moving {self.speed[1]} px/frame for "
                             f"{self.frames} frames leaves the {self.size} px frame; lower speed or frames")
        if min(self.patch_blur, self.background_blur) < 0 or not 0 <= self.background_brightness <= 1:
            raise BenchError(f"{where}: patch_blur and background_blur must be >= 0, background_brightness in "
                             f"[0, 1]")


def _crop(image: np.ndarray, fraction: tuple[float, float], out: int, rng: np.random.Generator) -> np.ndarray:
    """A random square covering `fraction` of the image's short side, resized to out x out."""
    import cv2
    h, w = image.shape[:2]
    side = min(h, w, max(out, int(min(h, w) * rng.uniform(*fraction))))
    y, x = int(rng.integers(0, h - side + 1)), int(rng.integers(0, w - side + 1))
    return cv2.resize(image[y:y + side, x:x + side], (out, out), interpolation=cv2.INTER_AREA)


class EmbeddedSplit:
    def __init__(self, params: EmbeddedParams, split: str):
        self.p = params
        self.split = split
        self.images = TRAIN_IMAGES if split == "train" else TEST_IMAGES
        self.n = params.train_videos if split == "train" else params.test_videos
        self._scenes: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return self.n

    def label(self, i: int) -> int:
        return i % len(CLASSES)

    def name(self, i: int) -> str:
        return f"embedded/{self.split}/{i:05d}"

    def frame_count(self, i: int) -> int:
        return self.p.frames

    def scene(self, i: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(background, patch, the patch's top-left corner per frame) of video i, deterministic for (task seed,
        split, i); kept once made (about 20 KB a video), since finetuning reads every video once per epoch."""
        if i in self._scenes:
            return self._scenes[i]
        import cv2
        p = self.p
        rng = np.random.default_rng([p.seed, 0 if self.split == "train" else 1, i])
        bg_name, fg_name = (self.images[k] for k in rng.choice(len(self.images), size=2, replace=False))
        background = _crop(bundled_image(bg_name), (0.3, 1.0), p.size, rng).astype(np.float32)
        if p.background_blur > 0:
            background = cv2.GaussianBlur(background, (0, 0), p.background_blur)
        background = (background * p.background_brightness).round().astype(np.uint8)
        side = int(rng.integers(p.patch[0], p.patch[1] + 1))
        patch = _crop(bundled_image(fg_name), (0.15, 0.5), side, rng)
        if p.patch_blur > 0:
            patch = cv2.GaussianBlur(patch, (0, 0), p.patch_blur)
        angle = self.label(i) * np.pi / 4  # 0 = right, then clockwise in image coordinates (y down)
        travel = rng.uniform(*p.speed) * (p.frames - 1) * np.array([np.sin(angle), np.cos(angle)])  # (dy, dx)
        room = p.size - side
        start = np.where(travel < 0, -travel, 0.0) + rng.random(2) * (room - np.abs(travel))
        corners = np.rint(start + travel * np.arange(p.frames)[:, None] / (p.frames - 1)).astype(int)
        self._scenes[i] = background, patch, corners
        return self._scenes[i]

    def render(self, i: int) -> np.ndarray:
        """The whole video, uint8 (frames, size, size, 3)."""
        background, patch, corners = self.scene(i)
        side = len(patch)
        video = np.repeat(background[None], self.p.frames, axis=0)
        for t, (y, x) in enumerate(corners.tolist()):
            video[t, y:y + side, x:x + side] = patch
        return video

    def frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        return self.render(i)[np.asarray(indices)]


@register("embedded", "Embedded smoke-scale motion task: a natural-image patch moves over a dim, blurred "
                "natural-image background in one of 8 directions (4 reversed pairs, so frame order matters); "
                "generated on the fly from images bundled in scikit-image/scikit-learn, disjoint train/test "
                "images. Offline, minutes on a CPU; not comparable to UCF101/HMDB51.", params=EmbeddedParams,
                needs="nothing (generated on the fly)")
def make_embedded(params: EmbeddedParams) -> Task:
    return Task("embedded", list(CLASSES), EmbeddedSplit(params, "train"), EmbeddedSplit(params, "test"),
                flip_keeps_label=False,
                info={"train_images": list(TRAIN_IMAGES), "test_images": list(TEST_IMAGES)})
