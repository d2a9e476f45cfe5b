"""Sampling, transforms, the bundled data, the natural source and the embedded task."""

import numpy as np
import pytest
import torch

from benchmark.data import sampling as S
from benchmark.data import transforms as T
from benchmark.data.images import BUNDLED_IMAGE_NAMES, bundled_image
from benchmark.data.video import VideoError, bundled_videos, decode, frame_count
from benchmark.errors import BenchError
from benchmark.sources.base import make_source, source_params
from benchmark.tasks.base import make_task, task_params


def test_train_indices_are_a_strided_window_inside_the_video():
    rng = np.random.default_rng(0)
    for _ in range(50):
        idx = S.train_indices(100, 16, 4, rng)
        assert len(idx) == 16 and idx[0] >= 0 and idx[-1] <= 99
        assert (np.diff(idx) == 4).all()
    short = S.train_indices(10, 8, 2, rng)  # a window longer than the video repeats the last frame
    assert short.tolist() == [0, 2, 4, 6, 8, 9, 9, 9]


def test_test_windows_follow_videomae_sampling_on_the_strided_sequence():
    sequence = np.arange(0, 100, 4)  # 25 frames at stride 4
    clips = S.test_windows(sequence, 16, 5)  # starts int(k * 9 / 4): 0, 2, 4, 6, 9
    assert [int(c[0]) for c in clips] == [0, 8, 16, 24, 36]
    assert all((np.diff(c) == 4).all() for c in clips) and clips[-1][-1] == 96
    assert int(S.test_windows(sequence, 16, 1)[0][0]) == 16  # one clip: the centre (start 4)
    short = S.test_windows(np.arange(0, 10, 2), 8, 2)  # 5 frames: the last one repeats
    assert short[0].tolist() == [0, 2, 4, 6, 8, 8, 8, 8] and short[1].tolist() == short[0].tolist()


def test_multiscale_crop_uses_the_scale_grid_and_fixed_offsets():
    rng = np.random.default_rng(0)
    sides = {int(240 * s) for s in (1, 0.875, 0.75, 0.66)}
    seen = set()
    for _ in range(300):
        y, x, h, w = S.multiscale_crop_box(240, 320, 224, (1, 0.875, 0.75, 0.66), rng)
        assert {h, w} <= sides | {224} and 0 <= y <= 240 - h and 0 <= x <= 320 - w
        seen.add((y, x, h, w))
        hs, ws = (240 - h) // 4, (320 - w) // 4
        assert y in {k * hs for k in range(5)} and x in {k * ws for k in range(5)}
    assert len(seen) > 20


def test_random_resized_crop_box_respects_scale_and_bounds():
    rng = np.random.default_rng(0)
    for _ in range(200):
        y, x, h, w = S.random_resized_crop_box(120, 160, (0.3, 1.0), (0.75, 1.333), rng)
        assert 0 <= y and y + h <= 120 and 0 <= x and x + w <= 160
        assert h * w >= 0.3 * 120 * 160 * 0.95


def test_three_spatial_crops_span_the_long_side():
    frames = np.zeros((2, 120, 160, 3), dtype=np.uint8)
    frames[:, :, :40] = 255  # a bright left edge
    clip = T.short_side_resize(frames, 60)
    assert tuple(clip.shape) == (2, 3, 60, 80)
    left, centre, right = T.spatial_crops(clip, 60, 3)
    assert left.shape[-2:] == (60, 60)
    assert left[..., :10].mean() > 250 and right.mean() < 1
    assert len(T.spatial_crops(clip, 60, 1)) == 1


def test_bundled_images_and_videos_are_offline_and_decodable():
    assert len(BUNDLED_IMAGE_NAMES) >= 20
    img = bundled_image("camera")
    assert img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3
    videos = bundled_videos()
    assert {p.name for p in videos} == {"bigbuckbunny.mp4", "bikes.mp4", "carphone_distorted.mp4",
                                        "carphone_pristine.mp4"}
    bikes = next(p for p in videos if p.name == "bikes.mp4")
    assert frame_count(bikes) == 250
    frames = decode(bikes, np.array([0, 5, 249]), short_side=64)
    assert frames.shape == (3, 64, 151, 3) and frames.dtype == np.uint8
    with pytest.raises(VideoError, match="truncated"):
        decode(bikes, np.array([260]), short_side=32)


