"""Still images that ship inside installed wheels (scikit-image, scikit-learn): offline natural images.

Only photographs and micrographs are used; drawings and synthetic test patterns (checkerboard, colorwheel, logo,
horse, phantom) are left out. Grayscale images are repeated over three channels.
"""

from __future__ import annotations

from functools import cache

import numpy as np

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
