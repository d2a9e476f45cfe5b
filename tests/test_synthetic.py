"""The synthetic progression of Yu et al. 2024: the generative process, exact rendering, textures, errors, a run."""

from __future__ import annotations

import hashlib
import math
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy import stats

from benchmark.cli import main
from benchmark.data.textures import oriented_texture, statistical_texture
from benchmark.errors import BenchError
from benchmark.generate import LABEL_H, TITLE_H
from benchmark.sources.base import CLIP_SOURCES, make_source, source_params
from benchmark.sources.synthetic import CIRCLE, SHAPES, WINDOW, Objects, clip_frames, radius_distribution

LEVELS = ["static-circles", "moving-circles", "moving-shapes", "transforming-shapes", "accel-shapes",
          "accel-textures", "accel-stylegan", "accel-image-crops"]
UNTEXTURED = LEVELS[:5]


def source(name: str, seed: int = 0, **params):
    return make_source(name, source_params(name, params), seed=seed, clip_size=64)


def window(src, index: int, frames: int = 16, stride: int = 4) -> tuple[Objects, np.ndarray]:
    video = index % src.p.videos if src.p.videos else index
    obj = src.objects(video)
    return obj, clip_frames(obj.length, frames, stride, np.random.default_rng([src.seed, index, WINDOW]))


# ---------------------------------------------------------------------------------------------------------------
# an independent painter: every object, every frame, one at a time on the full canvas, scalar arithmetic as the
# authors' loop does it (corners rebuilt from the raw draws, 3 x 3 affine composition about the pivot)

def code_corners(obj: Objects, i: int) -> np.ndarray:
    r, kind = int(obj.radius[i]), SHAPES[obj.kind[i]]
    if kind == "square":
        side = r * np.sqrt(2)
        return np.array(((0, 0), (side, 0), (side, side), (0, side)), dtype="int32")
    if kind == "oriented_square":
        side = r * np.sqrt(2)
        c = np.array(((-side / 2, -side / 2), (side / 2, -side / 2), (side / 2, side / 2), (-side / 2, side / 2)),
                     dtype="int32")
        th = obj.theta[i]
        rot = np.array(((np.cos(th), -np.sin(th)), (np.sin(th), np.cos(th))))
        return (rot @ c.T).T + np.array((r, r))
    if kind == "rectangle":
        a = obj.half_angle[i]
        return np.array(((r * np.cos(a) + r, r * np.sin(a) + r), (r * np.cos(a) + r, -r * np.sin(a) + r),
                         (-r * np.cos(a) + r, -r * np.sin(a) + r), (-r * np.cos(a) + r, r * np.sin(a) + r)),
                        dtype="int32")
    angles = sorted(obj.angles[i, :3 if kind == "triangle" else 4])
    return np.array([(r * np.cos(a) + r, r * np.sin(a) + r) for a in angles], dtype="int32")


