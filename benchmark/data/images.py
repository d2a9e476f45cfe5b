"""Still images that ship inside installed wheels (scikit-image, scikit-learn): offline natural images.

Only photographs and micrographs are used; drawings and synthetic test patterns (checkerboard, colorwheel, logo,
horse, phantom) are left out. Grayscale images are repeated over three channels.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Protocol

import numpy as np

from benchmark.errors import BenchError
from benchmark.registry import Registry

# name -> loader; every one is inside the scikit-image / scikit-learn wheels (no network; see ENVIRONMENT.md)
_SKIMAGE = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins", "grass", "gravel",
            "hubble_deep_field", "immunohistochemistry", "microaneurysms", "moon", "page", "retina", "rocket",
            "stereo_motorcycle_left", "stereo_motorcycle_right", "text")
_SKLEARN = ("china", "flower")
BUNDLED_IMAGE_NAMES = _SKIMAGE + _SKLEARN


def _to_rgb(img: np.ndarray) -> np.ndarray:
    if img.dtype != np.uint8:
        img = np.clip(np.asarray(img, dtype=np.float64) * (255 if img.max() <= 1 else 1), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    return np.ascontiguousarray(img[:, :, :3])


@cache
def bundled_image(name: str) -> np.ndarray:
    """One bundled image as uint8 (H, W, 3), read-only."""
    if name in _SKLEARN:
        from sklearn.datasets import load_sample_image
        img = load_sample_image(f"{name}.jpg")
    elif name.startswith("stereo_motorcycle_"):
        import skimage.data
        left, right, _ = skimage.data.stereo_motorcycle()
        img = left if name.endswith("left") else right
    elif name in _SKIMAGE:
        import skimage.data
        img = getattr(skimage.data, name)()
    else:
        raise KeyError(name)
    out = _to_rgb(img)
    out.flags.writeable = False
    return out


def bundled_images(names: tuple[str, ...] = BUNDLED_IMAGE_NAMES) -> list[np.ndarray]:
    return [bundled_image(n) for n in names]


# ---------------------------------------------------------------------------------------------------------------
# image pools: where PMG and the crop sources get their stills

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".ppm", ".JPEG")


class ImagePool(Protocol):
    """A finite, indexable set of still images; `image(i)` is uint8 (H, W, 3) and may raise ImageError."""

    def __len__(self) -> int: ...
    def image(self, i: int) -> np.ndarray: ...
    def info(self) -> dict: ...


class ImageError(BenchError):
    """An image file that cannot be read."""


POOLS = Registry("image pool")


@POOLS.register("bundled", "the natural images inside the scikit-image and scikit-learn wheels (offline)")
class BundledPool:
    def __init__(self, seed: int = 0, names: tuple[str, ...] = BUNDLED_IMAGE_NAMES):
        self.names = names

    def __len__(self) -> int:
        return len(self.names)

    def image(self, i: int) -> np.ndarray:
        return bundled_image(self.names[i])

    def info(self) -> dict:
        return {"pool": "bundled", "images": len(self.names)}


class FolderPool:
    """Every image file under a folder, recursively (ImageNet / PASS layouts), in sorted order."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        if not self.root.is_dir():
            raise BenchError(f"image folder {self.root} does not exist")
        self.files = sorted(p for p in self.root.rglob("*") if p.suffix in IMAGE_SUFFIXES
                            or p.suffix.lower() in IMAGE_SUFFIXES)
        if not self.files:
            raise BenchError(f"image folder {self.root} holds no images ({', '.join(IMAGE_SUFFIXES[:7])})")

    def __len__(self) -> int:
        return len(self.files)

    def image(self, i: int) -> np.ndarray:
        from PIL import Image, UnidentifiedImageError
        try:
            with Image.open(self.files[i]) as im:
                return np.asarray(im.convert("RGB"))
        except (OSError, UnidentifiedImageError, ValueError) as e:
            raise ImageError(f"image {self.files[i]} cannot be read ({type(e).__name__})") from None

    def info(self) -> dict:
        return {"pool": str(self.root), "images": len(self.files)}


def make_pool(spec: str, seed: int = 0) -> ImagePool:
    """A pool by registered name (`bundled`, ...) or an image folder path."""
    if spec in POOLS:
        return POOLS.get(spec).factory(seed)
    if Path(spec).is_dir():
        return FolderPool(spec)
    raise BenchError(f"image pool {spec!r} is neither one of {', '.join(POOLS.names())} nor an existing folder")


def draw_image(pool: ImagePool, rng: np.random.Generator, skipped: set[str] | None = None,
               tries: int = 16) -> np.ndarray:
    """A uniformly drawn readable image; unreadable ones are skipped (and added to `skipped`)."""
    for _ in range(tries):
        try:
            return pool.image(int(rng.integers(len(pool))))
        except ImageError as e:
            if skipped is not None:
                skipped.add(str(e))
    raise BenchError(f"{tries} images in a row could not be read from {pool.info()['pool']}; check the folder")
