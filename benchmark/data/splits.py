"""Splits of labelled videos: the interface every downstream task's train and test sets provide, a subset of a
split, and a split of video files decoded on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VideoSplit(Protocol):
    """One split of labelled videos. `frames` returns uint8 (len(indices), H, W, 3) and may raise VideoError."""

    def __len__(self) -> int: ...
    def label(self, i: int) -> int: ...
    def name(self, i: int) -> str: ...
    def frame_count(self, i: int) -> int: ...
    def frames(self, i: int, indices: np.ndarray) -> np.ndarray: ...


class SubsetSplit:
    """The videos `indices` of another split (low-data finetuning)."""

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


class VideoListSplit:
    """Labelled video files, decoded on demand with PyAV (frame counts cached)."""

    def __init__(self, paths: list[Path], labels: list[int], short_side: int | None = None):
        self.paths, self.labels, self.short_side = paths, labels, short_side
        self._counts: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self.paths)

    def label(self, i: int) -> int:
        return self.labels[i]

    def name(self, i: int) -> str:
        return str(self.paths[i])

    def frame_count(self, i: int) -> int:
        if i not in self._counts:
            from benchmark.data.video import frame_count
            self._counts[i] = frame_count(self.paths[i])
        return self._counts[i]

    def frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        from benchmark.data.video import decode
        return decode(self.paths[i], indices, short_side=self.short_side)