def paint_reference(src, obj: Objects, t: int) -> np.ndarray:
    res, level, p = src.res, src.level, src.p
    mode = p.circle_affine if level.affine else "none"
    img = np.zeros((res, res, 3), np.uint8)
    for i in range(len(obj.radius)):
        r = int(obj.radius[i])
        v = obj.speed[i] + obj.acceleration[i] * t
        x = int(obj.centre[i, 0] + v * obj.direction[i, 0] * t)
        y = int(obj.centre[i, 1] + v * obj.direction[i, 1] * t)
        if x <= -res or x >= 2 * res or y <= -res or y >= 2 * res:
            continue
        colour = tuple(int(c) for c in obj.colour[i])
        if level.affine:
            px, py = obj.pivot[i]
            c, s = math.cos(obj.rotation[i] * t), math.sin(obj.rotation[i] * t)
            sx, sy = 1 + obj.scale[i, 0] * t, 1 + obj.scale[i, 1] * t
            hx, hy = obj.shear[i, 0] * t, obj.shear[i, 1] * t
            rot = np.array(((c, -s, px * (1 - c) + py * s), (s, c, py * (1 - c) - px * s), (0, 0, 1)))
            scale = np.array(((sx, 0, px * (1 - sx)), (0, sy, py * (1 - sy)), (0, 0, 1)))
            shear = np.array(((1, hx, -hx * py), (hy, 1, -hy * px), (0, 0, 1)))
            affine = rot @ scale @ shear
        if obj.kind[i] == CIRCLE:
            if mode == "ellipse":
                axes = (int(r * (1 + obj.scale[i, 0] * t)), int(r * (1 + obj.scale[i, 1] * t)))
                cv2.ellipse(img, (x, y), axes, obj.rotation[i] * t, 0, 360, colour, -1)
            elif mode == "affine":
                u, sv, _ = np.linalg.svd(affine[:2, :2] * r)
                centre = affine[:2, :2] @ (r, r) + affine[:2, 2] + (x - r, y - r)
                angle = math.degrees(math.atan2(u[1, 0], u[0, 0]))
                cv2.ellipse(img, (tuple(centre), (2 * sv[0], 2 * sv[1]), angle), colour, -1)
            elif p.circle_raster == "circle":
                cv2.circle(img, (x, y), r, colour, -1)
            else:
                cv2.ellipse(img, (x, y), (r, r), 0, 0, 360, colour, -1)
        else:
            corners = code_corners(obj, i)
            if level.affine:
                corners = (affine @ np.concatenate([corners, np.ones((len(corners), 1))], 1).T).T[:, :2]
            cv2.fillPoly(img, np.array(corners + (x, y), dtype="int32")[None], colour)
    return img


@pytest.mark.parametrize("name, params", [(n, {}) for n in UNTEXTURED] + [
    ("moving-circles", {"circle_raster": "circle"}),
    ("transforming-shapes", {"circle_affine": "affine", "pivot": "centre"}),
    ("accel-shapes", {"circle_affine": "none", "acceleration_max": 0.06}),
])
def test_fast_rendering_equals_painting_every_object_in_order(name, params):
    src = source(name, **params)
    for index in (0, 1):
        clip = src.clip(index, 16, 4)
        obj, t = window(src, index)
        for k in (0, 9, 15):
            np.testing.assert_array_equal(clip[k], paint_reference(src, obj, int(t[k])), err_msg=f"{name} {k}")


def test_circles_default_to_the_codes_ellipse_raster_and_the_disc_is_a_half_pixel_rim_apart():
    """dataset_mixed.py paints plain circles with cv2.ellipse(img, centre, (r, r), 0, 0, 360, colour, -1)."""
    import cv2
    code, disc = source("static-circles"), source("static-circles", circle_raster="circle")
    assert code.p.circle_raster == "ellipse"
    obj, t = window(code, 2)
    img = np.zeros((code.res, code.res, 3), np.uint8)
    for i in range(len(obj.radius)):  # the authors' loop, written out for the untransformed level
        x, y = int(obj.centre[i, 0]), int(obj.centre[i, 1])
        if -code.res < x < 2 * code.res and -code.res < y < 2 * code.res:
            r = int(obj.radius[i])
            cv2.ellipse(img, (x, y), (r, r), 0, 0, 360, tuple(int(v) for v in obj.colour[i]), -1)
    np.testing.assert_array_equal(code.clip(2, 4, 4)[0], img)
    differ = (code.clip(3, 4, 4) != disc.clip(3, 4, 4)).any(-1).mean()
    assert 0 < differ < 0.05  # the rims of visible circles only


# ---------------------------------------------------------------------------------------------------------------
# the generative process

def test_levels_are_registered_in_the_papers_order_with_their_names():
    names = CLIP_SOURCES.names()
    assert names.index("natural") < names.index(LEVELS[0]) and names.index(LEVELS[-1]) < names.index("pmg")
    assert [n for n in names if n in LEVELS] == LEVELS
    titles = ["static circles", "moving circles", "moving shapes", "moving and transforming shapes",
              "accelerating transforming shapes", "accelerating transforming textures",
              "accelerating transforming StyleGAN crops", "accelerating transforming image crops"]
    for k, (name, title) in enumerate(zip(LEVELS, titles, strict=True), 1):
        entry = CLIP_SOURCES.get(name)
        assert f"level {k}, {title}:" in entry.description and entry.level == k
    assert CLIP_SOURCES.canonical("image-crops") == "accel-image-crops"
    assert "STAND-IN" in CLIP_SOURCES.get("accel-stylegan").description


