"""PMG throughput per core (pytest-benchmark): one thread for torch and OpenCV, clips of 16 x 224^2.

    pytest -m benchmark --benchmark-enable tests/test_speed_pmg.py --benchmark-columns=min,median,ops

`ops` is clips (or images) per second on one core. Deselected from the default test run; it measures, it does not
gate.
"""

import cv2
import numpy as np
import pytest
import torch

from benchmark.data.images import make_pool
from benchmark.sources.base import make_source, source_params

pytestmark = pytest.mark.benchmark


@pytest.fixture(autouse=True)
def one_core():
    threads, cv_threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    yield
    torch.set_num_threads(threads)
    cv2.setNumThreads(cv_threads)


@pytest.mark.parametrize("params", [
    {},  # the paper's final recipe: zoom or affine, Mixup of two clips
    {"video_mix": "none"},
    {"video_mix": "videomix"},
    {"transforms": ["identity"], "video_mix": "none"},
    {"transforms": ["sliding-window"], "video_mix": "none"},
    {"transforms": ["perspective"], "video_mix": "none"},
    {"transforms": ["fade"], "video_mix": "none"},
    {"transforms": ["color-jitter"], "video_mix": "none"},
    {"transforms": ["cutmix"], "video_mix": "none"},
    {"images": "fractal"},
    {"images": "visual-atom"},
    {"recursive": False},
    {"margin": 0.25},
], ids=lambda p: ",".join(f"{k}={v}" for k, v in p.items()) or "default")
def test_pmg_clip_16x224(benchmark, params):
    src = make_source("pmg", source_params("pmg", params), 0, 224)
    src.clip(0, 16, 1)  # first use: bundled images decoded, fractal categories looked up
    keys = iter(range(1, 10 ** 9))
    clip = benchmark(lambda: src.clip(next(keys), 16, 1))
    assert clip.shape == (16, 224, 224, 3)


@pytest.mark.parametrize("pool", ["fractal", "visual-atom"])
def test_synthetic_image(benchmark, pool):
    images = make_pool(pool)
    keys = iter(range(10 ** 9))
    img = benchmark(lambda: images.image(next(keys) % len(images)))
    assert img.shape == (512, 512, 3) and img.dtype == np.uint8
