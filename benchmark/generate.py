"""`bench generate`: write a source's clips as mp4 files and one contact sheet, to look at what it produces.

Clips are written as the source makes them (native resolution, before the training crop), deterministic for
(seed, index): `bench generate` shows exactly the clips 0..n-1 that a run with the same seed pretrains on first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.config import section_overrides
from benchmark.errors import BenchError
from benchmark.runtime import atomic_write, check_writable
from benchmark.sources.base import CLIP_SOURCES, make_source, source_params


def write_mp4(path: Path, frames: np.ndarray, fps: int = 25) -> None:
    """uint8 (T, H, W, 3) -> H.264 mp4 (yuv420p; odd sides are padded by one pixel), written atomically."""
    import av
    t, h, w, _ = frames.shape
    if h % 2 or w % 2:
        frames = np.pad(frames, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")

    def encode(f) -> None:
        with av.open(f, "w", format="mp4") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height = frames.shape[2], frames.shape[1]
            stream.pix_fmt = "yuv420p"
            stream.options = {"crf": "18"}
            for frame in frames:
                container.mux(stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
            container.mux(stream.encode())
    atomic_write(path, encode)


def contact_sheet(clips: list[np.ndarray], columns: int = 8, tile: int = 128, gap: int = 2) -> np.ndarray:
    """One row per clip, `columns` evenly spaced frames per row, each frame scaled to `tile` px high."""
    from PIL import Image
    rows = []
    for clip in clips:
        picks = np.linspace(0, len(clip) - 1, min(columns, len(clip))).round().astype(int)
        h, w = clip.shape[1:3]
        size = (max(1, round(w * tile / h)), tile)
        tiles = [np.asarray(Image.fromarray(clip[i]).resize(size, Image.BILINEAR)) for i in picks]
        spacer = np.full((tile, gap, 3), 255, np.uint8)
        rows.append(np.concatenate([x for t in tiles for x in (t, spacer)][:-1], axis=1))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    return np.concatenate(rows, axis=0)[:-gap]


def generate(source: str, overrides: list[str], seed: int, n: int, frames: int, stride: int, out: Path,
             fps: int = 25) -> list[Path]:
    from PIL import Image

    from benchmark.inits import source_entry
    name = source_entry(source).name
    if name not in CLIP_SOURCES:
        raise BenchError(f"source {name!r} has no clips to generate (it is an init, not a clip source)")
    raw = section_overrides(overrides, "source", "bench generate")
    if min(n, frames, stride, fps) < 1:
        raise BenchError("-n, --frames, --stride and --fps must be >= 1")
    if not 0 <= seed < 2 ** 63:
        raise BenchError(f"--seed must be an integer in 0..2^63-1, got {seed}")
    params = source_params(name, raw)
    check_writable(out, "--out")
    src = make_source(name, params, seed=seed, clip_size=0)
    clips, paths = [], []
    for i in range(n):
        clip = src.clip(i, frames, stride)
        clips.append(clip)
        paths.append(out / f"{name}-s{seed}-{i:03d}.mp4")
        write_mp4(paths[-1], clip, fps)
    sheet = out / f"{name}-s{seed}-contact-sheet.png"
    atomic_write(sheet, lambda f: Image.fromarray(contact_sheet(clips)).save(f, format="PNG"))
    return paths + [sheet]