def test_corrupt_video_is_a_video_error(tmp_path):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom" + bytes(range(256)) * 8)
    with pytest.raises(VideoError, match="bad.mp4"):
        decode(bad)


def test_natural_source_is_deterministic_per_index():
    src = make_source("natural", source_params("natural", {}), seed=3, clip_size=64)
    a, b, c = src.clip(7, 8, 2), src.clip(7, 8, 2), src.clip(8, 8, 2)
    assert a.shape[0] == 8 and a.dtype == np.uint8 and min(a.shape[1:3]) == 128
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    other_seed = make_source("natural", source_params("natural", {}), seed=4, clip_size=64)
    assert not np.array_equal(a, other_seed.clip(7, 8, 2))
    assert src.info()["videos"] == 4


def test_natural_source_from_a_list_and_bad_paths(tmp_path):
    bikes = next(p for p in bundled_videos() if p.name == "bikes.mp4")
    lst = tmp_path / "train.csv"
    lst.write_text(f"{bikes} 3\n")
    src = make_source("natural", source_params("natural", {"videos": str(lst)}), seed=0, clip_size=32)
    assert src.clip(0, 4, 1).shape == (4, 64, 151, 3)
    with pytest.raises(BenchError, match="neither a folder"):
        make_source("natural", source_params("natural", {"videos": str(tmp_path / "nope")}), 0, 32)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="holds no videos"):
        make_source("natural", source_params("natural", {"videos": str(tmp_path / "empty")}), 0, 32)


def test_embedded_task_is_balanced_deterministic_and_motion_defined():
    task = make_task("embedded", task_params("embedded", {"train_videos": 32, "test_videos": 16}))
    assert task.num_classes == 8 and not task.flip_keeps_label
    assert [task.train.label(i) for i in range(16)] == list(range(8)) * 2
    v = task.train.render(5)
    assert v.shape == (16, 72, 72, 3) and v.dtype == np.uint8
    assert np.array_equal(v, task.train.render(5))
    assert not np.array_equal(task.train.render(5), task.test.render(5))
    assert not set(task.info["train_images"]) & set(task.info["test_images"])
    # the moving patch is where a frame differs from the (static) background: its centroid follows the class
    for i in range(8):
        video = task.train.render(i).astype(float)
        background = np.median(video, axis=0)
        centroids = []
        for frame in video:
            ys, xs = np.nonzero(np.abs(frame - background).sum(-1) > 30)
            centroids.append((ys.mean(), xs.mean()))
        dy, dx = np.array(centroids[-1]) - np.array(centroids[0])
        angle = np.degrees(np.arctan2(dy, dx)) % 360
        assert min(abs(angle - 45 * i), 360 - abs(angle - 45 * i)) < 15, (i, angle)
        assert 15 < np.hypot(dy, dx) < 45  # 2.0-2.6 px/frame over 15 frames


def test_embedded_params_are_validated():
    with pytest.raises(BenchError, match="task.frames must be >= 2"):
        task_params("embedded", {"frames": 1})
    with pytest.raises(BenchError, match="unknown key task.colour"):
        task_params("embedded", {"colour": 1})


class StillSplit:
    """A split of 2 videos whose frames are all the same image (to see what augmentation does per frame)."""

    def __init__(self):
        self.image = bundled_image("astronaut")[::4, ::4]

    def __len__(self):
        return 2

    def label(self, i):
        return i

    def name(self, i):
        return f"still/{i}"

    def frame_count(self, i):
        return 16

    def frames(self, i, indices):
        return np.repeat(self.image[None], len(indices), axis=0)


def test_randaugment_is_one_draw_per_clip_and_deterministic():
    from benchmark.data.datasets import FinetuneClips
    from benchmark.stages.base import load_protocol
    p = load_protocol("smoke", ["finetune.randaug=rand-m9-n4-mstd0.5-inc1", "finetune.repeated_aug=2"])
    data = FinetuneClips(StillSplit(), p.clip, p.finetune, seed=0, flip_ok=True)
    item = data[(5, 0)]
    clips = item["video"]
    assert clips.shape == (2, 3, 8, 64, 64) and item["label"].tolist() == [0, 0]
    for clip in clips:  # every frame got the same ops with the same magnitudes
        assert all(torch.equal(clip[:, 0], clip[:, t]) for t in range(1, 8))
    assert not torch.equal(clips[0], clips[1])  # two augmented views of one video differ
    assert torch.equal(data[(5, 0)]["video"], clips)  # deterministic per sample key
    assert not torch.equal(data[(6, 0)]["video"], clips)


