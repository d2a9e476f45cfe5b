"""`bench generate`: write a source's clips as mp4 files and one contact sheet, to look at what it produces.

Clips are written as the source makes them (native resolution, before the training crop), deterministic for
(seed, index): `bench generate` shows exactly the clips 0..n-1 that a run with the same seed pretrains on first.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from benchmark.config import section_overrides, to_dict
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


TITLE_H, LABEL_H = 22, 14  # px: the title band, and the label strip above each row of frames


def contact_sheet(clips: list[np.ndarray], title: str = "", columns: int = 8, tile: int = 128, gap: int = 2,
                  frame_numbers: list[int] | None = None) -> np.ndarray:
    """A labelled sheet: a title band (`title`: the source, its non-default parameters and the seed), then per clip
    a strip naming the clip and the frame index above each of `columns` evenly spaced frames (scaled to `tile` px
    high); `frame_numbers` maps clip frames to source frames (frame i of a clip at stride s is source frame i*s)."""
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default(size=11)
    rows = []
    for n, clip in enumerate(clips):
        picks = np.linspace(0, len(clip) - 1, min(columns, len(clip))).round().astype(int)
        h, w = clip.shape[1:3]
        size = (max(1, round(w * tile / h)), tile)
        tiles = [np.asarray(Image.fromarray(clip[i]).resize(size, Image.BILINEAR)) for i in picks]
        spacer = np.full((tile, gap, 3), 255, np.uint8)
        frames = np.concatenate([x for t in tiles for x in (t, spacer)][:-1], axis=1)
        strip = Image.new("RGB", (frames.shape[1], LABEL_H), "white")
        draw = ImageDraw.Draw(strip)
        for k, i in enumerate(picks):
            number = frame_numbers[i] if frame_numbers else i
            draw.text((k * (size[0] + gap) + 2, 1), f"clip {n}, frame {number}" if k == 0 else f"frame {number}",
                      fill="black", font=font)
        rows.append(np.concatenate([np.asarray(strip), frames], axis=0))
    width = max(r.shape[1] for r in rows)
    rows = [np.pad(r, ((0, gap), (0, width - r.shape[1]), (0, 0)), constant_values=255) for r in rows]
    band = Image.new("RGB", (width, TITLE_H), "white")
    ImageDraw.Draw(band).text((2, 4), title, fill="black", font=font)
    return np.concatenate([np.asarray(band)] + rows, axis=0)[:-gap]


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
    defaults = to_dict(source_params(name, {}))
    changed = {k: v for k, v in to_dict(params).items() if defaults.get(k) != v}
    title = f"{name}" + "".join(f" {k}={v}" for k, v in changed.items()) + f", seed {seed}, stride {stride}"
    image = contact_sheet(clips, title, frame_numbers=[i * stride for i in range(frames)])
    atomic_write(sheet, lambda f: Image.fromarray(image).save(f, format="PNG"))
    return paths + [sheet]
