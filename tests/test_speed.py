"""Throughput benchmarks (pytest-benchmark): `tox -e benchmarks` or `pytest -m benchmark --benchmark-enable`.

Deselected from the default test run; they measure, they do not gate.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from benchmark.data.datasets import FinetuneClips, PretrainClips, collate
from benchmark.data.sampling import tube_mask
from benchmark.models.videomae import VideoMAEClassifier, VideoMAEPretrain, pretrain_targets
from benchmark.sources.base import make_source, source_params
from benchmark.stages.base import load_protocol
from benchmark.tasks.base import make_task, task_params

pytestmark = pytest.mark.benchmark
SMOKE = load_protocol("smoke")


def test_pretrain_step_tiny_8x64(benchmark):
    torch.manual_seed(0)
    model = VideoMAEPretrain("tiny", 8, 64)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    video = torch.randn(16, 3, 8, 64, 64)
    mask = torch.from_numpy(np.stack([tube_mask(model.grid, 0.75, np.random.default_rng(i)) for i in range(16)]))

    def step():
        loss = F.mse_loss(model(video, mask), pretrain_targets(video, mask, SMOKE.clip.mean, SMOKE.clip.std, 16, 2))
        loss.backward()
        opt.step()
        opt.zero_grad()
    benchmark.extra_info["clips_per_step"] = 16
    benchmark(step)


def test_finetune_step_tiny_8x64(benchmark):
    torch.manual_seed(0)
    model = VideoMAEClassifier("tiny", 8, 8, 64)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    video, label = torch.randn(16, 3, 8, 64, 64), torch.arange(16) % 8

    def step():
        F.cross_entropy(model(video), label).backward()
        opt.step()
        opt.zero_grad()
    benchmark.extra_info["clips_per_step"] = 16
    benchmark(step)


def test_natural_pretrain_clip(benchmark):
    source = make_source("natural", source_params("natural", {}), 0, 64)
    data = PretrainClips(source, SMOKE, 0, (4, 4, 4))
    data[0]  # decode the bundled clips once
    keys = iter(range(10 ** 9))
    benchmark(lambda: data[next(keys)])


def test_embedded_finetune_batch(benchmark):
    task = make_task("embedded", task_params("embedded", {}))
    data = FinetuneClips(task.train, SMOKE.clip, SMOKE.finetune, 0, flip_ok=False)
    keys = iter(range(10 ** 9))
    benchmark(lambda: collate([data[(k, k % 1024)] for k in [next(keys) for _ in range(16)]], cat=True))
