"""`static-images`: a still image repeated over all frames.

Yu et al. 2024's static-image videos (Table 2: the whole image repeated over all frames, 5% of them mixed into
the synthetic shapes; Table 10: repeated StyleGAN images) and PMG's identity transform without Mixup. Use it
alone as the static-image baseline, or inside `mixture`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from benchmark.data.images import draw_image, make_pool
from benchmark.errors import BenchError
from benchmark.sources.base import ClipSource, register


@dataclass
class StaticParams:
    images: str = "bundled"  # image pool: bundled | fractal[:N] | visual-atom[:N] | an image folder
    size: int = 224  # short side the whole image is resized to (the training crop follows)

    def validate(self, where: str) -> None:
        if self.size < 8:
            raise BenchError(f"key {where}.size must be >= 8, got {self.size}")


@register("static-images", "Static-image videos: a whole still repeated over all frames (Yu et al. 2024 Table 2's "
          "baseline; PMG's identity transform without Mixup). Pools as for pmg (source.images).",
          params=StaticParams, aliases=("static",))
class StaticImages(ClipSource):
    def __init__(self, params: StaticParams, seed: int, clip_size: int = 0):
        self.p, self.seed = params, seed
        self.pool = make_pool(params.images, 0)  # the image set is fixed across run seeds, like a real dataset
        self.skipped: set[str] = set()

    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        """uint8 (frames, H, W, 3): one whole still, short side `size`, in every frame."""
        import cv2
        img = draw_image(self.pool, np.random.default_rng([self.seed, index]), self.skipped)
        h, w = img.shape[:2]
        scale = self.p.size / min(h, w)
        size = (max(self.p.size, round(w * scale)), max(self.p.size, round(h * scale)))
        img = cv2.resize(img, size, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        return np.repeat(img[None], frames, axis=0)

    def info(self) -> dict:
        return {"pool": self.pool.info(), "short_side": self.p.size}
