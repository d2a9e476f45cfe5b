"""What a downstream task is: a class list and two splits of labelled videos, read frame by frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np


class VideoSplit(Protocol):
    """One split of labelled videos. `frames` returns uint8 (len(indices), H, W, 3) and may raise VideoError."""

    def __len__(self) -> int: ...
    def label(self, i: int) -> int: ...
    def name(self, i: int) -> str: ...
    def frame_count(self, i: int) -> int: ...
    def frames(self, i: int, indices: np.ndarray) -> np.ndarray: ...


class SubsetSplit:
    """The videos `indices` of another split (low-data finetuning, pretraining on a task's train split)."""

    def __init__(self, split: VideoSplit, indices: list[int]):
        self.split, self.indices = split, list(indices)

    def __len__(self) -> int:
        return len(self.indices)

    def label(self, i: int) -> int:
        return self.split.label(self.indices[i])

    def name(self, i: int) -> str:
        return self.split.name(self.indices[i])

    def frame_count(self, i: int) -> int:
        return self.split.frame_count(self.indices[i])

    def frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        return self.split.frames(self.indices[i], indices)


@dataclass
class Task:
    name: str
    classes: list[str]
    train: VideoSplit
    test: VideoSplit
    flip_keeps_label: bool = True  # False where left/right motion defines the class
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "num_classes": self.num_classes, "train_videos": len(self.train),
                "test_videos": len(self.test), **self.info}
