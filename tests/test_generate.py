"""`bench generate` and the image pools."""

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.data.images import FolderPool, draw_image, make_pool
from benchmark.data.video import decode
from benchmark.errors import BenchError
from benchmark.generate import LABEL_H, TITLE_H


def test_generate_writes_decodable_mp4s_and_a_contact_sheet(tmp_path, capsys):
    assert main(["generate", "--source", "natural", "-n", "2", "--frames", "6", "--stride", "2",
                 "--out", str(tmp_path)]) == 0
    clips = sorted(tmp_path.glob("natural-s0-*.mp4"))
    assert len(clips) == 2
    video = decode(clips[0])
    assert video.shape[0] == 6 and video.dtype == np.uint8
    sheet = np.asarray(Image.open(tmp_path / "natural-s0-contact-sheet.png"))
    assert sheet.shape[0] == TITLE_H + 2 * (LABEL_H + 128) + 2  # one row per clip
    from benchmark.sources.base import make_source, source_params
    same = make_source("natural", source_params("natural", {}), seed=0, clip_size=0).clip(0, 6, 2)
    assert np.abs(video.astype(int) - same.astype(int)).mean() < 6  # the mp4 holds clip 0 (lossy codec)


@pytest.mark.parametrize("args, message", [
    (["--source", "scratch"], "has no clips"),
    (["--source", "natural", "--set", "pretrain.epochs=1"], "source parameters only"),
    (["--source", "natural", "-n", "0"], "must be >= 1"),
])
def test_generate_errors(tmp_path, capsys, args, message):
    assert main(["generate", "--out", str(tmp_path / "o")] + args) == 2
    assert message in capsys.readouterr().err


def test_folder_pool_reads_recursively_and_skips_unreadable(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    Image.fromarray(np.full((10, 12, 3), 200, np.uint8)).save(tmp_path / "a" / "one.png")
    Image.fromarray(np.full((8, 8), 50, np.uint8)).save(tmp_path / "a" / "b" / "two.JPEG")
    (tmp_path / "a" / "broken.jpg").write_bytes(b"not an image")
    pool = make_pool(str(tmp_path))
    assert isinstance(pool, FolderPool) and len(pool) == 3
    skipped: set[str] = set()
    rng = np.random.default_rng(0)
    images = [draw_image(pool, rng, skipped) for _ in range(20)]
    assert all(im.ndim == 3 and im.shape[2] == 3 and im.dtype == np.uint8 for im in images)
    assert any("broken.jpg" in s for s in skipped)
    (tmp_path / "empty").mkdir()
    with pytest.raises(BenchError, match="holds no images"):
        make_pool(str(tmp_path / "empty"))
    with pytest.raises(BenchError, match="neither one of bundled"):
        make_pool(str(tmp_path / "missing"))


def test_bundled_pool_leaves_out_the_embedded_test_images():
    from benchmark.data.images import EMBEDDED_TEST_IMAGES
    from benchmark.tasks.embedded import TEST_IMAGES, TRAIN_IMAGES
    pool = make_pool("bundled")
    assert len(pool) == 15 and pool.image(0).dtype == np.uint8
    assert set(pool.names) == set(TRAIN_IMAGES) and not set(pool.names) & set(TEST_IMAGES)
    assert sorted(pool.info()["held_out"]) == sorted(EMBEDDED_TEST_IMAGES) == sorted(TEST_IMAGES)


def test_the_contact_sheet_names_source_parameters_clip_and_frame(tmp_path):
    from benchmark.generate import contact_sheet
    clips = [np.full((6, 32, 32, 3), 128, np.uint8)] * 2
    plain = contact_sheet(clips, "", frame_numbers=list(range(0, 24, 4)))
    titled = contact_sheet(clips, "pmg transforms=['zoom'], seed 3, stride 4", frame_numbers=list(range(0, 24, 4)))
    band = titled[:TITLE_H]
    assert band.min() < 100 and (plain[:TITLE_H] == 255).all()  # text in the title band only when there is one
    strip = titled[TITLE_H:TITLE_H + LABEL_H]
    assert strip.min() < 100  # "clip 0, frame 0", "frame 4", ... above the frames
    assert main(["generate", "--source", "pmg", "-n", "1", "--frames", "4", "--set", "source.transforms=[zoom]",
                 "--out", str(tmp_path)]) == 0
    from PIL import Image
    sheet = np.asarray(Image.open(tmp_path / "pmg-s0-contact-sheet.png"))
    assert sheet[:TITLE_H].min() < 100
