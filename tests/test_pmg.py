"""The Pseudo Motion Generator, static-image videos and source mixtures."""

import numpy as np
import pytest
from PIL import Image

from benchmark.cli import main
from benchmark.generate import LABEL_H, TITLE_H
from benchmark.sources.base import make_source, source_params
from benchmark.sources.mixture import interleave, shares
from benchmark.sources.pmg import TRANSFORMS, draw_motion, mixup, render, warp
from tests.test_run import bench_run


def pmg(seed: int = 0, **params):
    return make_source("pmg", source_params("pmg", params), seed, 64)


@pytest.fixture
def disc_folder(tmp_path):
    """A folder holding one 200^2 image: a white disc of radius 40 at the centre, on black."""
    yy, xx = np.mgrid[:200, :200]
    img = np.where(((yy - 99.5) ** 2 + (xx - 99.5) ** 2 < 40 ** 2)[..., None], 255, 0).astype(np.uint8)
    (tmp_path / "pool").mkdir()
    Image.fromarray(np.repeat(img, 3, axis=2)).save(tmp_path / "pool" / "disc.png")
    return str(tmp_path / "pool")


def test_identity_gives_a_constant_clip_with_and_without_mixup():
    for mix in ("none", "mixup", "videomix"):
        clip = pmg(transforms=["identity"], video_mix=mix).clip(3, 16, 4)
        assert clip.shape == (16, 224, 224, 3) and clip.dtype == np.uint8
        assert (clip == clip[:1]).all()
        assert clip.std() > 10  # an image, not a blank frame


@pytest.mark.parametrize("name", ["sliding-window", "zoom", "affine", "perspective", "cutmix", "fade",
                                  "color-jitter"])
def test_each_transform_applied_to_frame_t_gives_frame_t_plus_1(name):
    src = pmg(transforms=[name], video_mix="none")
    for index in range(3):
        first, motion = src.draw(np.random.default_rng([0, index, 0]))  # clip index's draws, as motion_clip does
        clip = src.motion_clip(index, 0, 8)
        assert motion.names == [name]
        assert np.array_equal(clip[0], first)
        for t in range(7):
            x = clip[t]
            if motion.matrix is not None:
                x = warp(x, motion.matrix, "bilinear", "reflect")
            if motion.photometric is not None:
                x = motion.photometric(x, 1)
            assert np.array_equal(x, clip[t + 1]), f"{name}: frame {t + 1} is not f(frame {t})"
        assert not np.array_equal(clip[0], clip[-1])  # it moves


def test_composed_mode_warps_the_first_frame_once_per_frame_and_blurs_less():
    src, flat = pmg(transforms=["affine"], video_mix="none"), pmg(transforms=["affine"], video_mix="none",
                                                                   recursive=False)
    rec, comp = src.motion_clip(0, 0, 12), flat.motion_clip(0, 0, 12)
    first, motion = src.draw(np.random.default_rng([0, 0, 0]))
    m = np.linalg.matrix_power(motion.matrix, 11)
    assert np.array_equal(comp[-1], warp(first, m, "bilinear", "reflect"))
    assert np.abs(rec[-1].astype(int) - comp[-1]).mean() < 20  # the same motion
    sharp = [np.abs(np.diff(c[-1].astype(int), axis=1)).mean() for c in (rec, comp)]
    assert sharp[0] < sharp[1]  # re-warping every step accumulates interpolation blur


def test_zoom_changes_the_scale_monotonically(disc_folder):
    src = pmg(images=disc_folder, transforms=["zoom"], video_mix="none", crop_scale=[1, 1], crop_ratio=[1, 1],
              zoom_center=0.0, border="constant")
    directions = set()
    for index in range(12):
        clip = src.clip(index, 16, 1)
        area = (clip[..., 0] > 127).sum(axis=(1, 2)).astype(float)
        step = np.diff(area)
        assert (step > 0).all() or (step < 0).all(), area
        _, motion = src.draw(np.random.default_rng([0, index, 0]))
        s = motion.matrix[0, 0]  # the per-step scale factor drawn for this clip
        assert 1.01 <= max(s, 1 / s) <= 1.04
        assert area[-1] / area[0] == pytest.approx(s ** 30, rel=0.05)  # area grows with s^2 per step
        directions.add(bool(step[0] > 0))
    assert directions == {True, False}  # zoom in and zoom out both occur


