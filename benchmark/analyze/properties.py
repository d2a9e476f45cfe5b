"""Dataset properties of Yu et al. 2024 Section 5 (and motion, which the paper does not report), as plain functions
on uint8 clips (T, H, W, 3) and feature matrices. No torch here: numpy, scipy and OpenCV.

- Frechet distance between Gaussians fitted to two feature sets (FID on Inception-v3 pool features, FVD on I3D
  features, or an offline network's, named for it): pytorch-fid's implementation (scipy's matrix square root);
- diversity: Yu et al.'s "feature volume", the determinant of the covariance of the features of 16 frames from
  random videos. For 16 vectors in d >> 16 dimensions that covariance is singular (its determinant is 0), so this
  reports what it measures, the log of the volume the 16 feature vectors span about the set's mean feature (as a
  covariance centres them), each L2-normalised: 1/2 log det of their 16 x 16 Gram matrix (0 for orthonormal
  vectors, -inf for dependent ones), averaged over the random groups whose 16 frames are independent (a group with
  a frame twice, e.g. two empty frames, has volume 0; their count is kept, and where every group is such the value is
  None). A log-determinant, not a determinant;
- spectrum: the slope alpha of the amplitude spectrum A/|f|^alpha of each grey frame, least squares in log-log
  over all non-zero frequencies (Torralba & Oliva 2003; natural images: alpha about 1);
- colour: the symmetric KL divergence KL(P||Q) + KL(Q||P) between 3-D Gaussians fitted to the L*a*b* pixels
  (OpenCV's conversion of RGB in [0, 1]: L in [0, 100]) of two sets;
- motion: the mean optical-flow magnitude of a clip (OpenCV Farneback between consecutive grey frames, pixels per
  frame) and its temporal-difference energy (mean squared difference of consecutive grey frames in [0, 1]).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

GROUP = 16  # frames per diversity group (Yu et al.)


def gaussian(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (rows are samples); at least two samples."""
    x = np.asarray(features, dtype=np.float64)
    if x.ndim != 2 or len(x) < 2:
        raise ValueError("a covariance needs at least 2 samples")
    return x.mean(0), np.cov(x, rowvar=False)


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to feature sets a and b (pytorch-fid's formula and numerics)."""
    from pytorch_fid.fid_score import calculate_frechet_distance
    (mu1, s1), (mu2, s2) = gaussian(a), gaussian(b)
    return float(calculate_frechet_distance(mu1, np.atleast_2d(s1), mu2, np.atleast_2d(s2)))


DEPENDENT = 1e-9  # Gram eigenvalue of unit rows below which they count as dependent (round-off is ~1e-15)


def log_volume(features: np.ndarray, centre: np.ndarray | None = None) -> float:
    """1/2 log det of the Gram matrix of the L2-normalised rows (after subtracting `centre`): the log volume they
    span."""
    x = np.asarray(features, dtype=np.float64)
    if centre is not None:
        x = x - centre
    x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)
    eig = np.linalg.eigvalsh(x @ x.T)
    # dependent rows (a frame twice) make the Gram matrix singular; its smallest eigenvalue is then round-off, whose
    # sign and size vary between machines, so anything below DEPENDENT counts as 0
    return 0.5 * float(np.log(eig).sum()) if eig.min() > DEPENDENT else -math.inf


def diversity(frame_features: np.ndarray, clip_of_frame: np.ndarray, groups: int, seed: int) -> dict:
    """Mean and sd of the log volume of `groups` random groups of 16 frames, each from a different clip."""
    rng = np.random.default_rng(seed)
    clips = np.unique(clip_of_frame)
    if len(clips) < GROUP:
        raise ValueError(f"diversity needs at least {GROUP} clips")
    by_clip = {c: np.flatnonzero(clip_of_frame == c) for c in clips}
    centre = frame_features.mean(0)  # volumes about the set's mean, as a covariance is
    values = []
    for _ in range(groups):
        chosen = rng.choice(clips, GROUP, replace=False)
        rows = [rng.choice(by_clip[c]) for c in chosen]
        values.append(log_volume(frame_features[rows], centre))
    v = np.asarray(values)
    finite = v[np.isfinite(v)]
    return {"log_volume": float(finite.mean()) if len(finite) else None,
            "sd": float(finite.std()) if len(finite) else None, "groups": groups,
            "degenerate_groups": int((~np.isfinite(v)).sum())}


