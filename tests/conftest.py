"""Shared test helpers: a micro protocol (seconds per run) on top of `smoke`, and a CLI runner."""

from __future__ import annotations

import os

import pytest
import torch

torch.set_num_threads(min(2, os.cpu_count() or 1))

# pretrain 6 steps of 8 clips, finetune 8 steps of 8 videos, evaluate 16 videos x 2 clips x 3 crops
MICRO = [
    "pretrain.epochs=2", "pretrain.epoch_size=24", "pretrain.batch_size=8", "pretrain.warmup_epochs=0.5",
    "finetune.epochs=2", "finetune.batch_size=8", "finetune.warmup_epochs=0.5",
    "task.train_videos=32", "task.test_videos=16",
    "runtime.workers=0", "runtime.progress=false", "runtime.checkpoint_every=2",
]


@pytest.fixture
def micro() -> list[str]:
    return list(MICRO)