def test_sliding_window_moves_at_constant_velocity(disc_folder):
    src = pmg(images=disc_folder, transforms=["sliding-window"], video_mix="none", crop_scale=[1, 1],
              crop_ratio=[1, 1], border="constant")
    clip = src.clip(1, 16, 1).astype(float)[..., 0]
    yy, xx = np.mgrid[:224, :224]
    centre = np.array([[(f * yy).sum() / f.sum(), (f * xx).sum() / f.sum()] for f in clip])
    velocity = np.diff(centre, axis=0)
    speed = np.linalg.norm(velocity, axis=1)
    assert speed.min() > 0.005 * 224 * 0.9 and np.allclose(velocity, velocity.mean(axis=0), atol=0.3)


def test_zoom_matrix_means_what_it_says():
    first = np.zeros((101, 101, 3), np.uint8)
    first[45:56, 45:56] = 255  # an 11 x 11 square at the centre
    p = source_params("pmg", {"zoom_center": 0.0})
    for seed in range(4):
        motion = draw_motion("zoom", p, 101, np.random.default_rng(seed))
        clip = render(first, motion, 6, border="constant")
        s = motion.matrix[0, 0]
        widths = [(f[50, :, 0] > 127).sum() for f in clip]
        assert abs(widths[-1] - 11 * s ** 5) <= 2


def test_mixup_is_the_stated_blend_and_videomix_pastes_a_box():
    src = pmg()
    lams = []
    for index in range(4):
        kind, lam, box = src.mix_plan(index)
        a, b = src.motion_clip(index, 0, 8), src.motion_clip(index, 1, 8)
        expected = np.rint(lam * a.astype(float) + (1 - lam) * b.astype(float))
        out = src.clip(index, 8, 4)
        assert kind == "mixup" and 0 < lam < 1 and box is None
        assert np.abs(out - expected).max() <= 1 and (out != expected).mean() < 1e-3  # float rounding only
        assert not np.array_equal(a, b)
        lams.append(lam)
    assert len(set(lams)) == 4  # one lambda per clip
    assert np.array_equal(mixup(np.full((2, 2, 2, 3), 200, np.uint8), np.zeros((2, 2, 2, 3), np.uint8), 0.25),
                          np.full((2, 2, 2, 3), 50, np.uint8))

    vm = pmg(video_mix="videomix")
    kind, lam, (y, x, h, w) = vm.mix_plan(5)
    a, b, out = vm.motion_clip(5, 0, 8), vm.motion_clip(5, 1, 8), vm.clip(5, 8, 4)
    assert kind == "videomix" and h * w > 0
    assert np.array_equal(out[:, y:y + h, x:x + w], b[:, y:y + h, x:x + w])  # the same box in every frame
    inside = np.zeros(out.shape[1:3], bool)
    inside[y:y + h, x:x + w] = True
    assert np.array_equal(out[:, ~inside], a[:, ~inside])

    none = pmg(video_mix="none")
    assert np.array_equal(none.clip(5, 8, 4), none.motion_clip(5, 0, 8))
    assert np.array_equal(none.motion_clip(5, 0, 8), src.motion_clip(5, 0, 8))  # mixing never changes clip A


def test_mixup_lambda_follows_beta_alpha():
    uniform = np.array([pmg().mix_plan(i)[1] for i in range(400)])
    peaked = np.array([pmg(mix_alpha=0.2).mix_plan(i)[1] for i in range(400)])
    assert abs(uniform.mean() - 0.5) < 0.05 and abs(uniform.std() - 12 ** -0.5) < 0.03
    assert ((peaked < 0.1) | (peaked > 0.9)).mean() > 0.5
    assert not any(pmg(mix_prob=0.0).mix_plan(i)[0] != "none" for i in range(20))


def test_clips_are_deterministic_per_seed_and_index_and_differ_between_them():
    a, b = pmg(), pmg()
    assert np.array_equal(a.clip(7, 8, 4), b.clip(7, 8, 4))
    assert not np.array_equal(a.clip(7, 8, 4), a.clip(8, 8, 4))
    assert not np.array_equal(a.clip(7, 8, 4), pmg(seed=1).clip(7, 8, 4))
    assert a.clip(0, 5, 4).shape == (5, 224, 224, 3)  # one frame per recursion step, whatever the stride


def test_all_transforms_compose_and_margin_and_size_apply():
    src = pmg(transforms=list(TRANSFORMS), choice="all", video_mix="none", margin=0.25, size=96)
    _, motion = src.draw(np.random.default_rng([0, 0, 0]))
    assert motion.names == list(TRANSFORMS)
    assert motion.matrix is not None and motion.photometric is not None
    clip = src.clip(0, 6, 1)
    assert clip.shape == (6, 96, 96, 3) and src.canvas == 96 + 2 * 24
    info = src.info()
    assert info["transforms"] == list(TRANSFORMS) and info["pool"]["pool"] == "bundled"


