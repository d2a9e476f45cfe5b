"""The test views of a video: K clips x crops, clean and under each perturbation (UCF101-P), as a torch Dataset."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from benchmark.config import ClipConfig, EvaluateConfig
from benchmark.data.sampling import test_windows, tsn_test_clips
from benchmark.data.splits import VideoSplit
from benchmark.data.transforms import normalize, short_side_resize, spatial_crops
from benchmark.data.video import VideoError
from benchmark.evaluate.perturbations import PERTURBATIONS

Condition = tuple[str, int]  # ("clean", 0) or (perturbation name, severity)
CLEAN: Condition = ("clean", 0)


class TestViews(Dataset):
    """(video index, conditions) -> every view (K clips x crops) of one test video under each condition.

    A condition is the clean video or one perturbation at one severity. Temporal perturbations reorder the video
    sampled at the finetuning stride before the clips are cut; spatial ones act on each uint8 view after its
    resize and crop; both draw from a generator seeded by (perturbation seed, video, condition, view). The decoded
    frames of the last video are cached, so the conditions of one video cost one decode.
    """

    def __init__(self, split: VideoSplit, clip: ClipConfig, views: EvaluateConfig, stride: int,
                 conditions: list[Condition]):
        self.split, self.clip, self.cfg, self.stride = split, clip, views, stride
        self.conditions = conditions
        self.perturbations = {c: PERTURBATIONS.get(c[0]) for c in conditions if c != CLEAN}
        self._cache: tuple[int, np.ndarray, dict[int, int]] | None = None

    def _windows(self, i: int, c: int, n: int) -> list[np.ndarray]:
        cond = self.conditions[c]
        segments = getattr(self.split, "sampling", "window") == "segments"
        sequence = np.arange(0, n, 1 if segments else self.stride)
        pert = self.perturbations.get(cond)
        if pert is not None and pert.kind == "temporal":
            rng = np.random.default_rng([self.cfg.perturbation_seed, i, c])
            sequence = sequence[pert.apply(len(sequence), cond[1], rng)]
        if segments:
            return tsn_test_clips(sequence, self.clip.frames, self.cfg.test_clips)
        return test_windows(sequence, self.clip.frames, self.cfg.test_clips)

    def _decoded(self, i: int) -> tuple[np.ndarray, dict[int, int]]:
        if self._cache is None or self._cache[0] != i:
            n = self.split.frame_count(i)
            wanted = np.unique(np.concatenate([w for c in range(len(self.conditions)) for w in self._windows(i, c, n)]))
            frames = self.split.frames(i, wanted)
            self._cache = (i, frames, {f: k for k, f in enumerate(wanted.tolist())})
        return self._cache[1], self._cache[2]

    def views(self, i: int, c: int) -> torch.Tensor:
        """(K x crops, 3, T, S, S) normalised views of video i under condition c."""
        cfg, ev = self.clip, self.cfg
        decoded, position = self._decoded(i)
        cond = self.conditions[c]
        pert = self.perturbations.get(cond)
        out = []
        for window in self._windows(i, c, self.split.frame_count(i)):
            clip = short_side_resize(decoded[[position[f] for f in window.tolist()]], cfg.size)
            for crop in spatial_crops(clip, cfg.size, ev.test_crops):
                view = crop.round().clamp(0, 255).to(torch.uint8)  # frames are uint8 before any perturbation
                if pert is not None and pert.kind == "spatial":
                    rng = np.random.default_rng([ev.perturbation_seed, i, c, len(out)])
                    u8 = pert.apply(view.permute(0, 2, 3, 1).numpy(), cond[1], rng)
                    view = torch.from_numpy(np.ascontiguousarray(u8)).permute(0, 3, 1, 2)
                out.append(normalize(view.float(), cfg.mean, cfg.std))
        return torch.stack(out)

    def __getitem__(self, item: tuple[int, tuple[int, ...]]) -> dict[str, Any]:
        i, conds = item
        try:
            video = torch.cat([self.views(i, c) for c in conds])
        except VideoError:
            return {"skipped": [self.split.name(i)]}
        return {"video": video, "meta": [(i, c) for c in conds], "label": self.split.label(i), "skipped": []}