def test_radius_sampler_is_the_codes_nearest_cdf_rule():
    radii, upper = radius_distribution()
    g = np.linspace(0.1, 1, 200)
    cdf = np.cumsum(g ** -3.0 - 1)
    cdf /= cdf.max()
    u = np.random.default_rng(0).random(20_000)
    nearest = np.abs(cdf[None, :] - u[:, None]).argmin(1)  # the code: argmin |cdf - u|
    assert (np.searchsorted(upper, u) == nearest).all()
    assert (radii == np.maximum((g * 256).astype(int), 1)).all() and upper[-2] == upper[-1] == 1.0


def test_radius_distribution_passes_ks_against_the_grid_law_and_fails_for_another_law():
    """KS against the code's grid-discretised law (atoms at int(256 g)): the statistic is the largest gap between
    the empirical and the law's CDF over the atoms (both step functions jump only there); the p-value from the
    continuous Kolmogorov distribution is conservative for discrete laws."""
    radii, upper = radius_distribution()
    src = source("moving-shapes")
    sample = np.concatenate([src.objects(v).radius for v in range(40)])  # 20,000 radii

    def ks_pvalue(x: np.ndarray) -> float:
        empirical = np.searchsorted(np.sort(x), radii, side="right") / len(x)
        return stats.kstwo.sf(np.abs(empirical - upper).max(), len(x))

    assert ks_pvalue(sample) > 1e-3
    other_radii, _ = radius_distribution(sigma=2.5)  # a nearby power law, same grid
    other = other_radii[np.searchsorted(radius_distribution(sigma=2.5)[1], np.random.default_rng(1).random(20_000))]
    assert ks_pvalue(other) < 1e-6
    # the grid law is the continuous truncated power law p(r) ~ r^-3 - 1 on [0.1, 1] read 1.5 grid steps up
    # (CDF within 0.006): the code's radii are the continuous law's rounded down by about 1.7 px
    g = np.linspace(0.1, 1, 200)
    analytic = lambda r: ((100 - r ** -2.0) / 2 - (r - 0.1)) / 48.6  # noqa: E731
    assert np.abs(upper - analytic(np.minimum(g + 1.5 * (g[1] - g[0]), 1))).max() < 0.01
    assert np.abs(upper - analytic(g)).max() > 0.1  # read at the atoms themselves, it is not
    assert 30 <= np.median(sample) <= 38 and 40 <= sample.mean() <= 46  # the code's law: median ~34, mean ~43 px