def test_pmg_on_synthetic_images_runs_offline():
    for pool in ("fractal", "visual-atom:100"):
        src = pmg(images=pool, video_mix="none")
        clip = src.clip(0, 4, 1)
        assert clip.shape == (4, 224, 224, 3) and clip.std() > 1
        assert src.info()["pool"]["pool"] == pool.split(":")[0]
    assert pmg(images="visual-atom:100").info()["pool"]["images"] == 100


@pytest.mark.parametrize("setting, message", [
    ("source.transforms=[warp]", "key source.transforms[0] must be one of 'identity'"),
    ("source.transforms=[]", "key source.transforms must list at least one"),
    ("source.zoom=[1.1, 1.0]", "key source.zoom must be [low, high]"),
    ("source.video_mix=cutmix", "key source.video_mix must be one of"),
    ("source.mix_alpha=0", "key source.mix_alpha must be > 0"),
    ("source.border=mirror", "key source.border must be one of"),
    ("source.images=/nonexistent/folder", "neither one of bundled"),
    ("source.images=fractal:x", "the size after ':' must be a whole number >= 1"),
])
def test_bad_pmg_parameters_are_one_line_errors(capsys, tmp_path, setting, message):
    code = main(["run", "--source", "pmg", "--set", setting, "--results", str(tmp_path / "r"),
                 "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_empty_or_unreadable_image_folder_is_a_one_line_error_with_exit_2(capsys, tmp_path):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "broken").mkdir()
    for i in range(3):
        (tmp_path / "broken" / f"{i}.jpg").write_bytes(b"not a jpeg")
    for folder, message in [("empty", "holds no images"), ("broken", "none of the 3 images tried can be read")]:
        for args in (["run", "--results", str(tmp_path / "r"), "--work", str(tmp_path / "w")],
                     ["generate", "-n", "1", "--out", str(tmp_path / "o")]):
            for source in ("pmg", "static-images"):
                code = main(args + ["--source", source, "--set", f"source.images={tmp_path / folder}"])
                err = capsys.readouterr().err
                assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists() and not list(tmp_path.glob("w/pretrain/*/final.pt"))


def test_unreadable_images_are_skipped_and_counted(tmp_path, disc_folder):
    from pathlib import Path
    for i in range(3):
        (Path(disc_folder) / f"broken{i}.jpg").write_bytes(b"not a jpeg")
    src = pmg(images=disc_folder, video_mix="none")
    for i in range(8):
        assert src.clip(i, 2, 1).shape == (2, 224, 224, 3)
    assert len(src.skipped) == 3 and all("broken" in s for s in src.skipped)


def test_static_images_repeat_one_whole_still():
    src = make_source("static-images", source_params("static-images", {}), 0, 64)
    clip = src.clip(2, 8, 4)
    assert (clip == clip[:1]).all() and min(clip.shape[1:3]) == 224 and clip.std() > 10
    assert np.array_equal(clip, make_source("static-images", source_params("static", {}), 0, 64).clip(2, 8, 4))
    assert len({src.clip(i, 1, 1).tobytes() for i in range(6)}) > 1
    assert src.info()["pool"]["pool"] == "bundled"


@pytest.mark.parametrize("weights", [[0.95, 0.05], [0.75, 0.25], [1, 1], [3, 2, 1], [0.5, 0.3, 0.15, 0.05]])
def test_interleave_hits_the_ratios_in_every_window(weights):
    parts = shares(weights)
    assign = np.array([interleave(i, parts) for i in range(4000)])
    for start, n in [(0, 4000), (0, 512), (512, 512), (1234, 100), (3000, 16)]:
        counts = np.bincount(assign[start:start + n], minlength=len(weights))
        assert np.all(np.abs(counts - n * np.array([float(p) for p in parts])) <= len(weights)), (start, n, counts)


def test_mixture_routes_each_index_to_one_component_and_reports_ratios():
    comps = [{"source": "static-images", "weight": 3}, {"source": "pmg", "weight": 1,
                                                         "params": {"video_mix": "none", "size": 64}}]
    mix = make_source("mixture", source_params("mixture", {"components": comps}), 0, 64)
    static = make_source("static-images", source_params("static-images", {}), 0, 64)
    small = pmg(video_mix="none", size=64)
    kinds = []
    for i in range(8):
        clip = mix.clip(i, 4, 2)
        k = mix.component(i)
        kinds.append(k)
        assert np.array_equal(clip, (static if k == 0 else small).clip(i, 4, 2))
    assert kinds.count(1) == 2
    info = mix.info()
    assert [c["source"] for c in info["components"]] == ["static-images", "pmg"]
    assert [c["share"] for c in info["components"]] == [0.75, 0.25] and info["assign"] == "interleave"
    rnd = make_source("mixture", source_params("mixture", {"components": comps, "assign": "random"}), 0, 64)
    share = np.mean([rnd.component(i) for i in range(2000)])
    assert abs(share - 0.25) < 0.04


@pytest.mark.parametrize("setting, message", [
    ("source.components=[{source: nope}]", "key source.components[0].source: 'nope' is not a clip source"),
    ("source.components=[{source: scratch}]", "'scratch' is not a clip source (scratch and checkpoint have no clips"),
    ("source.components=[{source: pmg, weight: 0}]", "key source.components[0].weight must be > 0"),
    ("source.components=[{source: pmg, params: {zoom: 2}}]", "key source.components[0].params.zoom must be"),
    ("source.components=[{source: pmg, params: {zooom: 2}}]", "unknown key source.components[0].params.zooom"),
    ("source.components=[]", "must list at least one"),
])
def test_bad_mixtures_are_one_line_errors(capsys, tmp_path, setting, message):
    code = main(["run", "--source", "mixture", "--set", setting, "--results", str(tmp_path / "r"),
                 "--work", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err


def test_generate_shows_pmg_clips(tmp_path):
    assert main(["generate", "--source", "pmg", "-n", "2", "--frames", "4", "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("pmg-s0-*.mp4"))) == 2
    sheet = np.asarray(Image.open(tmp_path / "pmg-s0-contact-sheet.png"))
    assert sheet.shape[0] == TITLE_H + 2 * (LABEL_H + 128) + 2


def test_pmg_micro_run_records_pool_and_transforms(tmp_path):
    rec = bench_run("pmg", tmp_path / "r", tmp_path / "w")
    info = rec["source_info"]
    assert info["pool"]["pool"] == "bundled" and info["pool"]["images"] == 15
    assert info["transforms"] == ["zoom", "affine"]
    assert info["video_mix"] == "mixup" and info["frame_size"] == 128  # smoke renders at twice its crop
    assert rec["config"]["source"]["params"]["transforms"] == ["zoom", "affine"]
    assert rec["pretrain"]["steps"] == 6 and 0 <= rec["metrics"]["top1"] <= 100
    assert rec["skipped_videos"]["pretrain"] == []


@pytest.mark.slow
def test_mixture_micro_run_with_natural_and_pmg(tmp_path):
    rec = bench_run("mixture", tmp_path / "r", tmp_path / "w")
    comps = rec["source_info"]["components"]
    assert [c["source"] for c in comps] == ["natural", "pmg"] and [c["share"] for c in comps] == [0.5, 0.5]
    assert comps[0]["videos"] == 4 and comps[1]["pool"]["pool"] == "bundled"


def test_rendering_at_twice_the_crop_keeps_the_scene_and_bounds_the_blur():
    """smoke renders pmg at 128^2 for its 64^2 crops instead of the paper's 224^2: the same draws give the same
    scene (same still, crop and motion, in fractions of the frame), a little blurrier after the resize."""
    import cv2

    from benchmark.stages.base import load_protocol
    assert load_protocol("smoke").sources["pmg"]["size"] == 128 and load_protocol("yu2024-ucf101").sources == {}

    def down(c):
        return np.stack([cv2.resize(f, (64, 64), interpolation=cv2.INTER_AREA) for f in c]).astype(float)
    full, half = pmg(), pmg(size=128)
    a = [down(full.clip(i, 8, 2)) for i in range(16)]
    b = [down(half.clip(i, 8, 2)) for i in range(16)]
    assert np.mean([np.abs(x - y).mean() for x, y in zip(a, b, strict=True)]) < 3  # grey levels: the same scene
    sharp = np.mean([np.abs(np.diff(y, axis=2)).mean() for y in b]) / np.mean([np.abs(np.diff(x, axis=2)).mean()
                                                                              for x in a])
    moving = np.mean([np.abs(np.diff(y, axis=0)).mean() for y in b]) / np.mean([np.abs(np.diff(x, axis=0)).mean()
                                                                               for x in a])
    assert 0.8 < sharp < 1.0 and 0.8 < moving < 1.0  # measured 0.89 and 0.89