def grey(frames: np.ndarray) -> np.ndarray:
    """uint8 (T, H, W, 3) RGB -> float64 (T, H, W) in [0, 1] (ITU-R 601 luma, as OpenCV)."""
    return np.stack([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]).astype(np.float64) / 255.0


def spectrum_slope(image: np.ndarray) -> float:
    """alpha of A(f) = c / |f|^alpha fitted to one grey image's amplitude spectrum (mean removed, Hann window)."""
    h, w = image.shape
    window = np.outer(np.hanning(h), np.hanning(w))
    amp = np.abs(np.fft.fft2((image - image.mean()) * window))
    fy, fx = np.meshgrid(np.fft.fftfreq(h), np.fft.fftfreq(w), indexing="ij")
    f = np.hypot(fy, fx)
    keep = (f > 0) & (f <= 0.5) & (amp > 1e-9)
    if keep.sum() < 2:
        return math.nan  # a flat frame has no spectrum
    slope, _ = np.polyfit(np.log(f[keep]), np.log(amp[keep]), 1)
    return float(-slope)


def lab_pixels(frames: np.ndarray, per_clip: int, rng: np.random.Generator) -> np.ndarray:
    """`per_clip` random pixels of a clip in L*a*b* (float, OpenCV's scale)."""
    lab = cv2.cvtColor(frames.reshape(-1, frames.shape[2], 3).astype(np.float32) / 255.0, cv2.COLOR_RGB2LAB)
    flat = lab.reshape(-1, 3)
    return flat[rng.choice(len(flat), min(per_clip, len(flat)), replace=False)].astype(np.float64)


def kl_gaussians(mu1: np.ndarray, s1: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    """KL(N(mu1, s1) || N(mu2, s2)) in nats."""
    k = len(mu1)
    inv2 = np.linalg.inv(s2)
    d = mu2 - mu1
    _, ld1 = np.linalg.slogdet(s1)
    _, ld2 = np.linalg.slogdet(s2)
    return float(0.5 * (np.trace(inv2 @ s1) + d @ inv2 @ d - k + ld2 - ld1))


def symmetric_kl(a: np.ndarray, b: np.ndarray) -> float:
    """KL(P||Q) + KL(Q||P) between Gaussians fitted to the rows of a and b."""
    (mu1, s1), (mu2, s2) = gaussian(a), gaussian(b)
    eps = 1e-6 * np.eye(len(mu1))  # a constant channel (a grey set) keeps the covariance invertible
    return kl_gaussians(mu1, s1 + eps, mu2, s2 + eps) + kl_gaussians(mu2, s2 + eps, mu1, s1 + eps)


def flow_magnitude(frames: np.ndarray) -> float:
    """Mean Farneback optical-flow magnitude (pixels per frame) over consecutive frames of one clip."""
    g = [cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames]
    mags = []
    for a, b in zip(g[:-1], g[1:], strict=True):
        flow = cv2.calcOpticalFlowFarneback(a, b, None, pyr_scale=0.5, levels=3, winsize=15, iterations=3,
                                            poly_n=5, poly_sigma=1.2, flags=0)
        mags.append(float(np.hypot(flow[..., 0], flow[..., 1]).mean()))
    return float(np.mean(mags))


def temporal_energy(frames: np.ndarray) -> float:
    """Mean squared difference of consecutive grey frames in [0, 1]."""
    g = grey(frames)
    return float(np.mean(np.diff(g, axis=0) ** 2))


def summary(values: list[float]) -> dict:
    """Mean, sd, median and 90th percentile of the finite values, and how many were not (flat frames)."""
    v = np.asarray(values, dtype=np.float64)
    bad = int((~np.isfinite(v)).sum())
    v = v[np.isfinite(v)]
    if len(v) == 0:
        return {"mean": math.nan, "sd": None, "median": math.nan, "p90": math.nan, "undefined": bad}
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "median": float(np.median(v)), "p90": float(np.percentile(v, 90)), "undefined": bad}
