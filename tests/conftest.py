"""Shared test helpers: a micro protocol (seconds per run) on top of `smoke`, and a CLI runner."""

from __future__ import annotations

import csv
import json
import os

# Results depend on the thread count (the order of float reductions): the test process and every process it starts
# use two, whatever cores the machine or `taskset` gives them, so a test comparing a subprocess's run with one
# in this process compares like with like.
os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "2"

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(2)

# pretrain 6 steps of 8 clips, finetune 8 steps of 8 videos, evaluate 16 videos x 2 clips x 3 crops
MICRO = [
    "pretrain.epochs=2", "pretrain.epoch_size=24", "pretrain.batch_size=8", "pretrain.warmup_epochs=0.5",
    "finetune.epochs=2", "finetune.batch_size=8", "finetune.warmup_epochs=0.5",
    "task.train_videos=32", "task.test_videos=16",
    "runtime.workers=0", "runtime.progress=false", "runtime.checkpoint_every=2",
]


@pytest.fixture
def micro() -> list[str]:
    return list(MICRO)


def write_video(path, frames, fps: int = 25) -> None:
    """Encode uint8 (T, H, W, 3) frames with PyAV: MPEG-4 Part 2 in .avi (as UCF101/HMDB51 ship), VP9 in .webm (as
    SSv2), else H.264."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    codec = {".avi": "mpeg4", ".webm": "libvpx-vp9"}.get(path.suffix, "libx264")
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


SOURCE_CLIPS = {"BigBuckBunny": "bigbuckbunny.mp4", "Bikes": "bikes.mp4", "Carphone": "carphone_pristine.mp4"}


def _segments(n_videos: int, frames: int = 24):
    """`n_videos` segments of each bundled clip, 80x60 (UCF101's 4:3), one class per clip."""
    import numpy as np

    from benchmark.data.video import bundled_video_dir, decode
    out = {}
    for cls, name in SOURCE_CLIPS.items():
        video = decode(bundled_video_dir() / name, np.arange(100), short_side=60)
        video = video[:, :, (video.shape[2] - 80) // 2:][:, :, :80]
        out[cls] = [video[4 * k:4 * k + frames] for k in range(n_videos)]
    return out


@pytest.fixture(scope="session")
def ucf_tree(tmp_path_factory):
    """A UCF101-format tree: UCF-101/<Class>/v_<Class>_gGG_c01.avi + ucfTrainTestlist/ (split 1); 3 classes x
    (3 train + 1 test) videos, and one corrupt test video."""
    root = tmp_path_factory.mktemp("ucf101")
    ann = root / "ucfTrainTestlist"
    ann.mkdir()
    classes = list(SOURCE_CLIPS)
    (ann / "classInd.txt").write_text("".join(f"{i + 1} {c}\n" for i, c in enumerate(classes)))
    train, test = [], []
    for i, (cls, clips) in enumerate(_segments(4).items()):
        for g, clip in enumerate(clips, 1):
            rel = f"{cls}/v_{cls}_g{g:02d}_c01.avi"
            write_video(root / "UCF-101" / rel, clip)
            (train if g <= 3 else test).append(rel + (f" {i + 1}" if g <= 3 else ""))
    corrupt = "Bikes/v_Bikes_g05_c01.avi"
    (root / "UCF-101" / corrupt).write_bytes(b"RIFF\x00\x00\x00\x00AVI LIST" + bytes(200))
    test.append(corrupt)
    (ann / "trainlist01.txt").write_text("\n".join(train) + "\n")
    (ann / "testlist01.txt").write_text("\n".join(test) + "\n")
    return root


@pytest.fixture(scope="session")
def hmdb_tree(tmp_path_factory):
    """An HMDB51-format tree: <class>/<video>.avi + testTrainMulti_7030_splits/<class>_test_split1.txt with
    3 train (1), 1 test (2) and 1 unused (0) video per class."""
    root = tmp_path_factory.mktemp("hmdb51")
    splits = root / "testTrainMulti_7030_splits"
    splits.mkdir()
    for cls, clips in _segments(5).items():
        name = cls.lower()
        lines = []
        for k, clip in enumerate(clips):
            video = f"{name}_clip_{k}.avi"
            write_video(root / name / video, clip)
            lines.append(f"{video} {[1, 1, 1, 2, 0][k]}")
        (splits / f"{name}_test_split1.txt").write_text("\n".join(lines) + "\n")
    return root


CORRUPT = b"\x1aE\xdf\xa3" + bytes(300)


def _clips():
    return list(_segments(4).items())  # 3 classes x 4 clips of 24 frames, 80x60


# Motion-heavy tasks in their official layouts: one corrupt and one listed-but-missing test video each


@pytest.fixture(scope="session")
def ssv2_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssv2")
    templates = [f"Moving something {c}" for c in ("left", "right", "up")]
    (root / "labels.json").write_text(json.dumps({t: str(i) for i, t in enumerate(templates)}))
    train, val, vid = [], [], 100
    for k, (_name, clips) in enumerate(_clips()):
        for g, clip in enumerate(clips):
            write_video(root / "20bn-something-something-v2" / f"{vid}.webm", clip)
            (train if g < 3 else val).append({"id": str(vid), "label": "x", "template": templates[k].replace(
                "something", "[something]"), "placeholders": ["x"]})
            vid += 1
    (root / "20bn-something-something-v2" / f"{vid}.webm").write_bytes(CORRUPT)
    val.append({"id": str(vid), "template": templates[0], "label": "x"})
    val.append({"id": "999999", "template": templates[1], "label": "x"})  # listed, not on disk
    (root / "train.json").write_text(json.dumps(train))
    (root / "validation.json").write_text(json.dumps(val))
    return root


@pytest.fixture(scope="session")
def diving_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("diving48")
    train, test = [], []
    for k, (_name, clips) in enumerate(_clips()):
        for g, clip in enumerate(clips):
            name = f"vid{k}_{g:05d}"
            write_video(root / "rgb" / f"{name}.mp4", clip)
            (train if g < 3 else test).append({"vid_name": name, "label": [3, 17, 40][k], "start_frame": 2,
                                               "end_frame": 21})
    (root / "rgb" / "broken_00000.mp4").write_bytes(CORRUPT)
    test += [{"vid_name": "broken_00000", "label": 3, "start_frame": 0, "end_frame": 20},
             {"vid_name": "gone_00000", "label": 17, "start_frame": 0, "end_frame": 20}]
    (root / "Diving48_V2_train.json").write_text(json.dumps(train))
    (root / "Diving48_V2_test.json").write_text(json.dumps(test))
    return root


@pytest.fixture(scope="session")
def kinetics_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("kinetics")
    header = ["label", "youtube_id", "time_start", "time_end", "split"]
    rows = {"train": [], "validate": []}
    for k, (name, clips) in enumerate(_clips()):
        for g, clip in enumerate(clips):
            yid, start = f"yt{k}{g}abcdefg"[:11], 10 * g
            part = "train" if g < 3 else "validate"
            write_video(root / part / name.lower() / f"{yid}_{start:06d}_{start + 10:06d}.mp4", clip)
            rows[part].append([name.lower(), yid, start, start + 10, part])
    (root / "validate" / "bikes" / "broken00000_000000_000010.mp4").write_bytes(CORRUPT)
    rows["validate"] += [["bikes", "broken00000", 0, 10, "validate"], ["carphone", "missing0000", 0, 10, "validate"]]
    for part, r in rows.items():
        with open(root / f"{part}.csv", "w", newline="") as fh:
            csv.writer(fh).writerows([header] + r)
    return root