def test_motion_parameters_follow_each_level():
    n = 500
    for name in LEVELS[:5]:
        obj = source(name).objects(7)
        moving, accel = name != "static-circles", name == "accel-shapes"
        assert ((obj.speed >= 1.2) & (obj.speed <= 3.0)).all() if moving else (obj.speed == 0).all()
        assert (np.abs(obj.acceleration) <= 0.03).all() and (obj.acceleration != 0).all() == accel
        assert np.allclose(np.hypot(*obj.direction.T), 1)
        assert ((obj.centre >= 0) & (obj.centre < 512)).all() and obj.centre.dtype.kind == "i"
        assert ((obj.colour >= 0) & (obj.colour <= 254)).all()
        assert (obj.kind == CIRCLE).all() == (name in ("static-circles", "moving-circles"))
        affine = name in ("transforming-shapes", "accel-shapes")
        assert (np.abs(obj.rotation) <= math.pi / 100).all() and (np.abs(obj.scale) <= 0.005).all()
        assert (np.abs(obj.shear) <= 0.005).all() and (obj.rotation != 0).all() == affine
        assert (obj.pivot == (obj.radius // 2)[:, None]).all()  # the code's off-centre pivot
    obj = source("accel-shapes").objects(3)
    # uniform directions, speeds and accelerations over their ranges (KS)
    assert stats.kstest(np.arctan2(obj.direction[:, 1], obj.direction[:, 0]) % (2 * np.pi),
                        stats.uniform(0, 2 * np.pi).cdf).pvalue > 1e-3
    assert stats.kstest(obj.speed, stats.uniform(1.2, 1.8).cdf).pvalue > 1e-3
    assert stats.kstest(obj.acceleration, stats.uniform(-0.03, 0.06).cdf).pvalue > 1e-3
    assert (np.bincount(obj.kind, minlength=6) > n / 12).all()  # all six kinds
    wide = source("accel-shapes", acceleration_max=0.6).objects(3)  # the paper text's range
    assert np.abs(wide.acceleration).max() > 0.5


def test_video_lengths_and_windows_follow_the_code():
    lengths = [source("moving-circles").objects(v).length for v in range(1000)]
    assert min(lengths) == 100 and max(lengths) == 200  # random.randint(100, 200) includes 200
    textured = [source("accel-textures").objects(v).length for v in range(1000)]
    assert min(textured) == 100 and max(textured) == 199  # the offline generator: np.random.randint(100, 200)
    rng = np.random.default_rng(0)
    starts = [clip_frames(100, 16, 4, rng)[0] for _ in range(2000)]
    assert min(starts) == 0 and max(starts) == 36  # offset in [0, L - frames * stride]
    assert clip_frames(10, 4, 4, rng).tolist() == [0, 4, 8, 9]  # longer than the video: repeat the last frame


def test_static_frames_are_identical_and_moving_frames_are_not():
    static = source("static-circles").clip(5, 16, 4)
    assert (static == static[0]).all() and static[0].any()
    for name in LEVELS[1:5]:
        clip = source(name).clip(5, 16, 4)
        assert all((clip[k] != clip[k + 1]).any() for k in range(15)), name
    # level 2 is level 1 set in motion: the same circles (shared draws), which frame 0 shows
    moving = source("moving-circles")
    assert (static[0] == moving.render(moving.objects(5), np.zeros(1, int))[0]).all()


def test_acceleration_changes_the_per_frame_displacement_by_two_a_per_frame():
    """The code's closed form x_t = x_0 + (v0 + a t) t: the step x_(t+1) - x_t = v0 + a (2 t + 1) grows by 2a per
    frame (a t^2, not a t^2 / 2), measured on the truncated centres the painter uses."""
    for name, accel in (("accel-shapes", True), ("transforming-shapes", False)):
        src = source(name)
        obj = src.objects(11)
        t = np.array([0, 1, 150, 151])
        pos = src.geometry(obj, t)["centre"]
        early, late = pos[1] - pos[0], pos[3] - pos[2]
        growth = (late - early)[:, 0]
        expected = 300 * obj.acceleration * obj.direction[:, 0]
        assert np.abs(growth - expected).max() <= 2  # truncation: at most one pixel per centre
        if accel:
            big = np.abs(expected) > 6
            assert big.sum() > 20 and (np.abs(growth - expected / 2)[big] > 1).all()  # not a t^2 / 2
        else:
            assert np.abs(growth).max() <= 2


def test_later_objects_occlude_earlier_ones():
    src = source("moving-circles")
    obj = src.objects(0)
    keep = np.arange(2)
    two = Objects(**{k: (v[keep] if isinstance(v, np.ndarray) else v) for k, v in vars(obj).items()})
    two.radius[:] = (60, 20)
    two.centre[:] = ((128, 128), (128, 128))
    two.speed[:] = 0
    two.colour[:] = ((255, 0, 0), (0, 0, 255))
    frame = src.render(two, np.array([3]))[0]
    assert tuple(frame[128, 128]) == (0, 0, 255) and tuple(frame[128, 178]) == (255, 0, 0)
    flipped = replace(two, radius=two.radius[::-1].copy(), colour=two.colour[::-1].copy())
    frame = src.render(flipped, np.array([3]))[0]  # the big red circle is painted last: it hides the blue one
    assert tuple(frame[128, 128]) == (255, 0, 0) and not (frame == (0, 0, 255)).all(-1).any()


def test_clips_are_deterministic_for_seed_and_index_in_any_process():
    a, b = source("accel-shapes"), source("accel-shapes")
    clip = a.clip(123456, 8, 2)
    assert (clip == b.clip(123456, 8, 2)).all() and clip.shape == (8, 256, 256, 3) and clip.dtype == np.uint8
    assert (clip != a.clip(123457, 8, 2)).any() and (clip != source("accel-shapes", seed=1).clip(123456, 8, 2)).any()
    code = ("from benchmark.sources.base import make_source, source_params; import hashlib; "
            "s = make_source('accel-shapes', source_params('accel-shapes', {}), seed=0, clip_size=64); "
            "print(hashlib.sha256(s.clip(123456, 8, 2).tobytes()).hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).parents[1]).stdout.strip()
    assert out == hashlib.sha256(clip.tobytes()).hexdigest()


def test_a_fixed_video_set_repeats_videos_with_new_windows():
    src = source("moving-shapes", videos=5)
    assert (src.objects(2).centre == src.objects(7 % 5).centre).all()
    first, again = window(src, 2), window(src, 7)
    assert (first[0].centre == again[0].centre).all()
    assert not (source("moving-shapes").objects(2).centre == source("moving-shapes").objects(7).centre).all()


# ---------------------------------------------------------------------------------------------------------------
# textures

def test_procedural_textures_are_deterministic_and_statistical():
    a, b = statistical_texture(3, 128), statistical_texture(3, 128)
    assert (a == b).all() and a.shape == (128, 128, 3) and a.dtype == np.uint8
    assert (a != statistical_texture(4, 128)).any() and a.min() == 0 and a.max() == 255
    # a falling power spectrum: low frequencies carry more power than high ones, on every texture
    for k in range(6):
        gray = statistical_texture(k, 128).astype(float).mean(-1)
        power = np.abs(np.fft.fft2(gray - gray.mean())) ** 2
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128)))
        assert power[(f > 0) & (f < 0.05)].mean() > 10 * power[f > 0.25].mean()
    o = oriented_texture(3, 128)
    assert (o == oriented_texture(3, 128)).all() and (o != oriented_texture(4, 128)).any()