def test_randaugment_runs_on_the_full_frames_before_the_crop_with_videomaes_fill(monkeypatch):
    """kinetics.py `_aug_frame`: RandAugment on the decoded frames, then the random-resized crop; fill
    (128, 128, 128) and bicubic resampling (create_random_augment without img_mean)."""
    from PIL import Image

    from benchmark.data import datasets
    from benchmark.stages.base import load_protocol
    p = load_protocol("smoke", ["finetune.randaug=rand-m9-n4-mstd0.5-inc1"])
    data = datasets.FinetuneClips(StillSplit(), p.clip, p.finetune, seed=0, flip_ok=True)
    for op in data.randaug.ops:
        assert op.kwargs["fillcolor"] == (128, 128, 128) and op.kwargs["resample"] == Image.BICUBIC
    seen = []
    real = datasets.randaugment_clip
    monkeypatch.setattr(datasets, "randaugment_clip", lambda frames, *a: seen.append(frames.shape) or real(frames, *a))
    data[(5, 0)]
    assert seen == [(8, *StillSplit().image.shape)]  # the whole decoded frames, not the 64 x 64 crop


def test_random_erasing_is_one_box_through_the_whole_clip_with_probability_per_clip():
    """VideoMAE's random_erasing.py with cube=True: one Bernoulli draw per clip, one box in every frame, fresh
    N(0, 1) noise per frame."""
    from benchmark.data.datasets import FinetuneClips
    from benchmark.stages.base import load_protocol
    p = load_protocol("smoke", ["finetune.reprob=1.0", "finetune.randaug=null"])
    clip = FinetuneClips(StillSplit(), p.clip, p.finetune, seed=0, flip_ok=False)[(1, 0)]["video"][0]
    smoke = load_protocol("smoke")
    plain = FinetuneClips(StillSplit(), smoke.clip, smoke.finetune, seed=0, flip_ok=False)[(1, 0)]["video"][0]
    erased = (clip != plain).any(0)  # (T, H, W)
    assert erased[0].any() and all(torch.equal(erased[0], erased[t]) for t in range(1, 8))  # the same box
    assert not torch.equal(clip[:, 0][:, erased[0]], clip[:, 1][:, erased[0]])  # noise drawn anew per frame
    ys, xs = np.nonzero(erased[0].numpy())
    area = (ys.max() - ys.min() + 1) * (xs.max() - xs.min() + 1)
    assert 0.02 * 64 * 64 - 64 <= area <= 64 * 64 / 3 + 64 and area == erased[0].sum()  # a solid rectangle
    q = load_protocol("smoke", ["finetune.reprob=0.25", "finetune.randaug=null"])
    data = FinetuneClips(StillSplit(), q.clip, q.finetune, seed=0, flip_ok=False)
    share = np.mean([bool((data[(k, 0)]["video"][0] != FinetuneClips(StillSplit(), smoke.clip, smoke.finetune, 0,
                                                                    False)[(k, 0)]["video"][0]).any())
                     for k in range(300)])
    assert 0.17 < share < 0.33  # a quarter of the clips, not (as per-frame boxes would make it) nearly all


def test_finetuning_crop_resizes_as_videomaes_random_resized_crop():
    """video_transforms.random_resized_crop: F.interpolate(mode="bilinear", align_corners=False), no antialias."""
    import torch.nn.functional as F

    from benchmark.data.transforms import crop_resize
    frames = np.random.default_rng(0).integers(0, 256, (4, 90, 120, 3), dtype=np.uint8)
    box = (5, 7, 80, 100)
    ours = crop_resize(frames, box, 64, antialias=False)
    crop = torch.from_numpy(frames[:, 5:85, 7:107]).permute(0, 3, 1, 2).float()
    torch.testing.assert_close(ours, F.interpolate(crop, size=(64, 64), mode="bilinear", align_corners=False))


def _numbered_frames(n: int) -> np.ndarray:
    """Frames that differ from each other (a moving bar plus noise), so a frame off by one cannot match."""
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (n, 48, 64, 3), dtype=np.uint8)
    for i in range(n):
        frames[i, :, (i * 3) % 64] = 255
    return frames


