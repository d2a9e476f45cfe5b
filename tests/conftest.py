"""Shared test helpers: a micro protocol (seconds per run) on top of `smoke`, and a CLI runner."""

from __future__ import annotations

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
    """Encode uint8 (T, H, W, 3) frames with PyAV: MPEG-4 Part 2 in .avi (as UCF101/HMDB51 ship), else H.264."""
    import av
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:
        stream = container.add_stream("mpeg4" if path.suffix == ".avi" else "libx264", rate=fps)
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