def test_textured_clips_are_deterministic_and_show_textures_not_flat_colours():
    for name in LEVELS[5:]:
        src = source(name, texture_count=16)
        clip = src.clip(4, 4, 4)
        assert (clip == source(name, texture_count=16).clip(4, 4, 4)).all()
        assert len(np.unique(clip[0].reshape(-1, 3), axis=0)) > 500, name
    solid = source("accel-shapes").clip(4, 4, 4)
    assert len(np.unique(solid[0].reshape(-1, 3), axis=0)) < 200  # one colour per visible shape
    info = source("accel-stylegan").info()
    assert "stand_in" in info and "StyleGAN" in info["stand_in"] and info["level"] == 7
    assert "stand_in" not in source("accel-textures").info()


def test_texture_moves_with_its_shape_and_crops_follow_the_option(tmp_path):
    y, x = np.mgrid[0:300, 0:300]
    pattern = np.stack([(x * 7) % 256, (y * 5) % 256, ((x + y) * 3) % 256], -1).astype(np.uint8)
    Image.fromarray(pattern).save(tmp_path / "pattern.png")
    still = {"rotation_max": 0.0, "scale_speed_max": 0.0, "shear_speed_max": 0.0, "acceleration_max": 0.0,
             "textures": str(tmp_path), "objects": 1, "shapes": ["square"], "radius_min": 0.25, "radius_max": 0.3}
    src = source("accel-image-crops", **still)
    obj = src.objects(0)
    obj.centre[:], obj.direction[:], obj.speed[:] = (60, 60), (0.6, 0.8), 2.0  # one square, moving (1, 1) px
    frames = src.render(obj, np.array([0, 1]))
    inner = frames[0, 65:120, 65:120]
    assert inner.std() > 20 and (frames[1, 66:121, 66:121] == inner).all()  # the texture travels with it
    # top-left crop: the square's corner shows the texture's corner (resized to 512 x 512 as in the code)
    corner = pattern[int(10 * 300 / 512), int(10 * 300 / 512)].astype(int)
    assert np.abs(frames[0, 70, 70].astype(int) - corner).max() <= 12
    anywhere = source("accel-image-crops", **still, crop="random")
    other = replace(obj, offset=anywhere.objects(0).offset)
    assert (other.offset > 0).all() and (anywhere.render(other, np.array([0]))[0, 65:120, 65:120] != inner).any()
    shifted = src.render(replace(obj, offset=np.array([[40, 0]])), np.array([0]))[0]  # the pattern 40 px on
    assert (shifted[65:120, 65:80] == frames[0, 65:120, 105:120]).all()


