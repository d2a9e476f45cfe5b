"""Generation speed of the synthetic levels (pytest-benchmark): one 16-frame 256 x 256 clip, one core.

`tox -e benchmarks -- tests/test_speed_synthetic.py` or
`pytest -m benchmark --benchmark-enable --benchmark-columns=min,median,ops tests/test_speed_synthetic.py`.
Deselected from the default test run; they measure, they do not gate. The timer is the process's CPU time on one
thread (OpenCV and torch limited to one), so a number is the cost per core even on a busy machine; ops = clips/s.
`test_reference_painter` times the per-object painter of tests/test_synthetic.py, the authors' loop (one OpenCV
call per object per frame), on the same machine, for the speed-up.
"""

import time

import cv2
import numpy as np
import pytest
import torch

from benchmark.sources.base import make_source, source_params
from tests.test_synthetic import LEVELS, paint_reference, window

pytestmark = pytest.mark.benchmark
CPU = pytest.mark.benchmark(timer=time.process_time, min_rounds=20, warmup=True)


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = cv2.getNumThreads(), torch.get_num_threads()
    cv2.setNumThreads(1)
    torch.set_num_threads(1)
    yield
    cv2.setNumThreads(threads[0])
    torch.set_num_threads(threads[1])


@CPU
@pytest.mark.parametrize("name", LEVELS)
def test_clip_16x256(benchmark, name):
    src = make_source(name, source_params(name, {}), seed=0, clip_size=224)
    if src.textures is not None:  # steady state: the built-in bank (1,024 textures) made once, images read once
        for k in range(len(src.textures) if len(src.textures) <= 1024 else 0):
            src.textures.texture(k)
    keys = iter(range(10 ** 9))
    benchmark.extra_info.update(frames=16, stride=4, side=256)
    clip = benchmark(lambda: src.clip(next(keys), 16, 4))
    assert clip.shape == (16, 256, 256, 3)


@pytest.mark.benchmark(timer=time.process_time, min_rounds=3, warmup=False)
@pytest.mark.parametrize("name", ["moving-circles", "moving-shapes", "accel-shapes"])
def test_reference_painter(benchmark, name):
    src = make_source(name, source_params(name, {}), seed=0, clip_size=224)
    obj, t = window(src, 0)
    benchmark.pedantic(lambda: np.stack([paint_reference(src, obj, int(k)) for k in t]), rounds=3, iterations=1)