@pytest.mark.parametrize("suffix,gop", [(".mp4", 12), (".avi", 10)])
def test_seeking_to_a_late_window_yields_the_frames_of_decoding_from_the_start(tmp_path, monkeypatch, suffix, gop):
    import av

    from benchmark.data import video as V
    path = tmp_path / f"v{suffix}"
    frames = _numbered_frames(160)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), "w") as container:  # many keyframes, B-frames in the H.264 file
        stream = container.add_stream("mpeg4" if suffix == ".avi" else "libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        stream.codec_context.gop_size = gop
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    seen = []
    real_index = V._index
    monkeypatch.setattr(V, "_index", lambda frame, stream: seen.append(real_index(frame, stream)) or seen[-1])
    for start in (V.SEEK_AFTER + 1, 77, 130, 144):
        idx = np.arange(start, start + 16, 1 if start != 77 else 2)
        idx = idx[idx < 160]
        seen.clear()
        fast = decode(path, idx, short_side=48)
        assert seen and min(seen) > 0  # it did seek, not decode from frame 0
        np.testing.assert_array_equal(fast, decode(path, idx, short_side=48, seek=False))
    with pytest.raises(VideoError, match="frame 160"):
        decode(path, np.array([150, 160]))


def test_seeking_in_the_bundled_videos_matches_sequential_decoding():
    for path in bundled_videos():
        n = frame_count(path)
        for start in (49, n // 2, n - 16):
            idx = np.arange(start, start + 16)
            np.testing.assert_array_equal(decode(path, idx, short_side=32), decode(path, idx, short_side=32,
                                                                                     seek=False))


@pytest.fixture
def torchcodec_decoder():
    """Decode with TorchCodec for one test (skipped where torchcodec or FFmpeg's libraries are missing)."""
    from benchmark.data import video as V
    try:
        V.use_decoder("torchcodec")
    except BenchError as e:
        pytest.skip(str(e))
    yield
    V.use_decoder("pyav")


@pytest.mark.parametrize("suffix", [".mp4", ".avi", ".webm"])
def test_torchcodec_gives_pyavs_frames_at_native_size(tmp_path, torchcodec_decoder, suffix):
    from benchmark.data import video as V
    from tests.conftest import write_video
    path = tmp_path / f"v{suffix}"
    write_video(path, _numbered_frames(120))
    for idx in (None, np.arange(0, 16), np.arange(60, 92, 2), np.array([119, 3, 3, 50])):
        ours = decode(path, idx)
        V.use_decoder("pyav")
        reference = decode(path, idx)
        V.use_decoder("torchcodec")
        np.testing.assert_array_equal(ours, reference)
    with pytest.raises(VideoError, match="ended after 120 frames but frame 120"):
        decode(path, np.array([100, 120]))


def test_torchcodec_leaves_scaled_decoding_and_bad_files_to_pyav_rules(tmp_path, torchcodec_decoder):
    from benchmark.data import video as V
    for path in bundled_videos():
        idx = np.arange(40, 56)
        native = decode(path, idx)
        scaled = decode(path, idx, short_side=64)  # FFmpeg scales: PyAV's area resampling, not TorchCodec's
        V.use_decoder("pyav")
        np.testing.assert_array_equal(native, decode(path, idx))
        np.testing.assert_array_equal(scaled, decode(path, idx, short_side=64))
        V.use_decoder("torchcodec")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"\x00\x00\x00 ftypisom" + bytes(range(256)) * 8)
    with pytest.raises(VideoError, match="bad.mp4"):
        decode(bad)


def test_an_unusable_decoder_is_one_line_before_any_work(monkeypatch, tmp_path):
    from benchmark.data import video as V
    with pytest.raises(BenchError, match="runtime.decoder must be one of pyav, torchcodec"):
        V.use_decoder("opencv")

    def missing():
        raise BenchError("runtime.decoder=torchcodec: torchcodec cannot be loaded (No module named 'torchcodec')")
    monkeypatch.setattr(V, "_torchcodec", missing)
    from benchmark.run import execute, resolve
    spec = resolve("smoke", "scratch", overrides=["runtime.decoder=torchcodec"])
    with pytest.raises(BenchError, match="torchcodec cannot be loaded"):
        execute(spec, tmp_path / "results", tmp_path / "work")
    assert not (tmp_path / "results").exists() and not (tmp_path / "work").exists()
    assert V._decoder == "pyav"