# ---------------------------------------------------------------------------------------------------------------
# errors, the CLI, and one run

@pytest.mark.parametrize("name, key, value, message", [
    ("moving-circles", "radius_min", -0.1, "source.radius_min must be > 0"),
    ("moving-circles", "radius_max", 1.5, "source.radius_max must be in"),
    ("moving-circles", "objects", 0, "source.objects must be >= 1"),
    ("moving-circles", "length_max", 50, "source.length_max must be >= length_min"),
    ("moving-circles", "speed_max", 1.0, "source.speed_max must be >= speed_min"),
    ("accel-shapes", "acceleration_max", -1.0, "source.acceleration_max must be >= 0"),
    ("accel-shapes", "shapes", [], "source.shapes must name at least one"),
    ("accel-shapes", "shapes", ["hexagon"], "key source.shapes[0] must be one of"),
    ("accel-shapes", "pivot", "middle", "key source.pivot must be one of"),
    ("static-circles", "speed_min", 1.0, "unknown key source.speed_min"),
    ("accel-textures", "textures", "/nonexistent/folder", "source.textures '/nonexistent/folder' is neither"),
])
def test_impossible_parameters_are_one_line_errors(name, key, value, message):
    with pytest.raises(BenchError, match=message.replace("[", r"\[").replace("'", ".")):
        source_params(name, {key: value})


def test_cli_errors_exit_2_with_one_line(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    for args, message in [
        (["run", "--source", "moving-shapes", "--set", "source.radius_min=-1", "--results", str(tmp_path / "r"),
          "--work", str(tmp_path / "w")], "source.radius_min must be > 0"),
        (["generate", "--source", "accel-textures", "--set", f"source.textures={tmp_path / 'empty'}", "--out",
          str(tmp_path / "o")], "source.textures folder"),
        (["generate", "--source", "moving-circles", "--frames", "0", "--out", str(tmp_path / "o")], "must be >= 1"),
    ]:
        code = main(args)
        err = capsys.readouterr().err
        assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "r").exists() and not (tmp_path / "o").exists()
    with pytest.raises(BenchError, match="frames >= 1"):
        source("moving-circles").clip(0, 0, 4)


def test_generate_writes_a_contact_sheet_for_a_level(tmp_path, capsys):
    args = ["generate", "--source", "transforming-shapes", "-n", "2", "--frames", "4", "--out", str(tmp_path)]
    assert main(args) == 0
    assert len(list(tmp_path.glob("transforming-shapes-s0-*.mp4"))) == 2
    sheet = np.asarray(Image.open(tmp_path / "transforming-shapes-s0-contact-sheet.png"))
    assert sheet.shape[0] == TITLE_H + 2 * (LABEL_H + 128) + 2 and sheet.std() > 30


def test_micro_run_through_the_cli_records_the_level(tmp_path):
    from tests.test_run import bench_run
    rec = bench_run("accel-image-crops", tmp_path / "r", tmp_path / "w")
    info = rec["source_info"]
    assert rec["pretrain"]["steps"] == 6 and info["paper"] == "Yu et al. 2024" and info["level"] == 8
    assert info["textures"] == "bundled" and rec["config"]["source"]["params"]["crop"] == "top-left"
    assert 0 <= rec["metrics"]["top1"] <= 100 and rec["skipped_videos"]["pretrain"] == []
