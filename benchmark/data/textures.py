"""Textures for the textured synthetic levels: two built-in procedural sets, or any image pool.

The released datasets of Yu et al. (Baradad et al.'s 300k statistical textures, 300k StyleGAN-Oriented crops) are
not redistributable offline, so the harness ships deterministic generators in their place (texture k is the same
in every run and process, like a file in a dataset):

- `statistical`: after Baradad et al. 2021's statistical image models (stat-spectrum_color): a random power-law
  spectrum 1/(|fx|^(a+d) + |fy|^(a-d)) with a ~ U(0.5, 3.5) and a small anisotropy d ~ N(0, 0.05), random phases,
  in the decorrelated (PCA) colour space of a random "Mondrian" colour model (3-22 colours with random
  proportions); each channel is mapped onto that model's marginal, rotated back to RGB and stretched to the full
  range. It is one projection of their model instead of ten alternating ones and has no wavelet-marginal (wmm)
  step: a stand-in with the same ingredients, not their files.
- `stylegan-standin`: a stand-in for StyleGAN-Oriented (samples of an untrained StyleGAN with oriented wavelets):
  random mixtures of oriented band-pass noise through random sinusoidal colour maps, which give the saturated,
  wavy, oriented look of those samples. It is NOT StyleGAN; records say so.

Any other spec is an image pool (`benchmark.data.images.make_pool`): `bundled` or a folder, e.g. the texture or
StyleGAN folders of the original releases, or ImageNet.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from benchmark.data.images import make_pool

PROCEDURAL = {"statistical": 1, "stylegan-standin": 2}  # name -> seed tag (the two sets differ)


def _complex_noise(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.standard_normal((*shape, 2), dtype=np.float32).view(np.complex64)[..., 0]


def _to_uint8(img: np.ndarray) -> np.ndarray:
    lo, hi = float(img.min()), float(img.max())
    return ((img - lo) * (255.0 / max(hi - lo, 1e-6)) + 0.5).astype(np.uint8)


def statistical_texture(index: int, size: int = 256) -> np.ndarray:
    """Texture `index` of the built-in statistical set: uint8 (size, size, 3)."""
    import scipy.fft
    from scipy.special import ndtr
    rng = np.random.default_rng([PROCEDURAL["statistical"], index])
    slope, skew = rng.uniform(0.5, 3.5), rng.normal(0, 3 / 15 / 4)
    fy = np.abs(np.fft.fftfreq(size))
    fx = fy[: size // 2 + 1]
    magnitude = (1 / (fy[:, None] ** (slope - skew) + fx[None, :] ** (slope + skew) + 1e-12)).astype(np.float32)
    magnitude[0, 0] = 0  # zero mean
    field = scipy.fft.irfft2(_complex_noise(rng, (3, size, size // 2 + 1)) * magnitude, s=(size, size), workers=1)

    # colour model: a random palette with random proportions, in its principal-component basis
    n = 3 + int(20 * rng.random())
    palette, share = rng.random((n, 3)), 0.001 + rng.random(n)
    share /= share.sum()
    mean = share @ palette
    _, basis = np.linalg.eigh(((palette - mean) * share[:, None]).T @ (palette - mean))
    samples = (palette[rng.choice(n, 2048, p=share)] - mean + rng.normal(0, 0.02, (2048, 3))) @ basis
    quantiles = np.sort(samples, axis=0)

    # each Gaussian channel -> the model's marginal (quantile mapping through a 1024-step table)
    bins = 1024
    z = (np.arange(bins) + 0.5) / bins * 10 - 5
    levels = (np.arange(2048) + 0.5) / 2048
    table = np.stack([np.interp(ndtr(z), levels, quantiles[:, c]) for c in range(3)]).astype(np.float32)
    decor = np.empty((size, size, 3), np.float32)
    for c in range(3):
        k = field[c] * np.float32(bins / 10 / max(float(field[c].std()), 1e-12)) + np.float32(bins / 2)
        decor[..., c] = table[c][np.clip(k.astype(np.int32), 0, bins - 1)]
    return _to_uint8(decor @ basis.T.astype(np.float32) + mean.astype(np.float32))


def oriented_texture(index: int, size: int = 256) -> np.ndarray:
    """Texture `index` of the StyleGAN-Oriented stand-in: uint8 (size, size, 3)."""
    import scipy.fft
    rng = np.random.default_rng([PROCEDURAL["stylegan-standin"], index])
    fy = np.fft.fftfreq(size)[:, None]
    fx = np.fft.rfftfreq(size)[None, :]
    radius, angle = np.hypot(fx, fy) + 1e-9, np.arctan2(fy, fx)
    fields = []
    for _ in range(4):  # oriented band-pass noise: a log-normal ring times an orientation lobe
        centre = np.exp(rng.uniform(np.log(1.5 / size), np.log(0.08)))
        lobe = np.abs(np.cos(angle - rng.uniform(0, np.pi))) ** rng.integers(1, 16)
        band = (np.exp(-np.log(radius / centre) ** 2 / (2 * 0.35 ** 2)) * lobe).astype(np.float32)
        f = scipy.fft.irfft2(_complex_noise(rng, band.shape) * band, s=(size, size), workers=1)
        fields.append(f / max(float(f.std()), 1e-12))
    mix = rng.normal(0, 0.9, (4, 3)).astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, 3).astype(np.float32)
    img = np.sin(np.stack(fields, axis=-1) @ mix + phase)
    return _to_uint8(img)


class _Cache:
    """A small LRU cache of textures by index."""

    def __init__(self, size: int):
        self.size, self.items = size, OrderedDict()

    def get(self, i: int, make) -> np.ndarray:
        if i in self.items:
            self.items.move_to_end(i)
            return self.items[i]
        img = self.items[i] = make(i)
        if len(self.items) > self.size:
            self.items.popitem(last=False)
        return img


class ProceduralTextures:
    """A bank of `count` textures of a built-in generator, texture(i) deterministic for i, kept in memory once
    made (up to `cache` of them): a bank small enough to keep makes textured clips cheap after warm-up."""

    def __init__(self, kind: str, count: int, size: int, cache: int = 1024):
        self.kind, self.count, self.size = kind, count, size
        self._make = statistical_texture if kind == "statistical" else oriented_texture
        self._cache = _Cache(cache)

    def __len__(self) -> int:
        return self.count

    def texture(self, i: int) -> np.ndarray:
        return self._cache.get(i, lambda k: self._make(k, self.size))

    def info(self) -> dict:
        out = {"textures": self.kind, "count": self.count, "size": self.size, "built_in": True}
        if self.kind == "stylegan-standin":
            out["stand_in"] = ("built-in procedural oriented textures stand in for StyleGAN-Oriented; set "
                               "source.textures to a folder of the released StyleGAN textures for the real thing")
        return out


class PoolTextures:
    """An image pool (bundled images or a folder) used as textures; the last `cache` images read are kept."""

    def __init__(self, spec: str, cache: int = 64):
        self.pool = make_pool(spec)
        self._cache = _Cache(cache)

    def __len__(self) -> int:
        return len(self.pool)

    def texture(self, i: int) -> np.ndarray:
        return self._cache.get(i, self.pool.image)

    def info(self) -> dict:
        return {"textures": self.pool.info()["pool"], "count": len(self.pool), "built_in": False}


def make_textures(spec: str, count: int = 1024, size: int = 256) -> ProceduralTextures | PoolTextures:
    """A built-in procedural set by name, else an image pool (`bundled` or a folder path)."""
    if spec in PROCEDURAL:
        return ProceduralTextures(spec, count, size, cache=min(count, 1024))
    return PoolTextures(spec)


__all__ = ["PROCEDURAL", "make_textures", "oriented_texture", "statistical_texture"]
