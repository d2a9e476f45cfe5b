"""Splits of labelled videos: the interface every downstream task's train and test sets provide, a subset of a
split, and a split of video files decoded on demand."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np


class VideoSplit(Protocol):
    """One split of labelled videos. `frames` returns uint8 (len(indices), H, W, 3) and may raise VideoError.
    `sampling` says how clips are drawn from it: "window" (frames at the finetuning stride from a random offset;
    test windows spread over the video) or "segments" (VideoMAE's SSv2 sampling: one frame per equal part)."""

    sampling: str

    def __len__(self) -> int: ...
    def label(self, i: int) -> int: ...
    def name(self, i: int) -> str: ...
    def frame_count(self, i: int) -> int: ...
    def frames(self, i: int, indices: np.ndarray) -> np.ndarray: ...


class SubsetSplit:
    """The videos `indices` of another split (low-data finetuning)."""

    def __init__(self, split: VideoSplit, indices: list[int]):
        self.split, self.indices = split, list(indices)
        self.sampling = getattr(split, "sampling", "window")

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
    """Labelled video files, decoded on demand with PyAV (frame counts cached). `ranges` (first, last frame) per
    video restrict it to that segment (Diving48's start_frame / end_frame)."""

    def __init__(self, paths: list[Path], labels: list[int], short_side: int | None = None, sampling: str = "window",
                 ranges: list[tuple[int, int]] | None = None):
        self.paths, self.labels, self.short_side, self.sampling = paths, labels, short_side, sampling
        self.ranges = ranges
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
            n = frame_count(self.paths[i])
            if self.ranges is not None:
                first, last = self.ranges[i]
                n = max(0, min(n, last + 1) - first)
            self._counts[i] = n
        return self._counts[i]

    def frames(self, i: int, indices: np.ndarray) -> np.ndarray:
        from benchmark.data.video import decode
        offset = self.ranges[i][0] if self.ranges is not None else 0
        return decode(self.paths[i], np.asarray(indices) + offset, short_side=self.short_side)
